"""Throughput of ``replica extract`` against trafilatura called directly on the same pages.

    .venv/bin/python benchmarks/extract.py [--corpus ../shared/corpus]

Crawls the AEB and fundus pages of the corpus into WARC (not timed), then times, in this run:
1. baseline: ``trafilatura.bare_extraction`` on every page's decoded HTML, one process, with
   the options ``params.yaml`` gives extract;
2. ``replica extract`` (the step, all outputs written) with ``extract.workers=1``: the
   overhead ratio against 1 (target <= 1.3x);
3. the same with all cores (local process pool), and with ``--engine ray`` (local Ray).
Prints pages/s for each and the ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from trafilatura import bare_extraction
    from trafilatura.utils import decode_file
    from typer.testing import CliRunner

    from replica.cli import app
    from replica.config import load_params

    params = load_params(ROOT / "params.yaml")
    tmp = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    c = args.corpus / "extraction"
    (tmp / "s.yaml").write_text(
        "sources:\n"
        f"  - {{kind: pages, paths: ['{c}/aeb/html/*.html.gz'],"
        f" url_index: ['{c}/aeb/ground-truth.json']}}\n"
        f"  - {{kind: pages, paths: ['{c}/fundus/*/*.html.gz'],"
        f" url_index: ['{c}/fundus/*/meta.info']}}\n"
    )
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "crawl",
            "--sources",
            str(tmp / "s.yaml"),
            "--output",
            str(tmp / "crawl"),
            "--params",
            str(ROOT / "params.yaml"),
        ],
    )
    assert res.exit_code == 0, res.output
    pages = [gzip.decompress(p.read_bytes()) for p in sorted(c.glob("*/html/*.html.gz"))]
    pages += [gzip.decompress(p.read_bytes()) for p in sorted(c.glob("fundus/*/*.html.gz"))]
    n = json.loads((tmp / "crawl" / "_meta.json").read_text())["rows_out"]
    assert n == len(pages), (n, len(pages))

    t0 = time.perf_counter()
    for raw in pages:
        bare_extraction(
            decode_file(raw),
            with_metadata=True,
            include_comments=False,
            include_tables=params.extract.include_tables,
            favor_precision=params.extract.favor_precision,
        )
    base = time.perf_counter() - t0

    def step(name: str, *extra: str) -> float:
        cmd = ["extract", "--input", str(tmp / "crawl"), "--output", str(tmp / name)]
        t = time.perf_counter()
        res = runner.invoke(app, [*cmd, "--params", str(ROOT / "params.yaml"), *extra])
        assert res.exit_code == 0, res.output
        return time.perf_counter() - t

    one = step("one", "--set", "extract.workers=1")
    cores = os.cpu_count() or 1
    pool = step("pool", "--set", "extract.workers=0")
    import ray

    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    ray_s = step("ray", "--engine", "ray")
    ray.shutdown()
    print(f"pages: {n}, cores: {cores}")
    print(f"trafilatura direct (1 process):  {n / base:7.1f} pages/s")
    print(f"replica extract, workers=1:      {n / one:7.1f} pages/s  overhead {one / base:.2f}x")
    pool_line = f"replica extract, workers={cores} (pool):"
    print(f"{pool_line:33}{n / pool:7.1f} pages/s  {base / pool:.2f}x baseline speed")
    ray_line = "replica extract --engine ray:"
    print(
        f"{ray_line:33}{n / ray_s:7.1f} pages/s  {base / ray_s:.2f}x baseline speed (with start-up)"
    )


if __name__ == "__main__":
    main()
