"""``replica crawl`` on hand-built inputs and on the shared corpus (demo sources)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from replica.cli import app
from replica.contracts import REJECTS
from tests.unit.test_crawl import warc_bytes

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def crawl(sources: Path, out: Path, params: Path) -> str:
    res = runner.invoke(
        app, ["crawl", "--sources", str(sources), "--output", str(out), "--params", str(params)]
    )
    assert res.exit_code == 0, res.output
    return res.output


def origins(out: Path) -> list[str]:
    """Replica-Origin of every written response/resource record."""
    found = []
    for warc in sorted(out.glob("*.warc.gz")):
        with open(warc, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type in ("response", "resource"):
                    found.append(rec.rec_headers.get_header("Replica-Origin"))
    return found


def test_crawl_writes_warc_rejects_and_sidecar(tmp_path: Path, params_file: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.warc.gz").write_bytes(
        warc_bytes([("http://ex.com/a", "text/html", b"<p>a</p>", "2020-01-01T00:00:00Z")])
    )
    (tmp_path / "in" / "feed.json").write_text(
        '{"version": "https://jsonfeed.org/version/1.1", "items": ['
        '{"url": "http://ex.com/f", "content_html": "<p>f</p>"}, {"url": "http://ex.com/g"}]}'
    )
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - {kind: warc, paths: ['in/*.warc.gz']}\n"
        "  - {kind: feed, paths: ['in/feed.json']}\n"
    )
    out = tmp_path / "crawl"
    line = crawl(sources, out, params_file)
    assert "[crawl] in=3 out=2" in line and "fetch_disabled=1" in line
    assert origins(out) == ["a.warc.gz", "feed.json"]
    [rej] = REJECTS.read(out).to_pylist()
    assert (rej["stage"], rej["url"], rej["reason"]) == (
        "crawl",
        "http://ex.com/g",
        "fetch_disabled",
    )
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["rows_out"] == 2 and meta["contracts"] == {"rejects": "rejects@1"}


def test_crawl_bad_sources_is_a_clean_error(tmp_path: Path, params_file: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {kind: rss, paths: ['*.xml']}\n")
    res = runner.invoke(
        app,
        [
            "crawl",
            "--sources",
            str(sources),
            "--output",
            str(tmp_path / "o"),
            "--params",
            str(params_file),
        ],
    )
    assert res.exit_code == 2
    assert "kind 'rss' is not one of" in res.output
    assert not (tmp_path / "o").exists()


MALFORMED_WARC = {
    "warc_unreadable": {
        "warc/warcio/example-bad-non-chunked.warc.gz",
        "warc/warcio/example-bad.warc.gz.bad",
        "warc/pywb/warcs/example-bad.warc.gz.bad",
        "warc/warcio/example-wrong-chunks.warc.gz",
    },
    # measured: the first three are short against their HTTP Content-Length, the others
    # against the WARC/ARC block length
    "truncated_record": {
        "warc/resiliparse/clipped.warc.gz",
        "warc/warcio/example-trunc.warc",
        "warc/pywb/warcs/example-extra.warc",
        "warc/warcio/example-wrong-chunks.warc.gz",
        "warc/warcio/example-space-in-url.arc",
    },
}
# measured: not well-formed and nothing (no link, title or content) recovered from them
EMPTY_MALFORMED_FEEDS = {
    f"feeds/feedparser/{name}"
    for name in (
        "encoding/bozo_bogus_encoding.xml",
        "encoding/bozo_double-encoded-html.xml",
        "encoding/bozo_encoding_mismatch_crash.xml",
        "encoding/bozo_invalid-bytes-with-bom.xml",
        "encoding/bozo_linenoise.xml",
        "entities/doesnotexist.xml",
        "entities/nbsp.xml",
        "illformed/aaa_illformed.xml",
        "illformed/chardet/big5.xml",
        "illformed/chardet/tis620.xml",
        "illformed/chardet/windows1255.xml",
        "illformed/rss_empty_document.xml",
        "illformed/rss_incomplete_cdata.xml",
        "illformed/undeclared_namespace.xml",
    )
}

# measured: the NPR JSON Feed has 25 full-content items; 3 feedparser samples carry content
FEED_PAGES = {"feedparser": 3, "trafilatura": 25}


def test_demo_sources_on_corpus_account_for_every_file(
    corpus: Path, tmp_path: Path, params_file: Path
) -> None:
    sources = tmp_path / "demo.yaml"
    sources.write_text(
        (ROOT / "sources" / "demo.yaml").read_text().replace("../../shared/corpus", str(corpus))
    )
    out = tmp_path / "crawl"
    line = crawl(sources, out, params_file)
    rejects = REJECTS.read(out).to_pylist()
    assert "[crawl] in=1630 out=762" in line
    assert Counter(r["reason"] for r in rejects) == {
        "not_a_response": 745,
        "no_url": 60,
        "feed_empty": 24,
        "fetch_disabled": 15,
        "unsafe_url": 1,  # an Atom entry whose link is its urn:uuid id
        "feed_malformed": 14,
        "truncated_record": 5,
        "warc_unreadable": 4,
    }
    for reason, files in MALFORMED_WARC.items():
        assert {r["source"] for r in rejects if r["reason"] == reason} == files
    assert {
        r["source"] for r in rejects if r["reason"] == "feed_malformed"
    } == EMPTY_MALFORMED_FEEDS
    manifest = json.loads((corpus / "manifest.json").read_text())
    entries = manifest["files"] if isinstance(manifest, dict) else manifest
    bad_feeds = {
        e["path"] for e in entries if e.get("malformed") and e["path"].startswith("feeds/")
    }
    assert len(bad_feeds) == 22
    assert bad_feeds <= {r["source"] for r in rejects}  # every malformed feed yields a reject
    # every archive and feed file is accounted for: a written record or a reject names it
    seen = set(origins(out)) | {r["source"] for r in rejects}
    archives = {
        p.relative_to(corpus).as_posix()
        for p in (corpus / "warc").rglob("*")
        if p.name.endswith(
            (".warc", ".warc.gz", ".bad", ".arc", ".arc.gz", ".wat", ".wet", ".wet.gz", ".wat.gz")
        )
    }
    feeds = {p.relative_to(corpus).as_posix() for p in (corpus / "feeds").rglob("*") if p.is_file()}
    assert len(archives) == 53 and len(feeds) == 115
    assert archives | feeds <= seen
    # feeds: entries with content are pages of their own, link-only entries wait for fetching
    feed_pages = Counter(o.split("/")[1] for o in origins(out) if o.startswith("feeds/"))
    assert feed_pages == FEED_PAGES
