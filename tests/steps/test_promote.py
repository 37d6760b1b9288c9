"""``replica promote`` against a real embedded MLflow: the champion moves only through the gate."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from replica.cli import app
from replica.registry.decisions import read_decisions
from replica.registry.pyfunc import input_example
from replica.registry.store import RegistryError, promotion_lock, resolve_tracking
from tests.steps.test_register import (  # noqa: F401 (empty_db: a fixture, used by name)
    closed_port,
    empty_db,
    fresh_db,
    register,
)

runner = CliRunner()
NAME = "replica-copy-detector"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path) -> MlflowClient:  # noqa: F811
    """An embedded SQLite store in tmp_path, chosen through MLFLOW_TRACKING_URI."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{fresh_db(empty_db, tmp_path / 'store')}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return MlflowClient(uri)


# These tests gate on pcc alone (no floor unless a test sets one: the default floor is a level
# accuracy); the baseline and test-size checks have their own test.
PCC_GATE = (
    "--set",
    "promote.copy.gate_metric=pcc",
    "--set",
    "promote.copy.beat_baselines=[]",
    "--set",
    "promote.copy.floor=0",
)


def promote(root: Path, params_file: Path, *extra: str) -> tuple[int, str, dict | None]:
    out = root / "promotion.json"
    out.unlink(missing_ok=True)
    reg = root / "registry" / "registration.json"
    args = ["--registration", str(reg), "--output", str(out), "--params", str(params_file)]
    res = runner.invoke(app, ["promote", *args, *PCC_GATE, *extra])
    doc = json.loads(out.read_text()) if out.exists() else None
    return res.exit_code, res.output, doc


def champion(client: MlflowClient, alias: str = "champion") -> str:
    return str(client.get_model_version_by_alias(NAME, alias).version)


def test_champion_moves_only_through_the_gate(
    tmp_path: Path, params_file: Path, store: MlflowClient
) -> None:
    floor = ("--set", "promote.copy.floor=0.3")

    # 1. first version: passes the floor
    register(tmp_path / "v1", params_file, pcc=0.5)
    code, out, doc = promote(tmp_path / "v1", params_file, *floor)
    assert code == 0, out
    assert "[promote] PROMOTED replica-copy-detector v1" in out
    assert doc and doc["decision"] == "promoted" and doc["code"] == "first_above_floor"
    assert champion(store) == "1"

    # 2. a worse candidate is refused; the champion stays
    register(tmp_path / "v2", params_file, pcc=0.4)
    code, out, doc = promote(tmp_path / "v2", params_file, *floor)
    assert code == 0, out
    assert "REFUSED replica-copy-detector v2" in out and "@champion -> v1" in out
    assert doc and doc["decision"] == "refused" and doc["code"] == "not_better"
    assert doc["champion_version_before"] == "1" and doc["alias_version"] == "1"
    assert champion(store) == "1"
    tags = store.get_model_version(NAME, "2").tags
    assert tags["promote.decision"] == "refused" and tags["promote.champion_value"] == "0.5"

    # 3. a better one takes the alias; the old champion becomes `previous`
    register(tmp_path / "v3", params_file, pcc=0.7)
    code, out, doc = promote(tmp_path / "v3", params_file, *floor)
    assert code == 0, out
    assert doc and doc["decision"] == "promoted" and doc["previous_version"] == "1"
    assert champion(store) == "3" and champion(store, "previous") == "1"
    assert store.get_model_version(NAME, "3").tags["promote.code"] == "beats_champion"

    # 4. promoting it again changes nothing
    code, out, doc = promote(tmp_path / "v3", params_file, *floor)
    assert code == 0 and doc and doc["code"] == "already_holds"
    assert champion(store) == "3" and champion(store, "previous") == "1"

    # 5. the champion serves: image bytes in, levels out
    pred = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(input_example())
    assert pred["predicted"].between(0, 1).all() and pred["level"].between(0, 5).all()

    # 6. rollback gives the alias back to `previous`; a second rollback undoes it
    code, out, doc = promote(tmp_path / "v3", params_file, "--rollback")
    assert code == 0 and "ROLLED BACK" in out, out
    assert doc and doc["decision"] == "rollback" and doc["alias_version"] == "1"
    assert champion(store) == "1" and champion(store, "previous") == "3"
    assert store.get_model_version(NAME, "1").tags["promote.rollback"].startswith("restored")
    promote(tmp_path / "v3", params_file, "--rollback")
    assert champion(store) == "3" and champion(store, "previous") == "1"

    # every decision is in the decisions table, oldest first; the lock is gone
    table = read_decisions(tmp_path / "reports" / "promote" / "decisions.jsonl")
    assert [(r["decision"], r["alias_version"]) for r in table] == [
        ("promoted", "1"),
        ("refused", "1"),
        ("promoted", "3"),
        ("promoted", "3"),
        ("rollback", "1"),
        ("rollback", "3"),
    ]
    assert [m.name for m in store.search_registered_models()] == [NAME]


def test_required_checks_refuse_a_better_candidate(
    tmp_path: Path, params_file: Path, store: MlflowClient
) -> None:
    register(tmp_path / "v1", params_file, pcc=0.5)
    assert promote(tmp_path / "v1", params_file)[0] == 0
    # much better, but its data failed a GX suite
    register(tmp_path / "v2", params_file, pcc=0.9, valid=False)
    code, _, doc = promote(tmp_path / "v2", params_file)
    assert code == 0 and doc and doc["code"] == "validation_failed" and "pairs" in doc["reason"]
    # much better, but evaluated on another test split
    register(tmp_path / "v3", params_file, pcc=0.9, test_ids=("p1", "p9"))
    code, _, doc = promote(tmp_path / "v3", params_file)
    assert code == 0 and doc and doc["code"] == "different_test_split"
    # a bias guard it breaks
    register(tmp_path / "v4", params_file, pcc=0.9)
    code, _, doc = promote(
        tmp_path / "v4", params_file, "--set", "promote.copy.guards=['rmse<=0.1']"
    )
    assert code == 0 and doc and doc["code"] == "guard_failed"
    assert champion(store) == "1" and "previous" not in store.get_registered_model(NAME).aliases


def test_a_candidate_must_beat_its_baselines_on_a_large_enough_test_split(
    tmp_path: Path, params_file: Path, store: MlflowClient
) -> None:
    gate = ["--set", "promote.copy.gate_metric=level_acc"]
    gate += ["--set", "promote.copy.beat_baselines=[level_acc]"]
    base = {"baseline.phash.level_acc": 0.4, "baseline.histhog.level_acc": 0.5, "n_test_sources": 3}
    register(tmp_path / "v1", params_file, pcc=0.9, metrics={"level_acc": 0.45, **base})
    code, out, doc = promote(tmp_path / "v1", params_file, *gate)
    assert code == 0 and doc and doc["code"] == "baseline_not_beaten", out
    assert "histhog=0.5000" in doc["reason"] and not store.get_registered_model(NAME).aliases
    register(tmp_path / "v2", params_file, pcc=0.9, metrics={"level_acc": 0.6, **base})
    small = ["--set", "promote.copy.min_test_sources=4"]
    code, out, doc = promote(tmp_path / "v2", params_file, *gate, *small)
    assert code == 0 and doc and doc["code"] == "test_split_too_small", out
    code, out, doc = promote(
        tmp_path / "v2", params_file, *gate, "--set", "promote.copy.min_test_sources=3"
    )
    assert code == 0 and doc and doc["decision"] == "promoted", out
    assert champion(store) == "2"


def test_rollback_without_previous_is_an_error_and_changes_nothing(
    tmp_path: Path, params_file: Path, store: MlflowClient
) -> None:
    register(tmp_path, params_file, pcc=0.5)
    promote(tmp_path, params_file)
    code, out, doc = promote(tmp_path, params_file, "--rollback")
    assert code == 2 and "needs both @champion and @previous" in out and doc is None
    assert champion(store) == "1"
    assert [m.name for m in store.search_registered_models()] == [NAME]  # lock released


def test_first_version_below_floor_is_refused(
    tmp_path: Path, params_file: Path, store: MlflowClient
) -> None:
    register(tmp_path, params_file, pcc=0.1)
    code, out, doc = promote(tmp_path, params_file, "--set", "promote.copy.floor=0.3")
    assert code == 0, out
    assert doc and doc["code"] == "below_floor" and doc["alias_version"] is None
    assert not store.get_registered_model(NAME).aliases


def test_missing_metric_is_an_error_and_changes_nothing(
    tmp_path: Path, params_file: Path, store: MlflowClient
) -> None:
    register(tmp_path, params_file, pcc=0.5)
    code, out, doc = promote(tmp_path, params_file, "--set", "promote.copy.gate_metric=auc")
    assert code == 2
    assert "[promote] error" in out and "no metric 'auc'" in out
    assert doc is None
    assert not store.get_registered_model(NAME).aliases
    assert "promote.decision" not in store.get_model_version(NAME, "1").tags
    assert [m.name for m in store.search_registered_models()] == [NAME]  # lock released


def test_unreachable_tracking_server_is_exit_2_and_fast(
    tmp_path: Path, params_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = tmp_path / "registry" / "registration.json"
    reg.parent.mkdir(parents=True)
    reg.write_text(json.dumps({"model_name": NAME, "version": "1"}))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    start = time.monotonic()
    code, out, doc = promote(tmp_path, params_file)
    assert code == 2 and "unreachable" in out and doc is None
    assert time.monotonic() - start < 10


def test_bad_guard_is_a_params_error_with_exit_2(
    tmp_path: Path, params_file: Path, store: MlflowClient
) -> None:
    register(tmp_path, params_file, pcc=0.5)
    code, out, doc = promote(tmp_path, params_file, "--set", "promote.copy.guards=['rmse=<0.1']")
    assert code == 2 and "[promote] error: promote.copy.guards" in out and doc is None
    assert not store.get_registered_model(NAME).aliases


LOCK = f"{NAME}.lock"


def lock_owner(client: MlflowClient) -> str | None:
    found = [m for m in client.search_registered_models() if m.name == LOCK]
    return found[0].tags["owner"] if found else None


def test_promotion_lock_excludes_breaks_stale_and_releases_only_its_own(
    store: MlflowClient,
) -> None:
    tracking = resolve_tracking(os.environ, Path.cwd())
    # held by a live promoter: a second one waits, then fails naming the holder
    with promotion_lock(store, tracking, NAME, "a"):
        assert lock_owner(store) == "a"
        with (
            pytest.raises(RegistryError, match="held by a since"),
            promotion_lock(store, tracking, NAME, "b", wait_s=0.3),
        ):
            pass
        assert lock_owner(store) == "a"
    assert lock_owner(store) is None
    # released when the body raises
    with pytest.raises(KeyError), promotion_lock(store, tracking, NAME, "a"):
        raise KeyError("boom")
    assert lock_owner(store) is None
    # a lock left by a dead promoter (older than the TTL) is broken
    store.create_registered_model(LOCK, tags={"owner": "dead", "acquired_at": "1000.0"})
    with promotion_lock(store, tracking, NAME, "c", wait_s=0.3):
        assert lock_owner(store) == "c"
    assert lock_owner(store) is None
    # a holder whose lock was broken and retaken meanwhile leaves the new holder's lock alone
    with promotion_lock(store, tracking, NAME, "slow"):
        store.delete_registered_model(LOCK)
        store.create_registered_model(LOCK, tags={"owner": "e", "acquired_at": f"{time.time()}"})
    assert lock_owner(store) == "e"
