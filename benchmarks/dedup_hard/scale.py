"""Synthetic scale-up for speed runs: variant A's edits applied to many synthetic stories.

The corpus holds a few hundred stories; a million-document run needs hundreds of thousands.
Reusing real sentences would make unrelated documents share whole sentences (far more than
real news does) and flood LSH with candidates, so synthetic stories are drawn from a word
bigram chain fitted on the corpus: realistic word frequencies and common phrases, unique
sentences. Stories come with their own sites (a few thousand, sizes roughly Zipfian), then
variant A makes the copies, hard negatives and chrome, in independent chunks of stories so the
work spreads over processes.
"""

from __future__ import annotations

import random
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from dedup_hard import variant_a
from dedup_hard.common import Bench
from dedup_hard.corpus import Story


class Chain:
    """A first-order word chain: successors of every word, in corpus order."""

    def __init__(self, stories: list[Story]) -> None:
        words = [w for s in stories for p in s.paragraphs for w in p.split()]
        vocab, ids = np.unique(np.array(words, dtype=object), return_inverse=True)
        self.vocab = vocab.tolist()
        order = np.argsort(ids[:-1], kind="stable")
        self.succ = ids[1:][order]
        self.start = np.searchsorted(ids[:-1][order], np.arange(len(vocab) + 1))

    def paragraphs(self, rng: np.random.Generator, n_par: int, n_words: int) -> list[list[str]]:
        """``n_par`` paragraphs of ``n_words`` words, sampled together (vectorized)."""
        cur = rng.integers(0, len(self.vocab), n_par)
        out = np.empty((n_par, n_words), dtype=np.int64)
        for t in range(n_words):
            lo, hi = self.start[cur], self.start[cur + 1]
            dead = hi <= lo
            pick = lo + (rng.random(n_par) * np.maximum(hi - lo, 1)).astype(np.int64)
            cur = np.where(
                dead,
                rng.integers(0, len(self.vocab), n_par),
                self.succ[np.minimum(pick, len(self.succ) - 1)],
            )
            out[:, t] = cur
        vocab = self.vocab
        return [[vocab[i] for i in row] for row in out.tolist()]


def _stories(chain: Chain, n: int, seed: int) -> list[Story]:
    rng = np.random.default_rng(seed)
    n_par = rng.integers(3, 12, n)
    paras = chain.paragraphs(rng, int(n_par.sum()), 60)
    sites = [f"site{int(s)}.example" for s in rng.zipf(1.6, n) % 4000]
    out, k = [], 0
    for i in range(n):
        ps = [" ".join(w).capitalize() + "." for w in paras[k : k + int(n_par[i])]]
        k += int(n_par[i])
        out.append(Story(f"syn/{seed}/{i}", sites[i], "", ps, None, "en"))
    return out


def _chunk(args: tuple[list[Story], int, int]) -> Bench:
    stories, n, seed = args
    return variant_a.build(_stories(Chain(stories), n, seed), seed, max_outlet_pairs=50)


def build(stories: list[Story], n_docs: int, seed: int, workers: int = 2) -> Bench:
    """About ``n_docs`` documents (variant A averages 3.2 documents per synthetic story)."""
    per_story = 3.2
    chunk = 20_000
    n_stories = int(n_docs / per_story) + 1
    jobs = [
        (stories, min(chunk, n_stories - s), seed * 1_000_003 + s)
        for s in range(0, n_stories, chunk)
    ]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_chunk, jobs))
    bench = Bench("S")
    offset_cluster = 0
    for part in parts:
        base = len(bench.docs)
        for d in part.docs:
            d.cluster += offset_cluster
            bench.docs.append(d)
        bench.hard_negatives += [(a + base, b + base, k) for a, b, k in part.hard_negatives]
        offset_cluster = max(d.cluster for d in bench.docs) + 1
    # crawl order, not story order; then cut to size
    perm = list(range(len(bench.docs)))
    random.Random(seed).shuffle(perm)
    perm = perm[:n_docs]
    new_of = {old: new for new, old in enumerate(perm)}
    bench.docs = [bench.docs[i] for i in perm]
    bench.hard_negatives = [
        (new_of[a], new_of[b], k) for a, b, k in bench.hard_negatives if a in new_of and b in new_of
    ]
    return bench
