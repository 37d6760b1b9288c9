"""Text dedup benchmark: ``replica dedup``'s text engine vs datasketch MinHashLSH.

Builds a corpus with known near-duplicate clusters from real news text in the shared corpus
(AEB human-annotated article bodies and fundus article paragraphs, many languages): every
original is a random run of real sentences; a third of them get 1-3 copies with controlled
edits (bylines and share lines added, truncation to 80-95 %, one paragraph dropped, a few
words changed). It is written as an ``articles`` Parquet file; then, in one run:

* ours: the local engine on that file (all cores, streamed row groups), fingerprints →
  LSH candidates → verification → components;
* datasketch: ``MinHash(num_perm)`` over the same word shingles of the same normalized text,
  ``MinHashLSH(threshold, num_perm)``, every query result taken as a duplicate (its usage).

It prints docs/s for both, the ratio, and pairwise precision/recall/F1 against the known
clusters. ``--docs 1000000 --skip-datasketch`` prints wall time and peak RSS of our run.

    .venv/bin/python benchmarks/dedup_text.py --docs 20000
    .venv/bin/python benchmarks/dedup_text.py --docs 1000000 --skip-datasketch
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("REPLICA_CORPUS", ROOT.parent / "shared" / "corpus"))
BOILER = [
    "By {name}, Staff Writer",
    "Share this article",
    "Follow us on Twitter",
    "Advertisement",
    "Sign up for our newsletter",
    "Photo: {name}/Reuters",
]
NAMES = ["Jane Doe", "A. Reporter", "Maria Rossi", "Kim Lee", "Jon Smith"]


def paragraphs(corpus: Path) -> list[str]:
    """Real article paragraphs: AEB bodies and fundus bodies (every stored parser version)."""
    out = []
    truth = json.loads((corpus / "extraction/aeb/ground-truth.json").read_text())
    for v in truth.values():
        out += [p.strip() for p in v["articleBody"].split("\n") if len(p.split()) >= 8]
    for f in sorted((corpus / "extraction/fundus").glob("*/*.json")):
        if f.name in {"index.json"}:
            continue
        for version in json.loads(f.read_text()).values():
            body = version.get("body") or {}
            for sec in body.get("sections", []):
                out += [p.strip() for p in sec.get("paragraphs", []) if len(p.split()) >= 8]
    return sorted(set(out))


def sentences(paras: list[str]) -> list[str]:
    split = re.compile(r"(?<=[.!?])\s+")
    return sorted({s for p in paras for s in split.split(p) if len(s.split()) >= 6})


def build(n_docs: int, seed: int) -> tuple[pa.Table, np.ndarray]:
    """``n_docs`` articles and the true cluster of each."""
    rng = random.Random(seed)
    sents = sentences(paragraphs(CORPUS))
    ids, texts, dates, truth = [], [], [], []
    cluster = 0
    while len(ids) < n_docs:
        k = rng.randint(12, 24)
        start = rng.randrange(len(sents))
        picked = [sents[(start + rng.randrange(len(sents))) % len(sents)] for _ in range(k)]
        paras = [" ".join(picked[i : i + 3]) for i in range(0, k, 3)]
        base = "\n".join(paras)
        docs = [base]
        if rng.random() < 1 / 3:
            for _ in range(rng.randint(1, 3)):
                docs.append(edit(paras, rng))
        for d in docs[: n_docs - len(ids)]:
            ids.append(f"d{len(ids)}")
            texts.append(d)
            dates.append(f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
            truth.append(cluster)
        cluster += 1
    table = pa.table(
        {
            "article_id": ids,
            "url": [f"https://news.example/{i}" for i in ids],
            "title": ids,
            "text": texts,
            "published": dates,
            "lang": ["en"] * len(ids),
            "source": ["bench"] * len(ids),
            "record_id": ids,
        }
    )
    return table, np.array(truth)


def edit(paras: list[str], rng: random.Random) -> str:
    """One controlled edit of a story: boilerplate, truncation, a dropped paragraph, words."""
    p = list(paras)
    kind = rng.choice(["boilerplate", "truncate", "drop", "words"])
    if kind == "drop" and len(p) > 3:
        p.pop(rng.randrange(len(p)))
    text = "\n".join(p)
    if kind == "truncate":
        text = text[: int(len(text) * rng.uniform(0.8, 0.95))]
    if kind == "words":
        w = text.split(" ")
        for _ in range(max(1, len(w) // 50)):
            w[rng.randrange(len(w))] = rng.choice(["the", "new", "said", "2024"])
        text = " ".join(w)
    name = rng.choice(NAMES)
    lines = [b.format(name=name) for b in rng.sample(BOILER, 2)]
    return "\n".join([lines[0], text, lines[1]])


def write_corpus(n_docs: int, seed: int, work: Path) -> None:
    table, truth = build(n_docs, seed)
    pq.write_table(table, work / "articles.parquet", row_group_size=8192)
    np.save(work / "truth.npy", truth)


def pair_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Pairwise precision, recall, F1 of a clustering against the truth."""

    def pairs(labels: np.ndarray) -> int:
        _, counts = np.unique(labels, return_counts=True)
        return int((counts * (counts - 1) // 2).sum())

    joint = pred.astype(np.int64) * (int(truth.max()) + 1) + truth
    tp, p, t = pairs(joint), pairs(pred), pairs(truth)
    precision = tp / p if p else 1.0
    recall = tp / t if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run_ours(path: Path, threshold: float, num_perm: int, shingle: int) -> tuple[np.ndarray, float]:
    from replica.config import DedupConfig
    from replica.dedup.engine import Engine, candidates, fingerprints
    from replica.dedup.tables import cluster_texts

    cfg = DedupConfig(shingle_size=shingle, num_perm=num_perm, threshold=threshold)
    t0 = time.perf_counter()
    index = fingerprints(Engine.local, path, cfg, 0)
    clusters, _ = cluster_texts(index, cfg, candidates(Engine.local, index, cfg))
    seconds = time.perf_counter() - t0
    labels = np.arange(pq.ParquetFile(path).metadata.num_rows)
    labels[index.row] = index.row[clusters.kept_of]
    return labels, seconds


def run_datasketch(
    texts: list[str], threshold: float, num_perm: int, shingle: int
) -> tuple[np.ndarray, float]:
    from datasketch import MinHash, MinHashLSH
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from replica.dedup.text import shingles

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs = []
    for i, t in enumerate(texts):
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(list(shingles(t, shingle)))
        lsh.insert(i, m)
        sigs.append(m)
    a, b = [], []
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            a.append(i)
            b.append(j)
    n = len(texts)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    return labels, time.perf_counter() - t0


class PeakRSS:
    """Peak resident memory of this process and all its descendants (sampled every 0.25 s)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self.stop.is_set():
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                with contextlib.suppress(Exception):  # a worker that just exited
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.25)

    def __enter__(self) -> PeakRSS:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--shingle", type=int, default=5)
    ap.add_argument("--skip-datasketch", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dedup-bench-"))
    path = work / "articles.parquet"
    t0 = time.perf_counter()
    # the corpus is built in a child process, so its memory never counts toward our peak
    child = mp.get_context("spawn").Process(target=write_corpus, args=(args.docs, args.seed, work))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"building the corpus failed (exit {child.exitcode})")
    truth = np.load(work / "truth.npy")
    mb = (
        sum(
            pc.sum(pc.binary_length(b.column(0))).as_py()
            for b in pq.ParquetFile(path).iter_batches(columns=["text"])
        )
        / 1e6
    )
    print(
        f"corpus: {args.docs} docs, {mb:.0f} MB text, "
        f"{len(np.unique(truth))} true clusters, "
        f"built in {time.perf_counter() - t0:.0f}s; cores={os.cpu_count()}"
    )
    with PeakRSS() as rss:
        rss0 = rss.proc.memory_info().rss / 1e9
        labels, ours_s = run_ours(path, args.threshold, args.num_perm, args.shingle)
    peak = rss.peak / 1e9
    p, r, f1 = pair_scores(labels, truth)
    print(
        f"ours:       {ours_s:7.1f}s  {args.docs / ours_s:9.0f} docs/s  "
        f"P={p:.4f} R={r:.4f} F1={f1:.4f}"
    )
    print(f"ours peak RSS (driver + workers): {peak:.2f} GB (driver before the run {rss0:.2f} GB)")
    if not args.skip_datasketch:
        texts = pq.read_table(path, columns=["text"]).column(0).to_pylist()
        labels_d, ds_s = run_datasketch(texts, args.threshold, args.num_perm, args.shingle)
        p, r, f1_d = pair_scores(labels_d, truth)
        print(
            f"datasketch: {ds_s:7.1f}s  {args.docs / ds_s:9.0f} docs/s  "
            f"P={p:.4f} R={r:.4f} F1={f1_d:.4f}"
        )
        print(
            f"speed ratio ours/datasketch = {ds_s / ours_s:.1f}x (target >= 5x); "
            f"F1 ours - datasketch = {f1 - f1_d:+.4f} (target >= 0)"
        )
    if args.docs >= 1_000_000:
        ok = ours_s < 180 and peak < 8
        print(f"1M target (< 180 s, < 8 GB): {'met' if ok else 'MISSED'}")
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
