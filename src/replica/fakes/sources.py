"""Where real and generated images come from: one ``Source`` per ``--real``/``--fake`` argument.

A source is any of
- a step output directory holding a contract-stamped table: ``images.parquet`` /
  ``images_dedup.parquet`` (``uri`` and ``caption``; the gallery, extract or dedup step) or
  ``pairs.parquet`` at version >= 2 (its diffusion replicas: rows with a ``generator``;
  ``replica_uri``, ``prompt``);
- a manifest (``manifest.csv``/``manifest.parquet``, or a directory holding one) with a ``path``
  column relative to the manifest, and optional ``generator``, ``caption`` or ``prompt``,
  ``label``;
- a plain folder of image files (searched recursively); fakes take the folder's name as their
  generator.
Reading is lazy: a ``Candidate`` names a file; the bytes are read when it is encoded.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from replica.contracts import stamp_of

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
IMAGE_TABLES = ("images_dedup.parquet", "images.parquet")
DIFFUSION_PAIRS_VERSION = 2  # pairs@2 carries ``generator`` for diffusion replicas


class SourceError(ValueError):
    """A ``--real``/``--fake`` argument is not a usable source; the message says why."""


@dataclass(frozen=True)
class Candidate:
    """One image a source offers: its file, class, generator and text."""

    label: str  # "real" | "fake"
    source: str  # the source's name (its folder or file name)
    path: Path
    generator: str | None
    caption: str | None
    declared_label: str | None = None  # a manifest's own label column, checked against ``label``


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def candidates(location: Path, label: str) -> Iterator[Candidate]:
    """Every image ``location`` offers as ``label`` ("real" or "fake")."""
    location = Path(location)
    if not location.exists():
        raise SourceError(f"source {str(location)!r} does not exist")
    if location.is_file():
        yield from _manifest(location, label)
        return
    for name in ("pairs.parquet", *IMAGE_TABLES):
        table = location / name
        if table.is_file() and stamp_of(table):
            yield from _stamped(table, label)
            return
    for name in ("manifest.parquet", "manifest.csv"):
        if (location / name).is_file():
            yield from _manifest(location / name, label)
            return
    files = sorted(p for p in location.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"source {str(location)!r} holds no table, manifest or image file")
    generator = location.name if label == "fake" else None
    for path in files:
        yield Candidate(label, location.name, path, generator, None)


def _stamped(table: Path, label: str) -> Iterator[Candidate]:
    stamp = stamp_of(table) or ""
    name, _, version = stamp.partition("@")
    root, source = table.parent, table.parent.name
    rows = pq.read_table(table).to_pylist()
    if name == "pairs":
        if int(version or 0) < DIFFUSION_PAIRS_VERSION:
            raise SourceError(
                f"{str(table)!r} is {stamp}: generated replicas need pairs@"
                f"{DIFFUSION_PAIRS_VERSION} or later (a generator per row)"
            )
        if label != "fake":
            raise SourceError(f"{str(table)!r}: a pairs dataset is a source of fakes only")
        for row in rows:
            if _text(row.get("generator")):
                yield Candidate(
                    label,
                    source,
                    root / row["replica_uri"],
                    _text(row["generator"]),
                    _text(row.get("prompt")),
                )
        return
    if name not in ("images", "images_dedup"):
        raise SourceError(f"{str(table)!r} is {stamp}, not an images or pairs table")
    generator = source if label == "fake" else None
    for row in rows:
        yield Candidate(label, source, root / row["uri"], generator, _text(row.get("caption")))


def _manifest(path: Path, label: str) -> Iterator[Candidate]:
    if path.suffix == ".parquet":
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    elif path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    else:
        raise SourceError(f"manifest {str(path)!r} must be .csv or .parquet")
    if rows and "path" not in rows[0]:
        raise SourceError(f"manifest {str(path)!r} has no 'path' column")
    source = path.parent.name
    for row in rows:
        yield Candidate(
            label,
            source,
            path.parent / str(row["path"]),
            _text(row.get("generator")) if label == "fake" else None,
            _text(row.get("caption")) or _text(row.get("prompt")),
            _text(row.get("label")),
        )
