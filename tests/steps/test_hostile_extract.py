"""``replica extract`` on hostile input: truncated and bomb records, huge and slow pages,
unsafe URLs, dying workers, and a ``kill -9`` of the main process (issue 13, probes 2, 5, 9,
10 and 14)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from replica.cli import app
from replica.config import ExtractConfig
from replica.contracts import ARTICLES, REJECTS
from replica.crawl.warc import RecordLimits, read_archive
from replica.extract.engines import run_local
from replica.extract.records import WebRecord
from tests.unit.test_crawl import warc_bytes

runner = CliRunner()
TEXT = "The harbour board approved the new ferry timetable after a long debate. " * 5
PAGE = (
    f"<html><head><title>Ferry</title></head><body><article><p>{TEXT}</p></article></body></html>"
)
PARA = "<p>" + "Harbour board news about the ferry timetable and more words here. " * 5 + "</p>"
SLOW = f"<html><body><article>{PARA * 10000}</article></body></html>".encode()  # 3.4 MB: seconds
DATE = "2024-01-01T00:00:00Z"


def page(url: str, body: bytes | str = PAGE) -> tuple[str, str, bytes, str]:
    return (url, "text/html; charset=utf-8", body.encode() if isinstance(body, str) else body, DATE)


def extract(src: Path, out: Path, params: Path, *sets: str) -> tuple[int, str]:
    args = ["extract", "--input", str(src), "--output", str(out), "--params", str(params)]
    for s in sets:
        args += ["--set", s]
    res = runner.invoke(app, args)
    return res.exit_code, res.output


def reasons(out: Path) -> Counter[str]:
    return Counter(r["reason"] for r in REJECTS.read(out).to_pylist())


def encoded(url: str, body: bytes, coding: str) -> bytes:
    """A WARC with one gzip-encoded HTTP response."""
    buf = BytesIO()
    writer = WARCWriter(buf, gzip=True)
    headers = [("Content-Type", "text/html"), ("Content-Encoding", coding)]
    headers.append(("Content-Length", str(len(body))))
    http = StatusAndHeaders("200 OK", headers, "HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(url, "response", payload=BytesIO(body), http_headers=http)
    )
    return buf.getvalue()


# -- probe 5: truncated archives -------------------------------------------------------------
def test_a_truncated_warc_is_counted_not_dropped(tmp_path: Path, params_file: Path) -> None:
    whole = warc_bytes([page(f"https://news.example/{i}") for i in range(4)], gz=False)
    cut = whole[: len(whole) * 5 // 8]  # inside the third record
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cut.warc").write_bytes(cut)
    code, line = extract(tmp_path / "in", tmp_path / "out", params_file)
    assert code == 0, line
    crawl = Counter(
        getattr(i, "reason", "capture")
        for i in read_archive(tmp_path / "in" / "cut.warc", "cut", RecordLimits(10**7, 4096))
    )
    assert crawl == {"capture": 2, "truncated_record": 1}
    assert reasons(tmp_path / "out") == {"truncated_record": 1}
    assert "[extract] in=3 out=2" in line


@pytest.mark.parametrize(
    "name", ["warc/resiliparse/clipped.warc.gz", "warc/warcio/example-trunc.warc"]
)
def test_real_truncated_files_are_counted_as_crawl_counts_them(
    tmp_path: Path, params_file: Path, corpus: Path, name: str
) -> None:
    (tmp_path / "in").mkdir()
    shutil.copy(corpus / name, tmp_path / "in" / Path(name).name)
    code, line = extract(tmp_path / "in", tmp_path / "out", params_file)
    assert code == 0, line
    by_crawl = Counter(
        getattr(i, "reason", "capture")
        for i in read_archive(corpus / name, "x", RecordLimits(10**7, 4096))
    )
    by_extract = reasons(tmp_path / "out")
    for reason in ("truncated_record", "warc_unreadable", "no_url", "unsafe_url"):
        assert by_extract[reason] == by_crawl[reason], reason
    assert by_extract["truncated_record"] == 1


# -- probes 2, 9, 14: bombs, huge pages, hidden characters -----------------------------------
def test_bombs_huge_pages_and_unsafe_urls_are_rejects(tmp_path: Path, params_file: Path) -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join([*(c.compress(bytes(1 << 20)) for _ in range(64)), c.flush()])  # 64 MiB
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.warc.gz").write_bytes(
        warc_bytes(
            [
                page("https://news.example/ok"),
                page("https://news.example/huge", PARA * 400),  # ~130 KB of HTML
                page("https://news.example/\u202egpj.exe"),
                page("https://news.example/a\x00b"),
            ]
        )
        + encoded("https://news.example/bomb", bomb, "gzip")
        + encoded("https://news.example/gz", zlib.compress(PAGE.encode()), "deflate")
    )
    code, line = extract(
        tmp_path / "in", tmp_path / "out", params_file, "extract.max_html_bytes=100000"
    )
    assert code == 0, line
    assert reasons(tmp_path / "out") == {
        "html_too_large": 1,
        "unsafe_url": 2,
        "decompression_bomb": 1,
    }
    urls = sorted(a["url"] for a in ARTICLES.read(tmp_path / "out").to_pylist())
    assert urls == ["https://news.example/gz", "https://news.example/ok"]
    shown = {r["url"] for r in REJECTS.read(tmp_path / "out").to_pylist()}
    assert "https://news.example/\\u202egpj.exe" in shown  # escaped, never raw
    assert "https://news.example/a\\x00b" in shown


# -- probe 9: a page that takes too long -----------------------------------------------------
def test_a_slow_record_is_stopped_and_the_rest_extracted(tmp_path: Path) -> None:
    path = tmp_path / "a.warc.gz"
    pages = [page(f"https://news.example/{i}") for i in range(4)]
    pages.insert(1, page("https://news.example/slow", SLOW))
    path.write_bytes(warc_bytes(pages))
    cfg = ExtractConfig(workers=2, max_seconds_per_record=1.0)
    started = time.monotonic()
    result = run_local([path], cfg)
    assert time.monotonic() - started < 20  # the slow page alone takes longer than that
    assert [r["reason"] for r in result.rejects] == ["record_timeout"]
    assert result.rejects[0]["url"] == "https://news.example/slow"
    assert [a["url"][-1] for a in result.articles] == ["0", "1", "2", "3"]  # record order kept


def test_a_worker_that_dies_costs_one_record(tmp_path: Path) -> None:
    from replica.extract.pool import RecordPool
    from replica.extract.records import read_warcs
    from replica.extract.run import combine

    path = tmp_path / "a.warc.gz"
    pages = [page(f"https://news.example/{i}") for i in range(3)]
    pages.insert(1, page("https://news.example/victim", SLOW))
    path.write_bytes(warc_bytes(pages))
    cfg = ExtractConfig(workers=1, max_seconds_per_record=60.0)
    with RecordPool(1, cfg, window=1) as pool:

        def records() -> Iterator[WebRecord]:  # kill the worker while it is on the slow page
            for rec in read_warcs([path], cfg):
                if rec.url.endswith("victim"):
                    pid = pool.workers[0].proc.pid
                    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
                yield rec

        result = combine(pool.map(records()), cfg)
    assert [(r["url"], r["reason"]) for r in result.rejects] == [
        ("https://news.example/victim", "extract_failed")
    ]
    assert "died" in result.rejects[0]["detail"]
    assert len(result.articles) == 3


# -- probe 10: kill -9 of the main process ---------------------------------------------------
def test_workers_die_with_a_killed_extract(tmp_path: Path, params_file: Path) -> None:
    (tmp_path / "in").mkdir()
    slow = [page(f"https://news.example/{i}", SLOW) for i in range(6)]
    (tmp_path / "in" / "a.warc.gz").write_bytes(warc_bytes(slow))
    replica = Path(sys.executable).parent / "replica"
    cmd = [str(replica), "extract", "--input", str(tmp_path / "in"), "--output"]
    cmd += [str(tmp_path / "out"), "--params", str(params_file), "--set", "extract.workers=2"]
    main = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = psutil.Process(main.pid)
    deadline = time.monotonic() + 60
    while len(proc.children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = proc.children()
    assert len(workers) == 2
    time.sleep(1.0)  # both busy with a page
    os.kill(main.pid, signal.SIGKILL)
    main.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, [p.pid for p in alive]
    assert not (tmp_path / "out").exists()


def test_the_pool_gives_the_in_process_result(tmp_path: Path) -> None:
    path = tmp_path / "a.warc.gz"
    path.write_bytes(warc_bytes([page(f"https://news.example/{i}") for i in range(20)]))
    alone = run_local([path], ExtractConfig(workers=1, max_seconds_per_record=0.0))
    pooled = run_local([path], replace(ExtractConfig(), workers=3))
    assert pooled.articles == alone.articles and pooled.rejects == alone.rejects
