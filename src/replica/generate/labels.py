"""Human labels for pairs: Label Studio tasks out, Label Studio or CSV annotations in.

- ``export_tasks``: a stratified sample (``per_stratum`` pairs of every construction level x
  family) as Label Studio tasks, with ``LABEL_CONFIG`` (reference and query side by side, one
  choice of level 0-5; the construction level is not shown, so it cannot anchor the annotator).
- ``read_labels``: Label Studio's JSON export (tasks with ``annotations``; cancelled ones are
  skipped), its JSON-MIN export, or a CSV ``pair_id,level,annotator``. A choice is read as the
  first digit in it ("3", "Level 3", "3 - partial").
- ``apply_labels``: a pair with human votes takes their consensus (the lower median) as its
  ``level`` with ``label_source = human``; ``construction_level`` stays as built.
- ``agreement``: pairwise agreement (exact and within one level) and Krippendorff's alpha
  (interval, ordinal, nominal) over pairs with two or more annotators, plus how often people
  agree with the construction rule.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LEVELS = range(6)
_DIGIT = re.compile(r"\d")

LABEL_CONFIG = """<View>
  <Header value="How much of the reference does the query replicate? (D-Rep levels)"/>
  <View style="display: flex; gap: 1em">
    <Image name="reference" value="$reference" zoom="true"/>
    <Image name="query" value="$query" zoom="true"/>
  </View>
  <Choices name="level" toName="query" choice="single" required="true" showInLine="true">
    <Choice value="0" hint="no replication: another image"/>
    <Choice value="1" hint="a small region of the reference"/>
    <Choice value="2" hint="heavy edits, a collage, a screenshot or meme holding it"/>
    <Choice value="3" hint="moderate crops, flips, rotations, the reference on other content"/>
    <Choice value="4" hint="light edits, small crops or overlays"/>
    <Choice value="5" hint="total replication: re-encoded, resized, imperceptible noise"/>
  </Choices>
</View>
"""


@dataclass(frozen=True)
class Vote:
    pair_id: str
    annotator: str
    level: int
    source: str


def _level(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in LEVELS else None
    m = _DIGIT.search(str(value or ""))
    level = int(m.group()) if m else None
    return level if level in LEVELS else None


def _annotator(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("email") or value.get("id") or "unknown")
    return str(value) if value not in (None, "") else "unknown"


def read_labels(path: Path) -> tuple[list[Vote], Counter[str]]:
    """Votes from a Label Studio JSON/JSON-MIN export or a CSV, and rejects counted by reason."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labels file {str(path)!r} does not exist")
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"labels file {str(path)!r} is not JSON: {exc}") from exc
    if not isinstance(doc, list):
        raise ValueError(f"labels file {str(path)!r} must hold a list of Label Studio tasks")
    votes, rejects = [], Counter[str]()
    for task in doc:
        data = task.get("data", task) if isinstance(task, dict) else {}
        pair = data.get("pair_id") if isinstance(data, dict) else None
        if not pair:
            rejects["no_pair_id"] += 1
            continue
        if "annotations" not in task:  # JSON-MIN: one flat row per annotation
            level = _level(task.get("level"))
            if level is None:
                rejects["bad_level"] += 1
                continue
            who = _annotator(task.get("annotator") or task.get("completed_by"))
            votes.append(Vote(str(pair), who, level, path.name))
            continue
        for ann in task.get("annotations") or []:
            if ann.get("was_cancelled"):
                rejects["cancelled"] += 1
                continue
            choices = [
                c
                for r in ann.get("result") or []
                if r.get("type") == "choices" and r.get("from_name", "level") == "level"
                for c in (r.get("value") or {}).get("choices") or []
            ]
            level = _level(choices[0]) if choices else None
            if level is None:
                rejects["bad_level"] += 1
                continue
            votes.append(Vote(str(pair), _annotator(ann.get("completed_by")), level, path.name))
    return votes, rejects


def _read_csv(path: Path) -> tuple[list[Vote], Counter[str]]:
    votes, rejects = [], Counter[str]()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"pair_id", "level"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"labels CSV {str(path)!r} lacks column(s) {sorted(missing)}")
        for row in reader:
            level = _level((row.get("level") or "").strip())
            if not row.get("pair_id"):
                rejects["no_pair_id"] += 1
            elif level is None or not (row.get("level") or "").strip().isdigit():
                rejects["bad_level"] += 1
            else:
                who = _annotator((row.get("annotator") or "").strip() or "csv")
                votes.append(Vote(row["pair_id"].strip(), who, level, path.name))
    return votes, rejects


def merge(old: Sequence[Vote], new: Sequence[Vote]) -> list[Vote]:
    """All votes, a later vote of the same annotator on the same pair replacing the earlier."""
    out = {(v.pair_id, v.annotator): v for v in old}
    out |= {(v.pair_id, v.annotator): v for v in new}
    return sorted(out.values(), key=lambda v: (v.pair_id, v.annotator))


def consensus(levels: Sequence[int]) -> int:
    """The lower median: a tie between two annotators takes the more cautious level."""
    ordered = sorted(levels)
    return ordered[(len(ordered) - 1) // 2]


def krippendorff_alpha(units: Sequence[Sequence[float]], metric: str = "interval") -> float | None:
    """Krippendorff's alpha over units (the values each one got); None without disagreement
    to measure (fewer than two pairable values, or a single value used throughout)."""
    values = sorted({v for u in units for v in u})
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for unit in units:
        m = len(unit)
        if m < 2:
            continue
        counts = Counter(unit)
        for c, nc in counts.items():
            for k, nk in counts.items():
                o[index[c], index[k]] += nc * (nk - (c == k)) / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1 or len(values) < 2:
        return None
    v = np.asarray(values, dtype=float)
    if metric == "nominal":
        delta = (v[:, None] != v[None, :]).astype(float)
    elif metric == "interval":
        delta = (v[:, None] - v[None, :]) ** 2
    elif metric == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        lo, hi = (
            np.minimum.outer(range(len(v)), range(len(v))),
            np.maximum.outer(range(len(v)), range(len(v))),
        )
        delta = (cum[hi + 1] - cum[lo] - (n_c[lo] + n_c[hi]) / 2) ** 2
    else:
        raise ValueError(f"metric must be nominal, ordinal or interval, got {metric!r}")
    expected = (n_c[:, None] * n_c[None, :] * delta).sum()
    if expected == 0:
        return None
    return float(1 - (n - 1) * (o * delta).sum() / expected)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def agreement(votes: Sequence[Vote], construction: Mapping[str, int]) -> dict[str, Any]:
    """Agreement figures of the votes (module docstring)."""
    by_pair: dict[str, list[int]] = {}
    for v in votes:
        by_pair.setdefault(v.pair_id, []).append(v.level)
    multi = [levels for levels in by_pair.values() if len(levels) >= 2]
    pairs = [(a, b) for ls in multi for i, a in enumerate(ls) for b in ls[i + 1 :]]
    human = {p: consensus(ls) for p, ls in by_pair.items() if p in construction}
    diffs = [abs(human[p] - construction[p]) for p in human]

    def rnd(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    return {
        "pairs_labelled": len(by_pair),
        "annotations": len(votes),
        "annotators": len({v.annotator for v in votes}),
        "pairs_with_2plus_annotators": len(multi),
        "pairwise_exact": rnd(_mean([a == b for a, b in pairs])),
        "pairwise_within_1": rnd(_mean([abs(a - b) <= 1 for a, b in pairs])),
        "alpha_interval": rnd(krippendorff_alpha(multi, "interval")),
        "alpha_ordinal": rnd(krippendorff_alpha(multi, "ordinal")),
        "alpha_nominal": rnd(krippendorff_alpha(multi, "nominal")),
        "human_equals_construction": rnd(_mean([d == 0 for d in diffs])),
        "human_construction_mae": rnd(_mean(diffs)),
    }


def apply_labels(
    rows: Sequence[dict[str, Any]], votes: Sequence[Vote]
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Rows with human consensus levels applied, and counts: ``human`` (pairs now labelled by
    people), ``changed`` (their level differs from construction), ``unknown_pair`` (votes for
    pairs not in the dataset)."""
    by_pair: dict[str, list[int]] = {}
    for v in votes:
        by_pair.setdefault(v.pair_id, []).append(v.level)
    known = {r["pair_id"] for r in rows}
    counts = Counter[str](unknown_pair=sum(1 for v in votes if v.pair_id not in known))
    out = []
    for row in rows:
        levels = by_pair.get(row["pair_id"])
        if levels:
            level = consensus(levels)
            row = {**row, "level": level, "label_source": "human"}
            counts["human"] += 1
            counts["changed"] += level != row["construction_level"]
        else:
            row = {**row, "level": row["construction_level"], "label_source": "construction"}
        out.append(row)
    return out, +counts


def export_tasks(
    rows: Sequence[Mapping[str, Any]], per_stratum: int, seed: int, url_prefix: str = ""
) -> list[dict[str, Any]]:
    """Up to ``per_stratum`` pairs of every (construction level, family), as Label Studio tasks."""
    strata: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["pair_id"]):
        strata.setdefault((int(row["construction_level"]), row["family"]), []).append(row)
    rng = np.random.default_rng(seed)
    tasks: list[dict[str, Any]] = []
    for key in sorted(strata):
        group = strata[key]
        picked = rng.choice(len(group), size=min(per_stratum, len(group)), replace=False)
        for i in sorted(picked.tolist()):
            row = group[i]
            tasks.append(
                {
                    "id": len(tasks) + 1,
                    "data": {
                        "pair_id": row["pair_id"],
                        "reference": url_prefix + row["source_uri"],
                        "query": url_prefix + row["replica_uri"],
                    },
                }
            )
    return tasks
