"""The promotion gate: may a candidate model version take the alias from the current holder?

Pure decision on numbers, so every rule is unit-tested without a registry:
- the candidate's gate metric must be a number (NaN is refused) and meet ``floor``
  (for lower-is-better metrics the floor is a ceiling);
- with no current holder, meeting the floor is enough;
- otherwise the candidate must beat the holder by strictly more than ``min_improvement``:
  a tie keeps the champion, because moving it would change the served model for no gain;
- a candidate that already holds the alias stays (re-running promote changes nothing).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


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
) -> Decision:
    """Apply the gate to the candidate's metric and the current holder's (None when none)."""
    m = rule.metric

    def verdict(ok: bool, code: str, reason: str) -> Decision:
        return Decision(ok, code, reason, candidate, champion)

    if champion_version is not None and champion_version == candidate_version:
        return verdict(True, "already_holds", f"v{candidate_version} already holds the alias")

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
