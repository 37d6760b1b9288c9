"""One module per pipeline step; each is the ``replica <step>`` command of the same name."""

STEPS = (
    "crawl",
    "extract",
    "dedup",
    "validate",
    "gallery",
    "pairs",
    "fakes",
    "invert",
    "train",
    "evaluate",
    "register",
    "promote",
    "predict",
    "audit",
)
