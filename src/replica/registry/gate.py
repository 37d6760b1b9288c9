"""The promotion gate: may a candidate model version take the alias from the current holder?

Pure decision on numbers, so every rule is unit-tested without a registry:
- the candidate's gate metric must be a number (NaN is refused) and meet ``floor``
  (for lower-is-better metrics the floor is a ceiling);
- with no current holder, meeting the floor is enough;
- otherwise the candidate must beat the holder by strictly more than ``min_improvement``:
  a tie keeps the champion, because moving it would change the served model for no gain;
- a candidate that already holds the alias stays (re-running promote changes nothing);
- before any metric comparison, the required checks (``required_checks``) must pass: the
  candidate's data passed its GX suites, its bias guards hold, it beats every baseline of its
  own evaluation on the named metrics, its test split is large enough (pairs and distinct
  source images), and it was evaluated on the same test split as the holder (otherwise the two
  numbers are not comparable).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

_GUARD = re.compile(r"^\s*([A-Za-z0-9_.\-/]+)\s*(<=|>=|<|>)\s*(\S+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
Failure = tuple[str, str]  # (snake_case code, sentence)


@dataclass(frozen=True)
class GateRule:
    metric: str
    higher_is_better: bool
    min_improvement: float
    floor: float


@dataclass(frozen=True)
class Decision:
    """The gate's verdict; ``code`` is a snake_case reason code, ``reason`` a sentence."""

    promoted: bool
    code: str
    reason: str
    candidate_value: float
    champion_value: float | None

    @property
    def label(self) -> str:
        return "promoted" if self.promoted else "refused"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN values (a broken metric) become null."""
        data = {"decision": self.label, **asdict(self)}
        for key in ("candidate_value", "champion_value"):
            if data[key] is not None and math.isnan(data[key]):
                data[key] = None
        return data


def decide(
    rule: GateRule,
    candidate: float,
    champion: float | None,
    candidate_version: str | None = None,
    champion_version: str | None = None,
    failed: Sequence[Failure] = (),
) -> Decision:
    """Apply the gate to the candidate's metric and the current holder's (None when none);
    ``failed`` are the required checks the candidate failed (any one refuses it)."""
    m = rule.metric

    def verdict(ok: bool, code: str, reason: str) -> Decision:
        return Decision(ok, code, reason, candidate, champion)

    if champion_version is not None and champion_version == candidate_version:
        return verdict(True, "already_holds", f"v{candidate_version} already holds the alias")
    if failed:
        return verdict(False, failed[0][0], "; ".join(reason for _, reason in failed))

    if math.isnan(candidate):
        return verdict(False, "metric_nan", f"candidate {m} is NaN")
    meets_floor = candidate >= rule.floor if rule.higher_is_better else candidate <= rule.floor
    bound = ">=" if rule.higher_is_better else "<="
    if not meets_floor:
        return verdict(
            False,
            "below_floor",
            f"candidate {m}={candidate:.4f} does not meet the floor ({bound} {rule.floor:.4f})",
        )
    if champion is None:
        return verdict(
            True,
            "first_above_floor",
            f"no current holder; candidate {m}={candidate:.4f} meets the floor "
            f"({bound} {rule.floor:.4f})",
        )
    gain = candidate - champion if rule.higher_is_better else champion - candidate
    holder = f"v{champion_version}" if champion_version else "the current holder"
    if math.isnan(champion) or gain > rule.min_improvement:
        return verdict(
            True,
            "beats_champion",
            f"candidate {m}={candidate:.4f} beats {holder} ({champion:.4f}) by {gain:.4f} "
            f"> min_improvement {rule.min_improvement:.4f}",
        )
    return verdict(
        False,
        "not_better",
        f"candidate {m}={candidate:.4f} does not beat {holder} ({champion:.4f}) by more than "
        f"min_improvement {rule.min_improvement:.4f} (gain {gain:.4f})",
    )


def decision_tags(
    decision: Decision, rule: GateRule, alias: str, champion_version: str | None
) -> dict[str, str]:
    """The decision as model-version tags (strings; an absent champion is ``none``)."""

    def text(value: object) -> str:
        return "none" if value is None else str(value)

    return {
        "promote.decision": decision.label,
        "promote.code": decision.code,
        "promote.reason": decision.reason,
        "promote.alias": alias,
        "promote.metric": rule.metric,
        "promote.candidate_value": text(decision.candidate_value),
        "promote.champion_value": text(decision.champion_value),
        "promote.champion_version": text(champion_version),
    }


def parse_guard(text: str) -> tuple[str, str, float]:
    """``"rmse<=40"`` -> ``("rmse", "<=", 40.0)``; anything else is a ValueError naming it."""
    match = _GUARD.match(text)
    if match is None:
        raise ValueError(f"guard {text!r} must look like 'metric<=number' (<=, >=, < or >)")
    try:
        bound = float(match[3])
    except ValueError:
        raise ValueError(f"guard {text!r}: {match[3]!r} is not a number") from None
    return match[1], match[2], bound


def required_checks(
    candidate_tags: Mapping[str, str],
    candidate_metrics: Mapping[str, float],
    champion_tags: Mapping[str, str] | None,
    guards: Sequence[str] = (),
    require_validation: bool = True,
    require_same_split: bool = True,
    beat_baselines: Sequence[str] = (),
    min_test_pairs: int = 0,
    min_test_sources: int = 0,
) -> list[Failure]:
    """The checks a candidate must pass before its metric is compared, as failures.

    - validation: ``validate.passed`` is ``true`` (register tags it from the GX reports);
    - guards: each ``metric<op>bound`` holds on the candidate's run metrics (bias guards);
    - baselines: for each metric in ``beat_baselines``, the candidate's value is above every
      ``baseline.<name>.<metric>`` of the same run (higher is better for these metrics);
    - test size: ``n_test`` >= ``min_test_pairs`` and ``n_test_sources`` >= ``min_test_sources``;
    - same split: ``eval.test_split`` equals the holder's (only when there is a holder).
    """
    failed: list[Failure] = []
    failed += _baseline_checks(candidate_metrics, beat_baselines)
    for key, least in (("n_test", min_test_pairs), ("n_test_sources", min_test_sources)):
        have = candidate_metrics.get(key)
        if least > 0 and (have is None or math.isnan(have) or have < least):
            failed.append(
                (
                    "test_split_too_small",
                    f"the candidate's test split has {key}={have} (< {least} required)",
                )
            )
    if require_validation:
        passed = candidate_tags.get("validate.passed", "unknown")
        if passed == "false":
            bad = sorted(
                f"{k.removeprefix('validate.')} {v}"
                for k, v in candidate_tags.items()
                if k.startswith("validate.") and v in ("failed", "missing")
            )
            failed.append(
                ("validation_failed", f"GX suites failed or missing on the candidate's data: {bad}")
            )
        elif passed != "true":
            failed.append(
                ("validation_missing", "the candidate carries no passed GX validation reports")
            )
    for guard in guards:
        metric, op, bound = parse_guard(guard)
        value = candidate_metrics.get(metric)
        if value is None or math.isnan(value):
            failed.append(
                ("guard_metric_missing", f"guard {guard!r}: the candidate has no {metric}")
            )
        elif not _OPS[op](value, bound):
            failed.append(("guard_failed", f"guard {guard!r} fails: {metric}={value:.4f}"))
    if require_same_split and champion_tags is not None:
        mine = candidate_tags.get("eval.test_split", "unknown")
        theirs = champion_tags.get("eval.test_split", "unknown")
        if "unknown" in (mine, theirs):
            failed.append(
                (
                    "test_split_unknown",
                    f"cannot tell whether candidate and holder share a test split "
                    f"(candidate {mine}, holder {theirs})",
                )
            )
        elif mine != theirs:
            failed.append(
                (
                    "different_test_split",
                    f"candidate was evaluated on test split {mine}, the holder on {theirs}: "
                    "their metrics are not comparable",
                )
            )
    return failed


def _baseline_checks(metrics: Mapping[str, float], names: Sequence[str]) -> list[Failure]:
    """Failures for each metric in ``names`` on which some baseline is not beaten."""
    failed: list[Failure] = []
    for name in names:
        value = metrics.get(name)
        baselines = {
            k.split(".")[1]: v
            for k, v in metrics.items()
            if k.startswith("baseline.") and k.endswith(f".{name}") and k.count(".") == 2
        }
        if value is None or math.isnan(value) or not baselines:
            failed.append(
                (
                    "baseline_missing",
                    f"cannot compare {name} with the baselines: the candidate has "
                    f"{name}={value} and baselines {sorted(baselines)}",
                )
            )
            continue
        beaten_by = {b: v for b, v in baselines.items() if not value > v}
        if beaten_by:
            shown = ", ".join(f"{b}={v:.4f}" for b, v in sorted(beaten_by.items()))
            failed.append(
                (
                    "baseline_not_beaten",
                    f"candidate {name}={value:.4f} does not beat baseline(s) {shown} on its own "
                    "test split",
                )
            )
    return failed
