"""Text dedup benchmark on hard near duplicates: ``replica dedup`` vs datasketch vs rensa.

One command prints everything (``--quick`` skips the million-document run):

1. **Quality** on two variants of a hard benchmark built from the real news bodies of
   ``../shared/corpus`` (``benchmarks/dedup_hard``): stacked rewrites, word and character
   noise, site chrome (template or real), truncation, paragraph drops and shuffles,
   concatenations, encoding noise; hard negatives (same outlet, same topic, follow-ups, the
   second story of a concatenation). The variants come from separately written generators:
   defaults are chosen on A (``--sweep`` prints the sweep that chose them) and reported on B;
   the note quotes the worse. Per variant: P/R/F1 and ARI over pairs, recall per edit,
   hard-negative merge rate per kind, how often the kept row is the story's original; for
   ``replica dedup`` at its defaults, for datasketch ``MinHashLSH`` over the same shingles of
   the same normalized text at its best setting of a sweep in the same run (shingle size x
   threshold; every query result taken as a duplicate, its documented use), and for a rensa
   pipeline (``RMinHash`` + ``RMinHashLSH``, candidates verified, same sweep).
2. **Speed** on a synthetic scale-up of variant A (``--speed-docs``, default 100,000): docs/s
   and F1 of the three, in one run.
3. **1,000,000 documents** through ``replica dedup``'s text path on this machine's cores:
   wall time, peak memory (driver and workers), docs/s, the second pass's cost, and the load
   average before and after (the machine may be shared: say so when quoting).

    .venv/bin/python benchmarks/dedup_text.py            # everything
    .venv/bin/python benchmarks/dedup_text.py --quick    # no million-document run
    .venv/bin/python benchmarks/dedup_text.py --sweep    # also the sweep on variant A

Synthetic corpora are cached under ``--work`` (default: a ``replica-dedup-bench`` folder in
the system temp dir), keyed by size and seed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import pickle
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
CORPUS = Path(os.environ.get("REPLICA_CORPUS", ROOT.parent / "shared" / "corpus"))

from dedup_hard import scale, variant_a, variant_b, variant_c  # noqa: E402
from dedup_hard.common import Bench  # noqa: E402
from dedup_hard.corpus import load_stories  # noqa: E402
from dedup_hard.score import Scores, score  # noqa: E402

from replica.config import DedupConfig  # noqa: E402

# The sweep on variant A, one knob at a time around the defaults (DedupConfig's own values).
SWEEP: dict[str, list] = {
    "shingle_size": [2, 3, 4, 5],
    "threshold": [0.5, 0.6, 0.7, 0.8],
    "band_threshold": [0.15, 0.2, 0.25, 0.3],
    "sentence_words": [0, 6, 8, 12, 16],
    "containment": [0.5, 0.6, 0.7, 0.8],
    "same_source_containment": [0.6, 0.7, 0.8, 0.9],
    "band_containment": [0.3, 0.4, 0.5],
    "semantic_threshold": [0.7, 0.8, 0.9],
    "semantic_max_tokens": [64, 96, 128],
    "boilerplate_min_pages": [0, 5, 10, 20],
    "boilerplate_min_stories": [0, 4, 5, 6, 7, 8],
    "min_story_share": [0.15, 0.25, 0.35],
}
BASELINE_SWEEP = [(k, t) for k in (2, 3, 5) for t in (0.3, 0.4, 0.5, 0.6, 0.7)]
# A: the defaults were chosen on it; B: reported on, but looked at during development;
# C: written after the defaults were fixed, never used for a choice
VARIANTS = ("A", "B", "C")


# --- systems ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    labels: np.ndarray  # predicted cluster per document
    kept: np.ndarray | None  # kept document per document (replica only)
    seconds: float
    stats: dict[str, float] = dataclasses.field(default_factory=dict)


def run_replica(path: Path, cfg: DedupConfig, semantic=None) -> Run:
    from replica.dedup.engine import ARTICLE_COLUMNS, Engine, TextTable, dedup_texts, semantic_for

    sem = semantic if semantic is not None else semantic_for(cfg)
    t0 = time.perf_counter()
    res = dedup_texts(Engine.local, TextTable(path, ARTICLE_COLUMNS), cfg, 0, sem)
    seconds = time.perf_counter() - t0
    n = pq.ParquetFile(path).metadata.num_rows
    labels = np.arange(n)
    idx = res.index
    labels[idx.row] = idx.row[res.clusters.kept_of]
    return Run(labels, labels.copy(), seconds, res.stats)


def _shingle_sets(texts: list[str], k: int) -> list[list[bytes]]:
    from replica.dedup.text import words

    out = []
    for t in texts:
        w = words(t)
        out.append(
            [" ".join(w[i : i + k]).encode() for i in range(max(1, len(w) - k + 1))] if w else []
        )
    return out


def _components(n: int, a: list[int], b: list[int]) -> np.ndarray:
    from replica.dedup.lsh import components

    if not a:
        return np.arange(n)
    return components(n, np.array([a, b], dtype=np.int64).T)


def run_datasketch(texts: list[str], k: int, threshold: float, num_perm: int = 128) -> Run:
    """datasketch as its docs use it: MinHash per text, MinHashLSH, every query hit a duplicate."""
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    sets = _shingle_sets(texts, k)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs = []
    for i, s in enumerate(sets):
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(s)
        lsh.insert(i, m)
        sigs.append(m)
    a, b = [], []
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j != i:
                a.append(i)
                b.append(j)
    labels = _components(len(texts), a, b)
    return Run(labels, None, time.perf_counter() - t0)


def run_rensa(texts: list[str], k: int, threshold: float, num_perm: int = 128) -> Run:
    """A rensa pipeline: R-MinHash of the same shingles, its LSH, candidates verified."""
    from rensa import RMinHash, RMinHashLSH

    t0 = time.perf_counter()
    sets = _shingle_sets(texts, k)
    mh = RMinHash.from_token_sets([[s.decode() for s in x] for x in sets], num_perm, 42)
    bands = 16 if threshold >= 0.5 else 32
    lsh = RMinHashLSH(threshold, num_perm, bands)
    lsh.insert_many(mh, 0)
    a, b = [], []
    for i, m in enumerate(mh):
        for j in lsh.query(m):
            if j > i and m.jaccard(mh[j]) >= threshold:
                a.append(i)
                b.append(j)
    labels = _components(len(texts), a, b)
    return Run(labels, None, time.perf_counter() - t0)


# --- corpora ---------------------------------------------------------------------------------


def variant(name: str, work: Path) -> tuple[Bench, Path]:
    """Variant A or B, built once per work dir, as a Parquet file and its truth."""
    cache = work / f"variant_{name}.pkl"
    path = work / f"variant_{name}.parquet"
    if cache.exists() and path.exists():
        return pickle.loads(cache.read_bytes()), path
    stories = load_stories(CORPUS, with_chrome=name == "B")
    bench = {"A": variant_a, "B": variant_b, "C": variant_c}[name].build(stories, 0)
    pq.write_table(bench.table(), path)
    cache.write_bytes(pickle.dumps(bench))
    return bench, path


def path_of(work: Path, n_docs: int) -> Path:
    return work / f"scale_{n_docs}.parquet"


def scaled(n_docs: int, work: Path, load: bool = True) -> tuple[Bench | None, Path]:
    """The synthetic corpus of ``n_docs`` documents (built once) and, with ``load``, its truth."""
    cache = work / f"scale_{n_docs}.pkl"
    path = path_of(work, n_docs)
    if cache.exists() and path.exists():
        if not load:
            return None, path
        return pickle.loads(cache.read_bytes()), path
    bench = scale.build(load_stories(CORPUS), n_docs, 0)
    pq.write_table(bench.table(), path, row_group_size=8192)
    cache.write_bytes(pickle.dumps(bench))
    return bench, path


# --- printing --------------------------------------------------------------------------------


def _row(name: str, s: Scores, seconds: float | None = None, n: int | None = None) -> str:
    keep = f"{s.keep_original[0]:.3f}" if s.keep_original else "-"
    speed = f"{n / seconds:9.0f}" if seconds and n else "        -"
    return (
        f"| {name:34s} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.ari:.3f} | "
        f"{100 * s.hn_rate:6.2f} % | {keep:>5s} | {speed} |"
    )


HEAD = (
    "| system                             | P     | R     | F1    | ARI   | hard neg | keep  |"
    "    docs/s |\n|---|---|---|---|---|---|---|---|"
)


def _per_edit(results: dict[str, Scores]) -> None:
    edits = sorted({e for s in results.values() for e in s.per_edit})
    print("| edit (copies) | " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1) + "|")
    for e in edits:
        n = next(s.per_edit[e][1] for s in results.values() if e in s.per_edit)
        cells = [f"{s.per_edit[e][0]:.3f}" if e in s.per_edit else "-" for s in results.values()]
        print(f"| {e} ({n}) | " + " | ".join(cells) + " |")


def _hard_negatives(results: dict[str, Scores]) -> None:
    kinds = sorted({k for s in results.values() for k in s.hard_negatives})
    print("| hard negative (pairs) | " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1) + "|")
    for k in kinds:
        n = next(s.hard_negatives[k][1] for s in results.values() if k in s.hard_negatives)
        cells = [
            f"{100 * s.hard_negatives[k][0]:.2f} %" if k in s.hard_negatives else "-"
            for s in results.values()
        ]
        print(f"| {k} ({n}) | " + " | ".join(cells) + " |")


def _best(
    bench: Bench, fn: Callable[..., Run], texts: list[str]
) -> tuple[tuple[int, float], Scores, Run, list[tuple[int, float, Scores]]]:
    tried = []
    for k, t in BASELINE_SWEEP:
        run = fn(texts, k, t)
        tried.append((k, t, score(bench, run.labels), run))
    k, t, s, run = max(tried, key=lambda x: x[2].f1)
    return (k, t), s, run, [(a, b, c) for a, b, c, _ in tried]


# --- parts -----------------------------------------------------------------------------------


def quality(work: Path, cfg: DedupConfig, sweep: bool) -> dict[str, dict[str, Scores]]:
    from replica.dedup.engine import semantic_for

    out = {}
    for name in VARIANTS:
        bench, path = variant(name, work)
        texts = [d.text for d in bench.docs]
        sem = semantic_for(cfg)
        ours = run_replica(path, cfg, sem)
        s_ours = score(bench, ours.labels, ours.kept)
        (dk, dt), s_ds, ds, ds_tried = _best(bench, run_datasketch, texts)
        (rk, rt), s_rs, rs, _ = _best(bench, run_rensa, texts)
        n = len(bench.docs)
        print(f"\n### Variant {name}: {n} documents, {len({d.cluster for d in bench.docs})} "
              f"stories, {len(bench.hard_negatives)} hard-negative pairs")  # fmt: skip
        print(HEAD)
        print(_row("replica dedup (defaults)", s_ours, ours.seconds, n))
        print(_row(f"datasketch best (w{dk}, t{dt})", s_ds, ds.seconds, n))
        print(_row(f"rensa best (w{rk}, t{rt})", s_rs, rs.seconds, n))
        if s_ours.keep_original:
            share, total = s_ours.keep_original
            print(
                f"\nKeep rule: the story's original kept in {round(share * total)} of {total} "
                f"clusters; {s_ours.keep_lost_to_dates} of the misses are dates first (an "
                f"undated original loses to a dated copy)."
            )
        res = {"replica": s_ours, f"datasketch w{dk} t{dt}": s_ds, f"rensa w{rk} t{rt}": s_rs}
        print(f"\nRecall per edit, variant {name} (share of copies clustered with their original):")
        _per_edit(res)
        print(f"\nHard-negative merge rate, variant {name}:")
        _hard_negatives(res)
        print(f"\ndatasketch sweep, variant {name} (F1 / hard-negative merges):")
        print(
            "| shingles | "
            + " | ".join(f"t{t}" for t in sorted({t for _, t in BASELINE_SWEEP}))
            + " |"
        )
        print("|---" * 6 + "|")
        for k in sorted({k for k, _ in BASELINE_SWEEP}):
            cells = [f"{s.f1:.3f} / {100 * s.hn_rate:.1f} %" for kk, t, s in ds_tried if kk == k]
            print(f"| w{k} | " + " | ".join(cells) + " |")
        st = ours.stats
        print(
            f"\nSecond pass, variant {name}: {st.get('candidates', 0):.0f} candidate pairs, "
            f"{st.get('band_pairs', 0):.0f} in the band, {st.get('band_pairs_embedded', 0):.0f} "
            f"embedded, {st.get('band_pairs_accepted', 0):.0f} accepted; "
            f"{st.get('texts_embedded', 0):.0f} texts embedded in "
            f"{st.get('embedding_seconds', 0):.1f} s ({st.get('texts_over_budget', 0):.0f} over "
            f"budget); {st.get('pages_with_two_stories', 0):.0f} pages hold two stories; "
            f"{st.get('learned_boilerplate_lines', 0):.0f} boilerplate lines learned"
        )
        out[name] = res
        if sweep and name == "A":
            run_sweep(bench, path, cfg)
    worst = min(VARIANTS, key=lambda v: out[v]["replica"].f1)
    s = out[worst]["replica"]
    print(
        f"\nWorse variant at the defaults: {worst}: F1 {s.f1:.3f}, hard-negative merges "
        f"{100 * s.hn_rate:.2f} %"
    )
    return out


def run_sweep(bench: Bench, path: Path, base: DedupConfig) -> None:
    """One knob at a time around the defaults, on variant A (where the defaults were chosen)."""
    from replica.dedup.engine import semantic_for

    sem = semantic_for(base)  # embeddings cached across the sweep (keyed by text hash)
    print("\nSweep on variant A (one knob at a time; * = default):")
    print("| knob | value | P | R | F1 | hard neg | band pairs | candidates |")
    print("|---|---|---|---|---|---|---|---|")
    for knob, values in SWEEP.items():
        for v in values:
            cfg = dataclasses.replace(base, **{knob: v})
            run = run_replica(path, cfg, sem)
            s = score(bench, run.labels, run.kept)
            mark = "*" if getattr(base, knob) == v else ""
            print(
                f"| {knob} | {v}{mark} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | "
                f"{100 * s.hn_rate:.2f} % | {run.stats.get('band_pairs', 0):.0f} | "
                f"{run.stats.get('candidates', 0):.0f} |"
            )


def speed(work: Path, cfg: DedupConfig, n_docs: int, quality_best: dict) -> None:
    bench, path = scaled(n_docs, work)
    texts = pq.read_table(path, columns=["text"]).column(0).to_pylist()
    print(f"\n### Speed: {n_docs} synthetic documents (variant A edits), "
          f"load average {os.getloadavg()[0]:.2f} before")  # fmt: skip
    ours = run_replica(path, cfg)
    s_ours = score(bench, ours.labels, ours.kept)
    dk, dt = quality_best["datasketch"]
    rk, rt = quality_best["rensa"]
    ds = run_datasketch(texts, dk, dt)
    rs = run_rensa(texts, rk, rt)
    print(HEAD)
    print(_row("replica dedup (defaults)", s_ours, ours.seconds, n_docs))
    print(_row(f"datasketch (w{dk}, t{dt})", score(bench, ds.labels), ds.seconds, n_docs))
    print(_row(f"rensa (w{rk}, t{rt})", score(bench, rs.labels), rs.seconds, n_docs))
    print(
        f"\nreplica / datasketch docs/s = {ds.seconds / ours.seconds:.1f}x (target >= 5x); "
        f"replica / rensa = {rs.seconds / ours.seconds:.2f}x (target >= 1x); load average "
        f"{os.getloadavg()[0]:.2f} after"
    )


class PeakRSS:
    """Peak resident memory of one process and all its descendants (sampled every 0.2 s)."""

    def __init__(self, pid: int | None = None) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self.stop.is_set():
            total = 0
            with contextlib.suppress(Exception):  # the process tree is gone
                for p in [self.proc, *self.proc.children(recursive=True)]:
                    with contextlib.suppress(Exception):  # a worker that just exited
                        total += p.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __enter__(self) -> PeakRSS:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _timed_child(path: Path, cfg: DedupConfig, out: Path) -> None:
    """The timed run in a process of its own (its memory is the system under test's only)."""
    out.write_bytes(pickle.dumps(dataclasses.asdict(run_replica(path, cfg))))  # plain types


def host_probe() -> float:
    """Seconds one core takes for 20M Python additions: the load average misses a busy host
    (on the 2-core development machine this read 0.55-0.8 s usually, 1.4-1.6 s at times,
    when the 1M run took 30 % longer)."""
    t0 = time.perf_counter()
    total = 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - t0


def million(work: Path, cfg: DedupConfig, n_docs: int) -> None:
    import multiprocessing as mp

    scaled(n_docs, work, load=False)  # built once; the truth is loaded after the run
    out = work / f"run_{n_docs}.pkl"
    probe0 = host_probe()
    load0 = os.getloadavg()
    child = mp.get_context("spawn").Process(
        target=_timed_child, args=(path_of(work, n_docs), cfg, out)
    )
    child.start()
    with PeakRSS(child.pid) as rss:
        child.join()
    load1 = os.getloadavg()
    probe1 = host_probe()
    if child.exitcode != 0:
        raise SystemExit(f"the timed run failed (exit code {child.exitcode})")
    run = Run(**pickle.loads(out.read_bytes()))
    out.unlink()
    bench, _ = scaled(n_docs, work)
    assert bench is not None
    s = score(bench, run.labels, run.kept)
    st = run.stats
    ok = run.seconds < 60 and rss.peak / 1e9 < 8
    print(f"\n### {n_docs} documents, {os.cpu_count()} cores")
    print(
        f"wall {run.seconds:.1f} s ({n_docs / run.seconds:.0f} docs/s), peak memory "
        f"{rss.peak / 1e9:.2f} GB (the timed process and all processes under it, sampled "
        f"every 0.2 s); load average {load0[0]:.2f} before, {load1[0]:.2f} after (1-min); "
        f"host probe (20M Python additions, one core) {probe0:.2f} s before, {probe1:.2f} s "
        "after"
    )
    print(
        f"fingerprints {st.get('fingerprint_seconds', 0):.1f} s, clusters "
        f"{st.get('cluster_seconds', 0):.1f} s (second pass: {st.get('texts_embedded', 0):.0f} "
        f"texts embedded in {st.get('embedding_seconds', 0):.1f} s, "
        f"{st.get('texts_over_budget', 0):.0f} over budget); F1 {s.f1:.3f}, hard-negative "
        f"merges {100 * s.hn_rate:.2f} %"
    )
    print(f"target (< 60 s, < 8 GB): {'met' if ok else 'MISSED'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the million-document run")
    ap.add_argument("--sweep", action="store_true", help="print the sweep on variant A")
    ap.add_argument("--speed-docs", type=int, default=100_000)
    ap.add_argument("--million-docs", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["quality", "speed", "million"], default=None)
    ap.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "replica-dedup-bench"
    )
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="dedup.key=value (params.yaml syntax) for every replica run")  # fmt: skip
    args = ap.parse_args()
    if not (CORPUS / "MANIFEST.md").exists():
        raise SystemExit(f"shared corpus not found at {CORPUS} (set REPLICA_CORPUS)")
    args.work.mkdir(parents=True, exist_ok=True)
    from replica.config import load_params

    cfg = load_params(
        ROOT / "params.yaml", [o if "." in o else f"dedup.{o}" for o in args.overrides]
    ).dedup
    print(f"replica dedup defaults: {cfg}")
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()}")
    best = {"datasketch": (3, 0.5), "rensa": (3, 0.5)}
    if args.only in (None, "quality"):
        res = quality(args.work, cfg, args.sweep)
        for system in ("datasketch", "rensa"):
            key = next(k for k in res["A"] if k.startswith(system))
            k, t = key.split()[1:]
            best[system] = (int(k[1:]), float(t[1:]))
    if args.only in (None, "speed"):
        speed(args.work, cfg, args.speed_docs, best)
    if args.only in (None, "million") and not args.quick:
        million(args.work, cfg, args.million_docs)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
