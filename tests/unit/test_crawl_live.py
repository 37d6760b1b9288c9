"""Live crawls against a loopback site: URL lists, sitemaps, feeds, images, S3, kill/resume."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import boto3

from replica.config import CrawlConfig, ExtractConfig
from replica.crawl import crawl_sources, load_sources
from replica.extract import extract_records, read_warc
from tests.unit._http import CFG, PAGES, Site, site_fixture  # noqa: F401 - fixture
from tests.unit.test_crawl import records

LIVE = CrawlConfig(**{**CFG.__dict__, "max_body_bytes": 1_000_000, "workers": 4})


def sources_file(tmp_path: Path, site: Site, pages: list[int]) -> Path:
    (tmp_path / "urls.txt").write_text(
        "".join(f"{site.url}/news/{i}\n" for i in pages)
        + f"# a comment\n{site.url}/private/a\n{site.url}/report.pdf\n"
    )
    (tmp_path / "s.yaml").write_text(
        "sources:\n  - {kind: urls, paths: ['urls.txt']}\n"
        f"  - {{kind: sitemap, paths: ['{site.url}/sitemap.xml']}}\n"
        f"  - {{kind: feed, paths: ['{site.url}/feed.rss']}}\n"
    )
    return tmp_path / "s.yaml"


def test_live_crawl_collects_pages_images_sitemaps_and_feeds(tmp_path: Path, site: Site) -> None:
    out = tmp_path / "crawl"
    result = crawl_sources(load_sources(sources_file(tmp_path, site, [0, 1])), LIVE, out, "fp")
    urls = Counter(u.removeprefix(site.url) for u, _ in records(out))
    pages = ["/news/0", "/news/1", "/news/7", "/news/8", "/news/9"]
    assert urls == Counter(
        ["/robots.txt", "/sitemap.xml", "/sitemap-news.xml", "/feed.rss"]
        + pages
        + [p.replace("/news/", "/img/") + ".png" for p in pages]
    )
    assert Counter(r.reason for r in result.rejects) == {
        "robots_disallowed": 1,
        "unexpected_content_type": 1,  # the listed pdf
        "duplicate_url": 2,  # the feed's pdf link; /news/0 of the news sitemap (and URL list)
    }
    assert result.rows_in == result.rows_out + len(result.rejects)
    # extract is a pure function of the WARC: every fetched page is an article with its image
    warcs = sorted(out.glob("*.warc.gz"))
    extracted = extract_records(
        (r for w in warcs for r in read_warc(w, ExtractConfig())), ExtractConfig()
    )
    assert sorted(a["url"].removeprefix(site.url) for a in extracted.articles) == pages
    assert sorted(i["caption"] for i in extracted.images) == [f"Photo {p[-1]}" for p in pages]


def test_cc_news_warc_streamed_from_s3(tmp_path: Path, corpus: Path, monkeypatch) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="commoncrawl")
        warc = corpus / "warc" / "whirlwind" / "whirlwind.warc.gz"
        prefix = "crawl-data/CC-NEWS/2024/01/"
        s3.put_object(
            Bucket="commoncrawl", Key=prefix + "CC-NEWS-1.warc.gz", Body=warc.read_bytes()
        )
        s3.put_object(Bucket="commoncrawl", Key=prefix + "CC-NEWS-1.warc.paths", Body=b"x")
        (tmp_path / "s.yaml").write_text(
            "sources:\n  - kind: warc\n"
            "    paths: ['s3://commoncrawl/crawl-data/CC-NEWS/2024/*/*.warc.gz']\n"
        )
        out = tmp_path / "crawl"
        result = crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), out, "fp")
    finally:
        server.stop()
    (tmp_path / "l.yaml").write_text(f"sources:\n  - {{kind: warc, paths: ['{warc}']}}\n")
    local = crawl_sources(load_sources(tmp_path / "l.yaml"), CrawlConfig(), tmp_path / "l", "fp")
    assert records(out) == records(tmp_path / "l") and result.rows_out == local.rows_out == 1
    assert {r.source for r in result.rejects} == {f"s3://commoncrawl/{prefix}CC-NEWS-1.warc.gz"}


def digests(directory: Path) -> Counter[tuple[str, str]]:
    return Counter((u, hashlib.sha256(b).hexdigest()) for u, b in records(directory))


def run_crawl(sources: Path, out: Path) -> subprocess.Popen[bytes]:
    replica = Path(sys.executable).parent / "replica"
    sets = [
        "crawl.fetch_remote=true",
        "crawl.allow_private=['127.0.0.1']",
        "crawl.host_delay_s=0.08",
        "crawl.workers=4",
        "crawl.backoff_s=0.01",
    ]
    cmd = [str(replica), "crawl", "--sources", str(sources), "--output", str(out)]
    cmd += ["--params", str(Path(__file__).resolve().parents[2] / "params.yaml")]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_kill_9_and_rerun_gives_the_records_of_an_uninterrupted_crawl(
    tmp_path: Path, site: Site
) -> None:
    sources = sources_file(tmp_path, site, sorted(int(p.rsplit("/", 1)[1]) for p in PAGES))
    whole = run_crawl(sources, tmp_path / "whole")
    assert whole.wait(60) == 0, whole.stdout.read() if whole.stdout else ""
    site.hits.clear()
    killed = run_crawl(sources, tmp_path / "resumed")
    deadline = time.monotonic() + 30
    while sum(len(v) for v in site.hits.values()) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "resumed" / "_meta.json").exists()
    partial = digests(tmp_path / "resumed")
    rerun = run_crawl(sources, tmp_path / "resumed")
    assert rerun.wait(60) == 0, rerun.stdout.read() if rerun.stdout else ""
    expected = digests(tmp_path / "whole")
    assert 0 < sum(partial.values()) < sum(expected.values())
    assert digests(tmp_path / "resumed") == expected
    assert max(expected.values()) == 1  # and no record twice
    assert (tmp_path / "resumed" / "_meta.json").exists()
