"""Human labels: Label Studio and CSV parsing, consensus, override counts, agreement figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replica.generate.labels import (
    Vote,
    agreement,
    apply_labels,
    consensus,
    export_tasks,
    krippendorff_alpha,
    merge,
    read_labels,
)


def test_krippendorff_alpha_matches_the_published_example() -> None:
    """Krippendorff's reliability example: 4 observers, 12 units, values 1-5, gaps."""
    n = None
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = [[v for v in unit if v is not None] for unit in zip(*observers, strict=True)]
    assert krippendorff_alpha(units, "nominal") == pytest.approx(0.743, abs=1e-3)
    assert krippendorff_alpha(units, "ordinal") == pytest.approx(0.815, abs=1e-3)
    assert krippendorff_alpha(units, "interval") == pytest.approx(0.849, abs=1e-3)
    assert krippendorff_alpha([[3, 3], [3]], "interval") is None  # nothing to disagree on


def ls_task(pair: str, *annotations: dict) -> dict:
    return {
        "id": 1,
        "data": {"pair_id": pair, "reference": "r", "query": "q"},
        "annotations": list(annotations),
    }


def ann(who, choice: str, cancelled: bool = False) -> dict:
    result = [
        {
            "type": "choices",
            "from_name": "level",
            "to_name": "query",
            "value": {"choices": [choice]},
        }
    ]
    return {"completed_by": who, "result": [] if cancelled else result, "was_cancelled": cancelled}


def test_label_studio_exports_and_csv_are_read_with_counted_rejects(tmp_path: Path) -> None:
    export = [
        ls_task("p1", ann({"id": 3, "email": "a@x"}, "4"), ann(5, "Level 2"), ann(6, "", True)),
        ls_task("p2", ann(5, "nine")),
        {"data": {"reference": "r"}, "annotations": []},
    ]
    (tmp_path / "e.json").write_text(json.dumps(export))
    votes, rejects = read_labels(tmp_path / "e.json")
    assert votes == [Vote("p1", "a@x", 4, "e.json"), Vote("p1", "5", 2, "e.json")]
    assert rejects == {"cancelled": 1, "bad_level": 1, "no_pair_id": 1}
    (tmp_path / "min.json").write_text(
        json.dumps([{"pair_id": "p3", "level": "3", "annotator": 9}])
    )
    assert read_labels(tmp_path / "min.json")[0] == [Vote("p3", "9", 3, "min.json")]
    (tmp_path / "l.csv").write_text("pair_id,level,annotator\np1,5,\np2,7,b\n,1,c\np3,2,b\n")
    votes, rejects = read_labels(tmp_path / "l.csv")
    assert votes == [Vote("p1", "csv", 5, "l.csv"), Vote("p3", "b", 2, "l.csv")]
    assert rejects == {"bad_level": 1, "no_pair_id": 1}
    (tmp_path / "bad.csv").write_text("id,level\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['pair_id'\]"):
        read_labels(tmp_path / "bad.csv")


def test_human_labels_override_construction_and_are_counted() -> None:
    rows = [
        {"pair_id": p, "level": lv, "construction_level": lv, "label_source": "construction"}
        for p, lv in (("p1", 5), ("p2", 3), ("p3", 0))
    ]
    votes = [
        Vote("p1", "a", 4, "f"),
        Vote("p1", "b", 2, "f"),
        Vote("p2", "a", 3, "f"),
        Vote("zz", "a", 1, "f"),
    ]
    out, counts = apply_labels(rows, votes)
    assert [(r["level"], r["label_source"]) for r in out] == [
        (2, "human"),
        (3, "human"),
        (0, "construction"),
    ]
    assert [r["construction_level"] for r in out] == [5, 3, 0]
    assert counts == {"human": 2, "changed": 1, "unknown_pair": 1}
    figures = agreement(votes[:3], {r["pair_id"]: r["construction_level"] for r in rows})
    assert figures["pairs_labelled"] == 2 and figures["annotators"] == 2
    assert figures["pairwise_exact"] == 0.0 and figures["pairwise_within_1"] == 0.0
    assert figures["human_equals_construction"] == 0.5 and figures["human_construction_mae"] == 1.5


def test_consensus_is_the_lower_median_and_later_votes_replace_earlier() -> None:
    assert consensus([5]) == 5 and consensus([2, 4]) == 2 and consensus([1, 5, 4]) == 4
    old = [Vote("p", "a", 1, "first"), Vote("p", "b", 2, "first")]
    new = [Vote("p", "a", 3, "second")]
    assert merge(old, new) == [Vote("p", "a", 3, "second"), Vote("p", "b", 2, "first")]


def test_export_samples_every_stratum_without_showing_the_level() -> None:
    rows = [
        {"pair_id": f"p{i}", "construction_level": i % 3, "family": "crop" if i % 2 else "meme",
         "source_uri": f"images/s{i}.jpg", "replica_uri": f"images/r{i}.jpg"}
        for i in range(30)
    ]  # fmt: skip
    tasks = export_tasks(rows, per_stratum=2, seed=0, url_prefix="/data/local-files/?d=pairs/")
    assert len(tasks) == 6 * 2 and len({t["data"]["pair_id"] for t in tasks}) == 12
    assert tasks[0]["data"]["reference"].startswith("/data/local-files/?d=pairs/images/")
    assert set(tasks[0]["data"]) == {"pair_id", "reference", "query"}
    assert export_tasks(rows, per_stratum=2, seed=0, url_prefix="") != tasks
    assert [t["data"]["pair_id"] for t in export_tasks(rows, 2, 0)] == [
        t["data"]["pair_id"] for t in tasks
    ]
