"""What users point ``predict`` and ``audit`` at, turned into image lists: folders or tables.

- an image list: a folder (every image file under it, recursively, in path order) or a table
  (CSV or Parquet) with a ``path`` column (relative paths are relative to the table's folder)
  and an optional ``caption`` column;
- a pair list: a table with ``query`` and ``reference`` columns, or a folder holding ``query/``
  and ``reference/`` whose files pair by their path relative to those folders (extension aside).
"""

from __future__ import annotations

from pathlib import Path

from replica.scoring.features import ImageRef

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
TABLE_SUFFIXES = {".csv", ".parquet"}


def _table(path: Path) -> list[dict]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path) if path.suffix == ".parquet" else pcsv.read_csv(path)
    except Exception as exc:  # pyarrow raises several types for unreadable files
        raise ValueError(f"cannot read table {str(path)!r}: {exc}") from exc
    return table.to_pylist()


def _resolve(base: Path, value: object, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected an image path, got {value!r}")
    p = Path(value)
    return p if p.is_absolute() else base / p


def _folder(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_list(source: Path) -> list[ImageRef]:
    """The images of a folder or of a table's ``path`` column; none found is an error."""
    source = Path(source)
    if source.is_dir():
        refs = [ImageRef(p) for p in _folder(source)]
    elif source.suffix.lower() in TABLE_SUFFIXES and source.is_file():
        rows = _table(source)
        if rows and "path" not in rows[0]:
            raise ValueError(f"table {str(source)!r} needs a 'path' column, has {sorted(rows[0])}")
        refs = [
            ImageRef(_resolve(source.parent, r["path"], f"{source}[{i}].path"),
                     caption=str(r["caption"]) if r.get("caption") is not None else None)
            for i, r in enumerate(rows)
        ]  # fmt: skip
    else:
        raise ValueError(f"{str(source)!r} is neither a folder nor a .csv/.parquet table")
    if not refs:
        raise ValueError(f"no images in {str(source)!r} (suffixes {sorted(IMAGE_SUFFIXES)})")
    return refs


def pair_list(source: Path) -> tuple[list[ImageRef], list[ImageRef]]:
    """(queries, references) of a pairs table or a ``query/`` + ``reference/`` folder."""
    source = Path(source)
    if source.is_dir():
        qdir, rdir = source / "query", source / "reference"
        if not qdir.is_dir() or not rdir.is_dir():
            raise ValueError(f"pairs folder {str(source)!r} needs query/ and reference/ folders")
        refs = {p.relative_to(rdir).with_suffix(""): p for p in _folder(rdir)}
        queries = _folder(qdir)
        missing = [
            str(q.relative_to(qdir))
            for q in queries
            if q.relative_to(qdir).with_suffix("") not in refs
        ]
        if missing:
            raise ValueError(f"no reference for {len(missing)} query image(s), e.g. {missing[:3]}")
        if not queries:
            raise ValueError(f"no images in {str(qdir)!r}")
        return [ImageRef(q) for q in queries], [
            ImageRef(refs[q.relative_to(qdir).with_suffix("")]) for q in queries
        ]
    if source.suffix.lower() in TABLE_SUFFIXES and source.is_file():
        rows = _table(source)
        if not rows:
            raise ValueError(f"pairs table {str(source)!r} is empty")
        if not {"query", "reference"} <= set(rows[0]):
            raise ValueError(
                f"pairs table {str(source)!r} needs 'query' and 'reference' columns, "
                f"has {sorted(rows[0])}"
            )
        base = source.parent
        return (
            [
                ImageRef(_resolve(base, r["query"], f"{source}[{i}].query"))
                for i, r in enumerate(rows)
            ],
            [
                ImageRef(_resolve(base, r["reference"], f"{source}[{i}].reference"))
                for i, r in enumerate(rows)
            ],
        )
    raise ValueError(f"{str(source)!r} is neither a pairs folder nor a .csv/.parquet table")
