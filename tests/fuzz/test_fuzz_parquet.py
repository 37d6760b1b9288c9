"""Fuzz the Parquet inputs of every contract: stamped tables with missing, extra or mistyped
columns and hostile values, and files that are not Parquet. Every reader a step uses must
return a table that satisfies the contract or raise ``ContractError``; validate must turn the
file into a report; dedup's streamed text reader must take whatever the contract admits."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import strategies as st

from replica.config import DedupConfig
from replica.contracts import ARTICLES, REGISTRY, Contract, ContractError
from replica.contracts.base import META_KEY
from replica.dedup.engine import fingerprint_local
from replica.steps.validate import _open
from tests.fuzz._profiles import PROFILES, fuzz, hostile_text

CONTRACTS = sorted(REGISTRY.values(), key=lambda c: c.ref)
RULES = {
    "not a Parquet file": "not_parquet",
    "is stamped": "stamp",
    "missing columns": "columns",
    "needs": "column_type",
    "cannot cast": "cast",
    "null value": "null_key",
    "not unique": "duplicate_key",
    "leaves the dataset": "path",
    "control or invisible": "control_char",
}
PATHS = st.sampled_from(["blobs/ab/x.png", "../x.png", "/etc/passwd", "a\\b", "a//b", "ok.png"])


def values(typ: pa.DataType, column: str) -> st.SearchStrategy[Any]:
    if pa.types.is_string(typ):
        base = PATHS if column.endswith("uri") else hostile_text
        return st.one_of(st.none(), base, st.sampled_from(["2024-01-02", "a1", "test", "train"]))
    if pa.types.is_integer(typ):
        return st.one_of(st.none(), st.integers(-(2**7), 2**7 - 1))
    if pa.types.is_floating(typ):
        return st.one_of(st.none(), st.floats(allow_nan=True, width=32))
    if pa.types.is_list(typ):
        return st.one_of(st.none(), st.lists(hostile_text, max_size=3))
    return st.none()


@st.composite
def tables(draw: st.DrawFn, contract: Contract) -> pa.Table:
    fields = list(contract.schema)
    if fields and draw(st.integers(0, 4)) == 0:
        fields.remove(draw(st.sampled_from(fields)))  # a missing column
    if draw(st.integers(0, 4)) == 0:
        fields.append(pa.field("extra", pa.string()))
    if fields and draw(st.integers(0, 4)) == 0:  # a column of the wrong type
        i = draw(st.integers(0, len(fields) - 1))
        other = pa.int64() if pa.types.is_string(fields[i].type) else pa.string()
        fields[i] = pa.field(fields[i].name, other)
    n = draw(st.integers(0, 4))
    columns = {
        f.name: pa.array([draw(values(f.type, f.name)) for _ in range(n)], type=f.type)
        for f in fields
    }
    table = pa.table(columns) if columns else pa.table({"x": pa.array([], pa.string())})
    stamp = draw(st.sampled_from([contract.ref, contract.ref, "other@1", None]))
    meta = {META_KEY: stamp.encode()} if stamp else {}
    return table.replace_schema_metadata(meta)


def read_all(args: tuple[Contract, pa.Table | bytes]) -> str:
    contract, data = args
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / contract.filename
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            pq.write_table(data, path)
        opened = _open(path)  # validate: a report, never a traceback
        assert opened is None or isinstance(opened, str | tuple)
        try:
            table = contract.read(Path(tmp))
        except ContractError as exc:
            return "reject:" + next((v for k, v in RULES.items() if k in str(exc)), "other")
        assert table.schema.names == contract.schema.names
        if contract is ARTICLES:  # dedup streams articles without reading them whole
            index = fingerprint_local(path, DedupConfig(workers=1, num_perm=16), 0)
            assert len(index) + len(index.rejects) == table.num_rows
        return "output"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_contract_reader_gives_a_valid_table_or_a_contract_error(profile) -> None:
    cases = st.sampled_from(CONTRACTS).flatmap(
        lambda c: st.tuples(
            st.just(c), st.one_of(tables(c), st.binary(max_size=200), st.just(b"PAR1x"))
        )
    )
    fuzz(profile, "parquet", cases, read_all)
