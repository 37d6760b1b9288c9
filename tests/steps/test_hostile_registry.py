"""Faults around the registry: a promoter killed while holding the lock, credentials in the
tracking URI, a missing GX report (issue 13, probes 7, 8 and 15)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from replica.registry.store import RegistryError, promotion_lock, resolve_tracking
from tests.steps.test_promote import LOCK, NAME, lock_owner, promote
from tests.steps.test_promote import store as store  # a fixture, used by name
from tests.steps.test_register import closed_port, make_inputs
from tests.steps.test_register import empty_db as empty_db

HOLDER = """
import os, sys, time
from pathlib import Path
from mlflow import MlflowClient
from replica.registry.store import promotion_lock, resolve_tracking
tracking = resolve_tracking(os.environ, Path.cwd())
with promotion_lock(MlflowClient(tracking.uri), tracking, sys.argv[1], "victim"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_lock_left_by_a_killed_promoter_on_this_host_is_broken_at_once(
    store: MlflowClient,
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, NAME], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert lock_owner(store) == "victim"
    tags = store.get_registered_model(LOCK).tags
    assert (tags["host"], tags["pid"]) == (socket.gethostname(), str(holder.pid))
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    tracking = resolve_tracking(os.environ, Path.cwd())
    started = time.monotonic()
    with promotion_lock(store, tracking, NAME, "next", wait_s=30, ttl_s=3600):
        assert lock_owner(store) == "next"
    assert time.monotonic() - started < 5  # not the 10 minutes of the TTL
    assert lock_owner(store) is None


def test_a_live_or_remote_holder_is_waited_for_and_named(
    store: MlflowClient,
) -> None:
    tracking = resolve_tracking(os.environ, Path.cwd())
    now = f"{time.time():.3f}"
    tags = {"owner": "far", "acquired_at": now, "host": "other-host", "pid": "4242"}
    store.create_registered_model(LOCK, tags=tags)
    with (
        pytest.raises(RegistryError, match=r"held by far since \d+ \(pid 4242 on other-host\)"),
        promotion_lock(store, tracking, NAME, "b", wait_s=0.5, ttl_s=3600),
    ):
        pass
    store.delete_registered_model(LOCK)
    # this host, a live pid but another process's start time: the pid was reused, break it
    mine = {"owner": "reused", "acquired_at": now, "host": socket.gethostname()}
    store.create_registered_model(LOCK, tags=mine | {"pid": str(os.getpid()), "pid_started": "1"})
    with promotion_lock(store, tracking, NAME, "c", wait_s=5, ttl_s=3600):
        assert lock_owner(store) == "c"


def test_credentials_never_reach_the_output(
    tmp_path: Path, params_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = tmp_path / "registry" / "registration.json"
    reg.parent.mkdir(parents=True)
    reg.write_text(json.dumps({"model_name": NAME, "version": "1"}))
    uri = f"http://alice:s3cr3t-pass@127.0.0.1:{closed_port()}/"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-abcdef0123456")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    code, out, _ = promote(tmp_path, params_file)
    assert code == 2 and "unreachable" in out
    assert "s3cr3t" not in out and "alice" not in out and "***@127.0.0.1" in out
    # the same for the lineage command and for an error raised deep inside MLflow
    from typer.testing import CliRunner

    from replica.cli import app

    res = CliRunner().invoke(app, ["lineage", "model", f"{NAME}@champion"])
    assert res.exit_code == 2 and "s3cr3t" not in res.output and "***@" in res.output
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/tok-abcdef0123456/m.db")
    code, out, _ = promote(tmp_path, params_file)
    assert code == 2 and "tok-abcdef0123456" not in out and "***" in out


def test_a_missing_report_fails_validate_passed(
    tmp_path: Path,
    params_file: Path,
    store: MlflowClient,
) -> None:
    from typer.testing import CliRunner

    from replica.cli import app

    model, metrics = make_inputs(tmp_path, pcc=0.5)
    (tmp_path / "reports" / "dedup.json").unlink()  # validate@dedup never ran
    out = tmp_path / "registry" / "registration.json"
    args = ["register", "--model", str(model), "--metrics", str(metrics), "--reports"]
    args += [str(tmp_path / "reports"), "--output", str(out), "--params", str(params_file)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "GX report(s) ['dedup'] missing" in res.output
    reg = json.loads(out.read_text())
    assert reg["tags"]["validate.dedup"] == "missing"
    assert reg["tags"]["validate.passed"] == "false"
    assert reg["tags"]["validate.extract"] == reg["tags"]["validate.pairs"] == "passed"
    code, out, doc = promote(tmp_path, params_file)
    assert code == 0 and doc is not None and not doc["promoted"]
    assert doc["failed_checks"] == ["validation_failed"] and "dedup missing" in doc["reason"]
