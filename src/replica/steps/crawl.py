"""Collect web captures from local archives, saved pages, feeds and URL lists into WARC files.

Command: ``replica crawl --sources sources/demo.yaml --output data/crawl``

Reads:  ``--sources`` (YAML: a list of ``{kind: warc|pages|feed|urls, paths: [globs],
        url_index: [globs]}``; relative globs resolve against the sources file's folder) and
        the files it names; remote URLs only when ``crawl.fetch_remote`` is true.
Writes: ``--output``/``crawl-NNNNN.warc.gz`` (response/resource records, one gzip member
        each), ``rejects.parquet`` (REJECTS, stage ``crawl``), ``_meta.json``.
Params: ``crawl`` (user_agent, fetch_remote, timeout_s, max_body_bytes, max_feed_entries).

Every input (archive record, page, feed entry, URL) is either written or rejected with a
reason: non-response records are ``not_a_response``, bodies shorter than their declared length
``truncated_record``, unreadable archives ``warc_unreadable`` (records before the failure kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import REJECTS
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    sources: Annotated[Path, typer.Option(help="Sources YAML listing what to collect.")],
    output: Annotated[Path, typer.Option(help="Output directory for WARC files and rejects.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.crawl import SourcesError, WarcSink, crawl_sources, load_sources

        summary = StepSummary("crawl")
        try:
            resolved = load_sources(sources)
        except SourcesError as exc:
            raise StepError(str(exc)) from exc
        with atomic_dir(output) as tmp:
            with WarcSink(tmp) as sink:
                result = crawl_sources(resolved, cfg.crawl, sink.write)
            REJECTS.write([r.row("crawl") for r in result.rejects], tmp)
            summary.rows_in, summary.rows_out = result.rows_in, result.rows_out
            summary.rejects.update(r.reason for r in result.rejects)
            summary.outputs = {"warc_files": len(sink.files), "rejects": len(result.rejects)}
            write_sidecar(tmp, summary.finish(), {"rejects": REJECTS.ref}, cfg.digest("crawl"))
        return summary

    run("crawl", body)
