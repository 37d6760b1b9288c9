"""What both benchmark variants produce: documents with their true story, edit and outlet, and
the hard-negative pairs that must stay apart; written as an ``articles`` table."""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field

import pyarrow as pa

SENT = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+")


@dataclass
class Doc:
    text: str
    site: str
    cluster: int  # the true story; a concatenation belongs to its main (first, longer) story
    edit: str  # "original" or the edit that made this copy
    published: str | None
    lang: str = "en"


@dataclass
class Bench:
    """A benchmark variant: its documents and its hard-negative pairs (doc indices, kind)."""

    name: str
    docs: list[Doc] = field(default_factory=list)
    hard_negatives: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, doc: Doc) -> int:
        self.docs.append(doc)
        return len(self.docs) - 1

    def table(self) -> pa.Table:
        """An ``articles@1``-shaped table; the source of a row is the host of its url."""
        ids = [f"{self.name}-{i:07d}" for i in range(len(self.docs))]
        return pa.table(
            {
                "article_id": ids,
                "url": [f"https://{d.site}/story/{i}" for i, d in zip(ids, self.docs, strict=True)],
                "title": ids,
                "text": [d.text for d in self.docs],
                "published": pa.array([d.published for d in self.docs], pa.string()),
                "lang": [d.lang for d in self.docs],
                "source": [f"{self.name}.warc.gz"] * len(self.docs),
                "record_id": ids,
            }
        )


def sentences(paragraph: str) -> list[str]:
    return [s for s in SENT.split(paragraph.strip()) if s]


def day(base: str | None, rng: random.Random, spread: int) -> str:
    """A date ``0..spread`` days after ``base`` (or after a random 2024 day)."""
    start = (
        dt.date.fromisoformat(base)
        if base
        else dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(360))
    )
    return (start + dt.timedelta(days=rng.randint(0, spread))).isoformat()


def headline(paragraphs: list[str], title: str) -> str:
    """The story's title, or its first words when the corpus has none."""
    if title:
        return title
    words = paragraphs[0].split()
    return " ".join(words[:10]).rstrip(",.;:")
