"""The contract type: a named, versioned Parquet schema with key columns and a GX suite.

Writing casts a table to the schema, refuses missing or extra columns and null keys, stamps
``name@version`` into the Parquet metadata and writes atomically (temp file, then rename).
Reading refuses a file stamped with another contract or version.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

META_KEY = b"replica.contract"


class ContractError(ValueError):
    """A table does not satisfy its contract; the message names the column or rule."""


@dataclass(frozen=True)
class Contract:
    """A dataset hand-off: ``name@version``, its schema, key columns and GX expectations.

    ``expectations`` builds the Great Expectations suite lazily (GX is slow to import).
    ``blob_column`` names a column of relative file URIs whose files ``validate`` checks
    (exists, sha256 matches ``blob_sha_column``, decodes); ``extra_blobs`` lists more
    (uri column, sha column) pairs checked the same way. ``validate`` reports them as derived
    columns: ``blob_ok`` (every file of the row is fine) and ``blob_format`` (the encoding
    read back from the files, e.g. ``JPEG/q95/4:4:4/RGB``, or ``mixed:...`` when the row's files
    differ), which format-parity rules (``_gx.format_parity``) check.
    """

    name: str
    version: int
    schema: pa.Schema
    keys: tuple[str, ...]
    expectations: Callable[[], list[Any]]
    blob_column: str | None = None
    blob_sha_column: str | None = None
    extra_blobs: tuple[tuple[str, str | None], ...] = ()
    description: str = ""
    file_name: str = field(default="")

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def blobs(self) -> tuple[tuple[str, str | None], ...]:
        """Every (uri column, sha256 column or None) whose files ``validate`` checks."""
        first = ((self.blob_column, self.blob_sha_column),) if self.blob_column else ()
        return (*first, *self.extra_blobs)

    @property
    def filename(self) -> str:
        return self.file_name or f"{self.name}.parquet"

    def conform(self, data: pa.Table | Sequence[dict[str, Any]]) -> pa.Table:
        """Cast rows or a table to the schema; missing/extra columns and null keys are errors."""
        if not isinstance(data, pa.Table):
            data = self._from_rows(list(data))
        missing = [n for n in self.schema.names if n not in data.column_names]
        extra = [n for n in data.column_names if n not in self.schema.names]
        if missing or extra:
            raise ContractError(f"{self.ref}: missing columns {missing}, extra columns {extra}")
        try:
            table = data.select(self.schema.names).cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ContractError(f"{self.ref}: cannot cast to schema: {exc}") from exc
        for key in self.keys:
            nulls = table.column(key).null_count
            if nulls:
                raise ContractError(f"{self.ref}: key column {key!r} has {nulls} null value(s)")
        if self.keys and table.num_rows:
            unique = table.group_by(list(self.keys)).aggregate([]).num_rows
            if unique != table.num_rows:
                raise ContractError(
                    f"{self.ref}: key {list(self.keys)} is not unique "
                    f"({table.num_rows - unique} duplicate row(s))"
                )
        return table

    def _from_rows(self, rows: list[dict[str, Any]]) -> pa.Table:
        if not rows:
            return self.schema.empty_table()
        names = list(dict.fromkeys(k for r in rows for k in r))
        columns = {}
        for n in names:
            values = [r.get(n) for r in rows]
            typ = self.schema.field(n).type if n in self.schema.names else None
            try:
                columns[n] = pa.array(values, type=typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise ContractError(f"{self.ref}: column {n!r} does not fit {typ}: {exc}") from exc
        return pa.table(columns)

    def write(self, data: pa.Table | Sequence[dict[str, Any]], directory: Path) -> pa.Table:
        """Conform and write ``directory/<name>.parquet`` atomically; returns the written table."""
        table = self.conform(data)
        meta = dict(table.schema.metadata or {})
        meta[META_KEY] = self.ref.encode()
        table = table.replace_schema_metadata(meta)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / self.filename
        fd, tmp = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".tmp", dir=directory)
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return table

    def read(self, directory: Path) -> pa.Table:
        """Read ``directory/<name>.parquet`` and check it carries this contract's name@version."""
        path = Path(directory) / self.filename
        if not path.exists():
            raise ContractError(f"{self.ref}: {str(path)!r} does not exist")
        stamped = stamp_of(path)
        if stamped != self.ref:
            raise ContractError(f"{str(path)!r} is stamped {stamped!r}, expected {self.ref!r}")
        return pq.read_table(path)


def stamp_of(path: Path) -> str | None:
    """The ``name@version`` a Parquet file was written under, or None for a foreign file."""
    meta = pq.read_schema(path).metadata or {}
    value = meta.get(META_KEY)
    return value.decode() if value else None
