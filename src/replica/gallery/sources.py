"""Where a gallery's images come from: a folder, a glob, an ``s3://`` prefix or glob, or a
manifest (CSV or Parquet with a ``path`` column and an optional ``caption`` column).

Every source lists *candidates* (a location and a caption, or None) in a stable order; reading
their bytes is separate, so listing a million-object prefix costs no download. Manifest paths
are relative to the manifest's folder unless absolute or ``s3://``.
"""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_SUFFIXES = (".csv", ".parquet")
_GLOB_CHARS = set("*?[")


class GallerySourceError(ValueError):
    """A gallery source cannot be listed; the message names the source and the rule."""


@dataclass(frozen=True)
class Candidate:
    """One file to import: where it is (a local path or an ``s3://`` URI) and its caption."""

    location: str
    caption: str | None = None


def list_candidates(source: str, client: Any | None = None) -> list[Candidate]:
    """The candidates of ``source``, by kind (see module docstring); an empty source is an error."""
    if source.startswith("s3://"):
        found = [Candidate(u) for u in _s3_list(source, client)]
    elif source.lower().endswith(MANIFEST_SUFFIXES) and not _GLOB_CHARS & set(source):
        found = read_manifest(Path(source))
    elif _GLOB_CHARS & set(source):
        found = [Candidate(p) for p in sorted(glob.glob(source, recursive=True)) if _is_file(p)]
    elif Path(source).is_dir():
        found = [Candidate(str(p)) for p in _walk(Path(source))]
    else:
        raise GallerySourceError(
            f"gallery source {source!r} is not a folder, glob, s3:// URI or .csv/.parquet manifest"
        )
    if not found:
        raise GallerySourceError(f"gallery source {source!r} holds no files")
    return found


def read_manifest(path: Path) -> list[Candidate]:
    """Rows of a manifest: ``path`` (required) and ``caption`` (optional; empty means none)."""
    if not path.is_file():
        raise GallerySourceError(f"manifest {str(path)!r} does not exist")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        columns = list(rows[0]) if rows else pq.read_schema(path).names
    else:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    if "path" not in columns:
        raise GallerySourceError(f"manifest {str(path)!r} has no 'path' column (has {columns})")
    out = []
    for row in rows:
        location = str(row["path"] or "").strip()
        if not location:
            continue
        if not location.startswith("s3://") and not os.path.isabs(location):
            location = str(path.parent / location)
        caption = row.get("caption")
        text = " ".join(str(caption).split()) if caption is not None else ""
        out.append(Candidate(location, text or None))
    return out


def _walk(root: Path) -> list[Path]:
    """Every file under ``root``, sorted; hidden folders (``.git``, ``.cache``) are skipped."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in filenames]
    return sorted(files)


def _is_file(path: str) -> bool:
    return Path(path).is_file()


def _s3_list(source: str, client: Any | None) -> list[str]:
    """Objects under an ``s3://bucket/prefix`` (every key below it) or matching an s3 glob."""
    from replica.crawl import s3
    from replica.crawl.sources import SourcesError

    try:
        if _GLOB_CHARS & set(source):
            return s3.list_objects(source, client)
        bucket, prefix = s3.split_uri(source)
        if client is None:
            import boto3

            client = boto3.client("s3")
        keys = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        return sorted(f"s3://{bucket}/{k}" for k in keys)
    except SourcesError as exc:
        raise GallerySourceError(str(exc)) from exc


def read_bytes(location: str, max_bytes: int, client: Any | None = None) -> bytes | None:
    """The file's bytes, or None when it is larger than ``max_bytes`` (never read past it)."""
    if location.startswith("s3://"):
        from replica.crawl import s3

        with s3.open_object(location, client) as body:
            data = body.read(max_bytes + 1)
    else:
        with open(location, "rb") as fh:
            data = fh.read(max_bytes + 1)
    return None if len(data) > max_bytes else data
