"""Boilerplate learned per source: the lines a source repeats across its pages.

A crawl that keeps whole pages carries each site's template into every article: navigation,
cookie notices, "most read" lists, newsletter boxes, footers, in the site's own language. No
fixed list knows them, but they give themselves away by repeating across *different stories*:
a line is page furniture when it is on at least ``min_share x pages`` of one source's pages
and either on ``min_pages`` pages or on pages of ``min_stories`` different stories. Lines are
counted once per page.

A story syndicated into a small source many times repeats its lines too, which is why a count
of pages alone needs a high floor (and misses the chrome of a site that keeps only part of its
template on each page). Counting stories instead lets the floor drop: a page's story is named
by its longest line (a story paragraph; chrome lines are short), so five copies of one story
count once, while a menu line on seven pages of seven stories counts seven. Copies edited
enough to change their longest line count apart, hence a stories floor of a few, not two.

The source of a row is the host of its URL (``www.`` dropped) or a column the user names; the
line identity is the hash of its raw bytes (``text.line_hashes``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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
    doc, h, _ = line_hashes(texts)
    return doc, _with_source(h, sources[doc])


def _with_source(h: np.ndarray, source: np.ndarray) -> np.ndarray:
    return mix64(h ^ mix64(source))


def _story_keys(n_texts: int, doc: np.ndarray, h: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """The story key of each text: the hash of its longest line (of equally long ones the
    smallest hash); 0 for a text without lines. Lines come in text order."""
    story = np.zeros(n_texts, np.uint64)
    if len(doc):
        start = _starts(doc)
        longest = np.maximum.reduceat(lens, start)
        run = np.repeat(np.arange(len(start)), np.diff(np.append(start, len(doc))))
        cand = np.where(lens == longest[run], h, np.uint64(2**64 - 1))
        story[doc[start]] = np.minimum.reduceat(cand, start)
    return story


@dataclass
class LineCounts:
    """Per batch, every distinct (source-line key, story key) with the pages of the batch that
    carry both, and the source of every page; merged across batches by concatenation and
    counted in ``learn`` (a story split over batches counts once)."""

    keys: list[np.ndarray] = field(default_factory=list)  # source-line key
    stories: list[np.ndarray] = field(default_factory=list)  # story key of the pages
    counts: list[np.ndarray] = field(default_factory=list)  # pages of the batch with both
    key_sources: list[np.ndarray] = field(default_factory=list)  # the source of each key
    sources: list[np.ndarray] = field(default_factory=list)  # source of every page

    def add(self, texts: pa.Array, sources: np.ndarray) -> None:
        """Count the lines of a batch."""
        doc, h, lens = line_hashes(texts)
        key = _with_source(h, sources[doc])
        story = _story_keys(len(texts), doc, h, lens)
        # once per page: distinct (page, key), then pages per (key, story) within this batch
        order = np.lexsort((key, doc))
        doc, key = doc[order], key[order]
        first = _pair_starts(doc, key)
        doc, key = doc[first], key[first]
        st = story[doc]
        order = np.lexsort((st, key))
        key, st, doc = key[order], st[order], doc[order]
        start = _pair_starts(key, st)
        self.keys.append(key[start])
        self.stories.append(st[start])
        self.counts.append(np.diff(np.append(start, len(key))))
        self.key_sources.append(sources[doc[start]])
        self.sources.append(sources)

    def merge(self, other: LineCounts) -> None:
        self.keys += other.keys
        self.stories += other.stories
        self.counts += other.counts
        self.key_sources += other.key_sources
        self.sources += other.sources

    def learn(self, min_pages: int, min_share: float, min_stories: int = 0) -> Learned:
        """Keys of lines on at least ``min_share * pages of the source`` pages and on at least
        ``min_pages`` pages or on pages of at least ``min_stories`` different stories (0: no
        stories path). The keys' two halves (top bit) are learned at once, in two threads
        (numpy's sorts and gathers release the GIL)."""
        if not self.keys:
            return Learned(np.zeros(0, np.uint64))
        keys, counts = np.concatenate(self.keys), np.concatenate(self.counts)
        stories, key_src = np.concatenate(self.stories), np.concatenate(self.key_sources)
        src = np.sort(np.concatenate(self.sources))
        s_start = _starts(src)
        src, pages = src[s_start], np.diff(np.append(s_start, len(src)))
        half = keys >= np.uint64(1 << 63)

        def learn_half(upper: bool) -> np.ndarray:
            sel = np.flatnonzero(half == upper)
            k, c = keys[sel], counts[sel]
            # a line on fewer pages than either floor fails both (it has at most as many
            # stories as pages): most lines are a story's own, so only the others are sorted
            # by story
            order = np.argsort(k, kind="stable")  # batches come sorted: runs merge fast
            start = _starts(k[order])
            pages_of_key = np.add.reduceat(c[order], start) if len(start) else start
            floor_any = min(min_pages, min_stories) if min_stories > 0 else min_pages
            room = np.repeat(pages_of_key >= floor_any, np.diff(np.append(start, len(order))))
            pick = sel[order[room]]
            k, st, c, ks = keys[pick], stories[pick], counts[pick], key_src[pick]
            order = np.lexsort((st, k))
            k, st, c, ks = k[order], st[order], c[order], ks[order]
            new_story = np.zeros(len(k), np.int64)
            new_story[_pair_starts(k, st)] = 1
            start = _starts(k)
            n_stories = np.add.reduceat(new_story, start) if len(start) else start
            k, c, ks = k[start], np.add.reduceat(c, start) if len(start) else start, ks[start]
            share = c >= min_share * pages[np.searchsorted(src, ks)]
            floor = c >= min_pages
            if min_stories > 0:
                floor |= n_stories >= min_stories
            return k[share & floor]

        with ThreadPoolExecutor(2) as threads:  # the lower half's keys sort first
            return Learned(np.concatenate(list(threads.map(learn_half, (False, True)))))


def _starts(sorted_values: np.ndarray) -> np.ndarray:
    """Index of the first element of every run of equal values."""
    if not len(sorted_values):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))


def _pair_starts(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Index of the first element of every run of equal (first, second) pairs."""
    if not len(first):
        return np.zeros(0, np.int64)
    change = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
    return np.flatnonzero(np.concatenate([[True], change]))


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
