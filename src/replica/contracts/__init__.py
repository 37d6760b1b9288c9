"""Data contracts: every tabular hand-off between steps, by ``name@version``."""

from replica.contracts.articles import ARTICLES, ARTICLES_DEDUP
from replica.contracts.base import Contract, ContractError, stamp_of
from replica.contracts.dedup import DUPLICATES, TEXT_CLUSTERS
from replica.contracts.fakes import FAKES
from replica.contracts.images import IMAGES, IMAGES_DEDUP
from replica.contracts.inversions import INVERSIONS
from replica.contracts.metrics import DETECTION_METRICS, DETECTIONS, METRICS, PREDICTIONS
from replica.contracts.pairs import LABELS, PAIRS, PAIRS_GALLERY
from replica.contracts.rejects import REJECTS
from replica.contracts.scores import AUDIT_MATCHES, SCORES, SYNTHETIC_SCORES
from replica.contracts.stories import STORIES

REGISTRY: dict[str, Contract] = {
    c.ref: c
    for c in (
        ARTICLES,
        ARTICLES_DEDUP,
        IMAGES,
        IMAGES_DEDUP,
        INVERSIONS,
        DUPLICATES,
        FAKES,
        PAIRS,
        PAIRS_GALLERY,
        LABELS,
        METRICS,
        PREDICTIONS,
        DETECTION_METRICS,
        DETECTIONS,
        REJECTS,
        STORIES,
        TEXT_CLUSTERS,
        SCORES,
        SYNTHETIC_SCORES,
        AUDIT_MATCHES,
    )
}


def by_ref(ref: str) -> Contract:
    """The contract for ``name@version``; an unknown ref is an error naming the known ones."""
    try:
        return REGISTRY[ref]
    except KeyError:
        raise ContractError(f"unknown contract {ref!r}; known: {sorted(REGISTRY)}") from None


__all__ = [
    "ARTICLES",
    "ARTICLES_DEDUP",
    "AUDIT_MATCHES",
    "DETECTIONS",
    "DETECTION_METRICS",
    "DUPLICATES",
    "FAKES",
    "IMAGES",
    "IMAGES_DEDUP",
    "INVERSIONS",
    "LABELS",
    "METRICS",
    "PAIRS",
    "PAIRS_GALLERY",
    "PREDICTIONS",
    "REGISTRY",
    "REJECTS",
    "SCORES",
    "STORIES",
    "SYNTHETIC_SCORES",
    "TEXT_CLUSTERS",
    "Contract",
    "ContractError",
    "by_ref",
    "stamp_of",
]
