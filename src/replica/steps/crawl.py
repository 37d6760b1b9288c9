"""Collect web captures from archives, saved pages, feeds, sitemaps and URLs into WARC files.

Command: ``replica crawl --sources sources/demo.yaml --output data/crawl``

Reads:  ``--sources`` (YAML: a list of ``{kind: warc|pages|feed|sitemap|urls, paths: [globs or
        URLs], url_index: [globs]}``; relative globs resolve against the sources file's folder;
        ``s3://`` globs for warc, ``http(s)://`` for feed and sitemap) and what it names; live
        HTTP only when ``crawl.fetch_remote`` is true.
Writes: ``--output``/``crawl-NNNNN.warc.gz`` (response/resource records, one gzip member each;
        every fetched response, robots.txt and page image included), ``_state.sqlite`` (the
        crawl state), ``rejects.parquet`` (REJECTS, stage ``crawl``), ``_meta.json``.
Params: ``crawl`` (user_agent, fetch_remote, timeouts and max_seconds_per_fetch, max_body_bytes,
        max_decode_ratio, max_url_chars, retries/backoff, per-host delay and concurrency,
        workers, allow_private, image and sitemap limits, warc_max_bytes).

Every input (archive record, page, feed entry, sitemap URL, fetched URL) is either written or
rejected with a reason. Unlike other steps, the output is not built in a temp dir and renamed:
a crawl can run for days, so it is *resumable in place*. WARC records are appended and fsynced,
then the SQLite state commits the unit that produced them with the new WARC length; a rerun
after a crash (even ``kill -9``) truncates the WARC files back to the committed length and
continues the frontier, so no record is lost or written twice. ``_meta.json`` is written last
and marks the crawl complete (``replica extract`` refuses an output without it). A rerun with
other sources or params is refused; use a new ``--output``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import REJECTS
from replica.io import SIDECAR, StepSummary, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    sources: Annotated[Path, typer.Option(help="Sources YAML listing what to collect.")],
    output: Annotated[Path, typer.Option(help="Output directory for WARC files and rejects.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.crawl import STATE_FILE, SourcesError, StateError, crawl_sources, load_sources

        summary = StepSummary("crawl")
        try:
            resolved = load_sources(sources)
        except SourcesError as exc:
            raise StepError(str(exc)) from exc
        out = Path(output)
        if out.exists() and any(out.iterdir()) and not (out / STATE_FILE).exists():
            raise StepError(
                f"{str(out)!r} is not empty and holds no crawl state; use a new --output"
            )
        fingerprint = hashlib.sha256(
            f"{[(s.kind, s.files, s.remote, s.url_index) for s in resolved]}"
            f"{cfg.digest('crawl')}".encode()
        ).hexdigest()[:16]
        (out / SIDECAR).unlink(missing_ok=True)  # incomplete until written again
        try:
            result = crawl_sources(resolved, cfg.crawl, out, fingerprint)
        except (SourcesError, StateError, ValueError) as exc:
            raise StepError(str(exc)) from exc
        REJECTS.write([r.row("crawl") for r in result.rejects], out)
        summary.rows_in, summary.rows_out = result.rows_in, result.rows_out
        summary.rejects.update(r.reason for r in result.rejects)
        summary.outputs = {"warc_files": len(result.warc_files), "rejects": len(result.rejects)}
        write_sidecar(out, summary.finish(), {"rejects": REJECTS.ref}, cfg.digest("crawl"))
        return summary

    run("crawl", body)
