"""Boilerplate learned per source: the lines a source repeats across its pages.

A crawl that keeps whole pages carries each site's template into every article: navigation,
cookie notices, "most read" lists, newsletter boxes, footers, in the site's own language. No
fixed list knows them, but they give themselves away by repeating: a line that appears on at
least ``max(min_pages, min_share x pages)`` of one source's pages is page furniture, not story.
Lines are counted once per page. A story syndicated into a small source many times can look
like a template, hence both the absolute and the relative floor.

The source of a row is the host of its URL (``www.`` dropped) or a column the user names; the
line identity is the hash of its raw bytes (``text.line_hashes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from replica.dedup.text import _arrow_bytes, _hash_spans, line_hashes, mix64

_HOST = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/?#]*@)?(?:www\.)?(?P<host>[^/:?#]*)"


def source_keys(values: pa.Array, from_url: bool) -> np.ndarray:
    """uint64 key per row: the hash of its source (URL host when ``from_url``); null -> 0."""
    if from_url:
        values = pc.struct_field(pc.extract_regex(pc.utf8_lower(values), _HOST), "host")
    values = pc.cast(values, pa.string())
    data, off = _arrow_bytes(values)
    keys = _hash_spans(data, off[:-1], off[1:])
    keys[np.asarray(pc.is_null(values))] = 0
    return keys


def line_keys(texts: pa.Array, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(text index, key) of every line: the line hash mixed with the text's source key."""
    doc, h = line_hashes(texts)
    return doc, mix64(h ^ mix64(sources[doc]))


@dataclass
class LineCounts:
    """Pages per (source, line) key and pages per source, accumulated batch by batch."""

    keys: list[np.ndarray] = field(default_factory=list)  # distinct keys of a batch
    counts: list[np.ndarray] = field(default_factory=list)  # pages of the batch with the key
    key_sources: list[np.ndarray] = field(default_factory=list)  # the source of each key
    sources: list[np.ndarray] = field(default_factory=list)  # source of every page

    def add(self, texts: pa.Array, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Count the lines of a batch; returns (text index, key) of every line, in order."""
        doc, key = line_keys(texts, sources)
        all_doc, all_key = doc, key
        # once per page: distinct (page, key), then pages per key within this batch
        order = np.lexsort((key, doc))
        doc, key = doc[order], key[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = (key[1:] != key[:-1]) | (doc[1:] != doc[:-1])
        doc, key = doc[first], key[first]
        order = np.argsort(key, kind="stable")
        key, doc = key[order], doc[order]
        start = _starts(key)
        self.keys.append(key[start])
        self.counts.append(np.diff(np.append(start, len(key))))
        self.key_sources.append(sources[doc[start]])
        self.sources.append(sources)
        return all_doc, all_key

    def merge(self, other: LineCounts) -> None:
        self.keys += other.keys
        self.counts += other.counts
        self.key_sources += other.key_sources
        self.sources += other.sources

    def learn(self, min_pages: int, min_share: float) -> Learned:
        """Keys of lines on at least ``max(min_pages, min_share * pages of the source)``."""
        if not self.keys:
            return Learned(np.zeros(0, np.uint64))
        keys = np.concatenate(self.keys)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        counts = np.concatenate(self.counts)[order]
        key_src = np.concatenate(self.key_sources)[order]
        start = _starts(keys)
        keys, counts, key_src = keys[start], np.add.reduceat(counts, start), key_src[start]
        src = np.sort(np.concatenate(self.sources))
        s_start = _starts(src)
        src, pages = src[s_start], np.diff(np.append(s_start, len(src)))
        floor = np.maximum(min_pages, min_share * pages[np.searchsorted(src, key_src)])
        return Learned(keys[counts >= floor])


def _starts(sorted_values: np.ndarray) -> np.ndarray:
    """Index of the first element of every run of equal values."""
    if not len(sorted_values):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))


@dataclass(frozen=True)
class Learned:
    """Sorted keys of learned boilerplate lines (source-mixed line hashes)."""

    keys: np.ndarray

    def flags(self, texts: pa.Array, sources: np.ndarray) -> np.ndarray | None:
        """bool per line of ``texts`` (``text.line_hashes`` order): learned boilerplate."""
        if not len(self.keys):
            return None
        return self.contains(line_keys(texts, sources)[1])

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """bool per key: a learned line."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=bool)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return self.keys[pos] == keys
