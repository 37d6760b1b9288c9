"""The sources file: which local archives, pages, feeds and URL lists a crawl reads.

```yaml
sources:
  - kind: warc            # WARC or ARC files, gzipped or not
    paths: ["../corpus/warc/**/*.warc.gz"]
  - kind: pages           # saved HTML pages (.html / .html.gz)
    paths: ["../corpus/extraction/aeb/html/*.html.gz"]
    url_index: ["../corpus/extraction/aeb/ground-truth.json"]
  - kind: feed            # RSS / Atom / RDF / JSON Feed files, or http(s) feed URLs
    paths: ["../corpus/feeds/**/*.xml", "https://example.com/rss"]
  - kind: sitemap         # sitemaps, sitemap indexes, Google News sitemaps (files or URLs)
    paths: ["https://example.com/sitemap.xml"]
  - kind: urls            # text files, one URL per line ('#' comments)
    paths: ["urls.txt"]
  - kind: warc            # CC-NEWS on S3: streamed, credentials/endpoint from the AWS_* env
    paths: ["s3://commoncrawl/crawl-data/CC-NEWS/2024/01/*.warc.gz"]
```

Relative globs resolve against the sources file's directory; ``**`` recurses. ``http(s)://``
paths (feed, sitemap) are fetched live, so only when ``crawl.fetch_remote`` is true; ``s3://``
globs (warc) are listed when the crawl starts.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KINDS = ("warc", "pages", "feed", "sitemap", "urls")
REMOTE = {"warc": ("s3://",), "feed": ("http://", "https://"), "sitemap": ("http://", "https://")}
KEYS = {"kind", "paths", "url_index"}


class SourcesError(ValueError):
    """The sources file breaks a rule; the message names the entry and the value."""


@dataclass(frozen=True)
class Source:
    """One resolved sources entry: its kind, the files it matched, its remote paths (URLs or
    ``s3://`` globs, resolved when crawled) and (pages) its url index."""

    kind: str
    files: tuple[Path, ...]
    url_index: tuple[Path, ...] = ()
    remote: tuple[str, ...] = ()


def load_sources(path: Path) -> list[Source]:
    """Read and check a sources file; every glob must match at least one file."""
    path = Path(path)
    if not path.is_file():
        raise SourcesError(f"sources file {str(path)!r} does not exist")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SourcesError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(doc, dict) or set(doc) != {"sources"} or not isinstance(doc["sources"], list):
        raise SourcesError(f"{path}: expected a mapping with one key 'sources' holding a list")
    return [_entry(i, e, path.parent) for i, e in enumerate(doc["sources"])]


def _entry(i: int, entry: Any, base: Path) -> Source:
    where = f"sources[{i}]"
    if not isinstance(entry, dict):
        raise SourcesError(f"{where}: expected a mapping, got {entry!r}")
    unknown = set(entry) - KEYS
    if unknown:
        raise SourcesError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(KEYS)}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise SourcesError(f"{where}: kind {kind!r} is not one of {list(KINDS)}")
    if "url_index" in entry and kind != "pages":
        raise SourcesError(f"{where}: url_index is only allowed with kind 'pages', not {kind!r}")
    paths = entry.get("paths")
    if isinstance(paths, list) and any(isinstance(p, str) and "://" in p for p in paths):
        remote = tuple(p for p in paths if isinstance(p, str) and "://" in p)
        bad = [p for p in remote if not p.startswith(REMOTE.get(kind, ()))]
        if bad:
            allowed = list(REMOTE.get(kind, ())) or "none"
            raise SourcesError(
                f"{where}.paths: {bad[0]!r} is not a remote path {kind!r} takes "
                f"(allowed prefixes: {allowed})"
            )
        local = [p for p in paths if p not in remote]
        files = _expand(local, base, f"{where}.paths") if local else ()
    else:
        remote, files = (), _expand(paths, base, f"{where}.paths")
    index = _expand(entry["url_index"], base, f"{where}.url_index") if "url_index" in entry else ()
    return Source(kind=kind, files=files, url_index=index, remote=remote)


def _expand(patterns: Any, base: Path, where: str) -> tuple[Path, ...]:
    if (
        not isinstance(patterns, list)
        or not patterns
        or not all(isinstance(p, str) for p in patterns)
    ):
        raise SourcesError(f"{where}: expected a non-empty list of glob strings, got {patterns!r}")
    found: dict[Path, None] = {}
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        matches = sorted(Path(m) for m in glob.glob(full, recursive=True) if Path(m).is_file())
        if not matches:
            raise SourcesError(f"{where}: {pattern!r} matches no file (resolved: {full!r})")
        found.update(dict.fromkeys(p.resolve() for p in matches))
    return tuple(found)


@dataclass(frozen=True)
class PageRef:
    """Where a saved page was captured from: its URL and, when known, the crawl date."""

    url: str
    date: str | None = None


def load_url_index(files: tuple[Path, ...]) -> dict[Path, dict[str, PageRef]]:
    """Read JSON url indexes: per file, key (file name or id) → URL or ``{"url", "crawl_date"}``."""
    indexes: dict[Path, dict[str, PageRef]] = {}
    for f in files:
        try:
            doc = json.loads(Path(f).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SourcesError(f"url index {str(f)!r} is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise SourcesError(f"url index {str(f)!r} must be a JSON object of name → url")
        entries: dict[str, PageRef] = {}
        for key, value in doc.items():
            url = value.get("url") if isinstance(value, dict) else value
            date = value.get("crawl_date") if isinstance(value, dict) else None
            if isinstance(url, str) and url:
                entries[key] = PageRef(url, date if isinstance(date, str) else None)
        indexes[Path(f)] = entries
    return indexes


def lookup_page(indexes: dict[Path, dict[str, PageRef]], page: Path) -> PageRef | None:
    """The index entry of a page by file name, name without .gz or id; same-folder index first."""
    name = page.name
    keys = [name, name.removesuffix(".gz"), name.split(".html")[0]]
    ordered = sorted(indexes.items(), key=lambda kv: kv[0].parent != page.parent)
    for _, entries in ordered:
        for key in keys:
            if key in entries:
                return entries[key]
    return None
