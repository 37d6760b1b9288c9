"""The decisions table: append-only JSON lines that concurrent writers never interleave."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from replica.registry.decisions import append_decision, read_decisions


def test_appends_are_kept_in_order_and_whole_under_concurrency(tmp_path: Path) -> None:
    table = tmp_path / "sub" / "decisions.jsonl"
    assert read_decisions(table) == []
    append_decision(table, {"n": -1, "decision": "promoted"})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: append_decision(table, {"n": n, "pad": "x" * 5000}), range(64)))
    rows = read_decisions(table)
    assert rows[0] == {"n": -1, "decision": "promoted"}
    assert sorted(r["n"] for r in rows[1:]) == list(range(64))


def test_nan_is_refused_and_a_torn_line_is_reported(tmp_path: Path) -> None:
    table = tmp_path / "d.jsonl"
    with pytest.raises(ValueError):
        append_decision(table, {"value": math.nan})
    table.write_text('{"ok": 1}\n{"torn": \n')
    with pytest.raises(ValueError, match=r"d\.jsonl:2"):
        read_decisions(table)
