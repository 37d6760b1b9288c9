"""The promotion gate: floor for the first version, strict improvement after, ties refused."""

from __future__ import annotations

import math

import pytest

from replica.registry.gate import GateRule, decide, decision_tags, parse_guard, required_checks

HIGH = GateRule("pcc", higher_is_better=True, min_improvement=0.0, floor=0.3)
LOW = GateRule("rmse", higher_is_better=False, min_improvement=0.01, floor=0.5)


@pytest.mark.parametrize(
    ("rule", "candidate", "champion", "promoted", "code"),
    [
        (HIGH, 0.3, None, True, "first_above_floor"),  # floor is inclusive
        (HIGH, 0.29, None, False, "below_floor"),
        (HIGH, 0.6, 0.5, True, "beats_champion"),
        (HIGH, 0.5, 0.5, False, "not_better"),  # tie keeps the champion
        (HIGH, 0.4, 0.5, False, "not_better"),
        (HIGH, 0.2, 0.1, False, "below_floor"),  # better than a weak champion is not enough
        (HIGH, math.nan, None, False, "metric_nan"),
        (HIGH, 0.4, math.nan, True, "beats_champion"),  # a broken champion is replaced
        (LOW, 0.5, None, True, "first_above_floor"),  # for lower-is-better the floor is a cap
        (LOW, 0.51, None, False, "below_floor"),
        (LOW, 0.28, 0.30, True, "beats_champion"),
        (LOW, 0.295, 0.30, False, "not_better"),  # gain 0.005 <= min_improvement 0.01
    ],
)
def test_gate(
    rule: GateRule, candidate: float, champion: float | None, promoted: bool, code: str
) -> None:
    d = decide(rule, candidate, champion, "2", "1" if champion is not None else None)
    assert (d.promoted, d.code) == (promoted, code), d.reason
    assert d.label == ("promoted" if promoted else "refused")
    assert rule.metric in d.reason


def test_version_already_holding_the_alias_stays() -> None:
    d = decide(HIGH, 0.5, 0.5, candidate_version="3", champion_version="3")
    assert d.promoted and d.code == "already_holds"


def test_reason_names_both_values_and_the_champion_version() -> None:
    d = decide(HIGH, 0.42, 0.5, "4", "2")
    assert "0.4200" in d.reason and "0.5000" in d.reason and "v2" in d.reason


def test_to_dict_is_json_safe_for_nan() -> None:
    assert decide(HIGH, math.nan, None).to_dict()["candidate_value"] is None


def test_decision_tags_are_strings_with_none_for_no_champion() -> None:
    tags = decision_tags(decide(HIGH, 0.4, None), HIGH, "champion", None)
    assert tags["promote.decision"] == "promoted" and tags["promote.metric"] == "pcc"
    assert tags["promote.champion_value"] == tags["promote.champion_version"] == "none"
    assert all(isinstance(v, str) for v in tags.values())


GOOD = {"validate.passed": "true", "eval.test_split": "s1"}


@pytest.mark.parametrize(
    ("tags", "metrics", "champion", "guards", "codes"),
    [
        (GOOD, {}, None, (), []),
        (GOOD, {}, {"eval.test_split": "s1"}, (), []),
        (GOOD, {}, {"eval.test_split": "s2"}, (), ["different_test_split"]),
        (GOOD, {}, {}, (), ["test_split_unknown"]),
        (
            {**GOOD, "validate.passed": "false", "validate.pairs": "failed"},
            {},
            None,
            (),
            ["validation_failed"],
        ),
        ({"eval.test_split": "s1"}, {}, None, (), ["validation_missing"]),
        (GOOD, {"rmse": 30.0}, None, ("rmse<=40",), []),
        (GOOD, {"rmse": 45.0}, None, ("rmse<=40",), ["guard_failed"]),
        (GOOD, {}, None, ("bias_gap<0.1",), ["guard_metric_missing"]),
    ],
)
def test_required_checks(
    tags: dict, metrics: dict, champion: dict | None, guards: tuple, codes: list[str]
) -> None:
    failed = required_checks(tags, metrics, champion, guards)
    assert [code for code, _ in failed] == codes


def test_a_failed_check_refuses_even_a_much_better_candidate() -> None:
    failed = required_checks({"validate.passed": "false", "validate.pairs": "failed"}, {}, None)
    d = decide(HIGH, 0.9, 0.4, "2", "1", failed)
    assert not d.promoted and d.code == "validation_failed" and "pairs" in d.reason


def test_checks_can_be_switched_off() -> None:
    assert required_checks({}, {}, {}, require_validation=False, require_same_split=False) == []


def test_guards_parse_or_fail_with_the_rule() -> None:
    assert parse_guard(" rmse <= 40 ") == ("rmse", "<=", 40.0)
    for bad in ("rmse = 40", "rmse<=high", "<=3"):
        with pytest.raises(ValueError, match="guard"):
            parse_guard(bad)


BASELINE_METRICS = {
    "level_acc": 0.7,
    "pcc_0_3": 80.0,
    "baseline.phash.level_acc": 0.4,
    "baseline.histhog.level_acc": 0.55,
    "baseline.phash.pcc_0_3": 30.0,
    "baseline.histhog.pcc_0_3": 82.0,
    "n_test": 300.0,
    "n_test_sources": 50.0,
}


def _codes(metrics: dict, **kwargs: object) -> list[str]:
    return [c for c, _ in required_checks({"validate.passed": "true"}, metrics, None, **kwargs)]


def test_the_candidate_must_beat_every_baseline_of_its_own_evaluation() -> None:
    assert _codes(BASELINE_METRICS, beat_baselines=["level_acc"]) == []
    failed = required_checks(
        {"validate.passed": "true"}, BASELINE_METRICS, None, beat_baselines=["level_acc", "pcc_0_3"]
    )
    assert [c for c, _ in failed] == ["baseline_not_beaten"]
    assert "histhog=82.0000" in failed[0][1] and "phash" not in failed[0][1]
    tie = BASELINE_METRICS | {"baseline.histhog.level_acc": 0.7}
    assert _codes(tie, beat_baselines=["level_acc"]) == ["baseline_not_beaten"]
    no_baselines = {"level_acc": 0.9}
    assert _codes(no_baselines, beat_baselines=["level_acc"]) == ["baseline_missing"]


def test_a_test_split_too_small_is_refused() -> None:
    assert _codes(BASELINE_METRICS, min_test_pairs=300, min_test_sources=50) == []
    assert _codes(BASELINE_METRICS, min_test_pairs=301) == ["test_split_too_small"]
    assert _codes(BASELINE_METRICS, min_test_sources=51) == ["test_split_too_small"]
    assert _codes({"level_acc": 0.9}, min_test_sources=1) == ["test_split_too_small"]
