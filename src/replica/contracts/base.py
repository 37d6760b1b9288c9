"""The contract type: a named, versioned Parquet schema with key columns and a GX suite.

Writing casts a table to the schema, refuses missing or extra columns, null or duplicate keys,
control or bidi characters in text keys (ids, URLs) and relative paths that leave the dataset
(``path_columns``: absolute, ``..``, backslashes, NUL), stamps ``name@version`` into the Parquet
metadata and writes atomically (temp file, then rename). Reading applies the same rules and
refuses a file stamped with another contract or version, one whose columns do not fit the
schema, and one that is not Parquet at all, each as a ``ContractError`` naming the file.
The GX suite carries the text-key and path rules too (``suite``), so ``validate`` fails a
table written by anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from replica.guard.paths import RELPATH_REGEX, unsafe_relpath
from replica.guard.urls import NO_CONTROL_REGEX, control_char, printable
from replica.io import new_temp_file, replace_file

META_KEY = b"replica.contract"
ARROW_ERRORS = (pa.ArrowException, OSError, ValueError)


class ContractError(ValueError):
    """A table does not satisfy its contract; the message names the column or rule."""


@dataclass(frozen=True)
class Contract:
    """A dataset hand-off: ``name@version``, its schema, key columns and GX expectations.

    ``expectations`` builds the Great Expectations suite lazily (GX is slow to import).
    ``blob_column`` names a column of relative file URIs whose files ``validate`` checks
    (exists, sha256 matches ``blob_sha_column``, decodes) and reports as the derived
    column ``blob_ok``. ``text_keys`` are string columns (ids, URLs) that may hold no control
    or invisible formatting character; ``path_columns`` hold paths relative to the dataset
    that must stay inside it.
    """

    name: str
    version: int
    schema: pa.Schema
    keys: tuple[str, ...]
    expectations: Callable[[], list[Any]]
    blob_column: str | None = None
    blob_sha_column: str | None = None
    description: str = ""
    file_name: str = field(default="")
    text_keys: tuple[str, ...] = ()
    path_columns: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def filename(self) -> str:
        return self.file_name or f"{self.name}.parquet"

    def suite(self) -> list[Any]:
        """The GX expectations: the contract's own, then its text-key and path rules."""
        from replica.contracts._gx import expectations

        e = expectations()
        return [
            *self.expectations(),
            *(
                e.ExpectColumnValuesToMatchRegex(column=c, regex=NO_CONTROL_REGEX)
                for c in self.text_keys
                if c not in self.path_columns
            ),
            *(
                e.ExpectColumnValuesToMatchRegex(column=c, regex=RELPATH_REGEX)
                for c in self.path_columns
            ),
        ]

    def conform(self, data: pa.Table | Sequence[dict[str, Any]]) -> pa.Table:
        """Cast rows or a table to the schema and check every rule (see the module doc)."""
        if not isinstance(data, pa.Table):
            data = self._from_rows(list(data))
        self._check_columns(data.schema)
        try:
            table = data.select(self.schema.names).cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise ContractError(f"{self.ref}: cannot cast to schema: {exc}") from exc
        self._check_values(table)
        return table

    def _check_columns(self, schema: pa.Schema) -> None:
        missing = [n for n in self.schema.names if n not in schema.names]
        extra = [n for n in schema.names if n not in self.schema.names]
        if missing or extra:
            raise ContractError(f"{self.ref}: missing columns {missing}, extra columns {extra}")

    def _check_values(self, table: pa.Table) -> None:
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
        for column in self.path_columns:
            for value in table.column(column).unique().to_pylist():
                if value is not None and (why := unsafe_relpath(value)):
                    raise ContractError(
                        f"{self.ref}: column {column!r} value {printable(value, 200)!r} "
                        f"leaves the dataset: {why}"
                    )
        for column in self.text_keys:
            for value in table.column(column).unique().to_pylist():
                if value is not None and (bad := control_char(value)):
                    raise ContractError(
                        f"{self.ref}: column {column!r} value {printable(value, 200)!r} has "
                        f"a control or invisible character ({bad})"
                    )

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
        with new_temp_file(target) as tmp:
            pq.write_table(table, tmp)
            replace_file(tmp, target)
        return table

    def check_file(self, path: Path) -> pa.Schema:
        """The schema of ``path`` after checking, without reading the data, that it is Parquet
        stamped with this contract and its columns fit the schema (names, castable types)."""
        path = Path(path)
        if not path.exists():
            raise ContractError(f"{self.ref}: {str(path)!r} does not exist")
        stamped = stamp_of(path)
        if stamped != self.ref:
            raise ContractError(f"{str(path)!r} is stamped {stamped!r}, expected {self.ref!r}")
        schema = pq.read_schema(path)
        try:
            self._check_columns(schema)
        except ContractError as exc:
            raise ContractError(f"{str(path)!r}: {exc}") from None
        for want in self.schema:
            got = schema.field(want.name).type
            if got != want.type and not _castable(got, want.type):
                raise ContractError(
                    f"{str(path)!r}: column {want.name!r} is {got}, {self.ref} needs {want.type}"
                )
        return schema

    def read(self, directory: Path) -> pa.Table:
        """Read ``directory/<name>.parquet``: a table that satisfies every rule of the contract,
        or a ``ContractError`` naming the file and the rule."""
        path = Path(directory) / self.filename
        self.check_file(path)
        try:
            table = pq.read_table(path)
        except ARROW_ERRORS as exc:
            raise ContractError(f"{str(path)!r} cannot be read: {_first_line(exc)}") from exc
        try:
            return self.conform(table)
        except ContractError as exc:
            raise ContractError(f"{str(path)!r}: {exc}") from None


def stamp_of(path: Path) -> str | None:
    """The ``name@version`` a Parquet file was written under, or None for a foreign file;
    a file that is not Parquet is a ``ContractError``."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except ARROW_ERRORS as exc:
        raise ContractError(f"{str(path)!r} is not a Parquet file: {_first_line(exc)}") from exc
    value = meta.get(META_KEY)
    return value.decode("utf-8", "replace") if value else None


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    try:
        pa.array([], type=source).cast(target)
    except pa.ArrowException:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
