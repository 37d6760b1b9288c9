"""The workspace lease (one run writes the workspace at a time) and the published record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replica.workspace import (
    LeaseError,
    acquire,
    dataset_hash,
    publish,
    read_lease,
    release,
)

LOCK = """\
schema: '2.0'
stages:
  pairs:
    cmd: replica pairs --input data/dedup --output data/pairs
    outs:
    - path: data/pairs
      hash: md5
      md5: 1111.dir
"""


class Clock:
    """A fake clock that ``sleep`` moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def test_one_owner_at_a_time_and_the_waiter_is_told_who_holds_it(tmp_path: Path) -> None:
    path, clock = tmp_path / "lease.json", Clock()
    acquire(path, "refresh/1", ttl_s=3600, wait_s=0, clock=clock)
    with pytest.raises(LeaseError, match=r"held by refresh/1 until .*waited 30 s"):
        acquire(path, "retrain/7", 3600, wait_s=30, poll_s=10, clock=clock, sleep=clock.sleep)
    assert clock.now == 1030.0, "it waited, polling, before giving up"
    assert read_lease(path).owner == "refresh/1"  # type: ignore[union-attr]


def test_the_waiter_gets_it_once_released_and_only_the_owner_releases(tmp_path: Path) -> None:
    path = tmp_path / "lease.json"
    acquire(path, "refresh/1", 3600, 0)
    with pytest.raises(LeaseError, match="held by refresh/1, not retrain/7"):
        release(path, "retrain/7")
    assert release(path, "refresh/1") is True
    assert release(path, "refresh/1") is False  # nothing held: a retried unlock is harmless
    assert acquire(path, "retrain/7", 3600, 0).owner == "retrain/7"


def test_a_retried_task_takes_its_own_lease_again_and_extends_it(tmp_path: Path) -> None:
    path, clock = tmp_path / "lease.json", Clock()
    first = acquire(path, "refresh/1", 100, 0, clock=clock)
    clock.now += 50
    again = acquire(path, "refresh/1", 100, 0, clock=clock)
    assert again.expires_at == first.expires_at + 50


def test_an_expired_lease_is_broken_but_a_live_one_never(tmp_path: Path) -> None:
    path, clock = tmp_path / "lease.json", Clock()
    acquire(path, "crashed/1", ttl_s=60, wait_s=0, clock=clock)
    clock.now += 61
    assert acquire(path, "retrain/2", 60, 0, clock=clock).owner == "retrain/2"
    assert not list(tmp_path.glob("*.stale"))


def test_publish_names_a_version_once(tmp_path: Path) -> None:
    lock, record = tmp_path / "dvc.lock", tmp_path / ".replica" / "published.json"
    lock.write_text(LOCK)
    digest = dataset_hash(lock, "data/pairs")
    assert digest == "1111.dir"
    assert publish(record, "data/pairs", digest) is True
    assert publish(record, "data/pairs", digest) is False
    assert publish(record, "data/pairs", "2222.dir") is True
    assert json.loads(record.read_text()) == {"data/pairs": "2222.dir"}
    with pytest.raises(ValueError, match="records no output 'data/model'"):
        dataset_hash(lock, "data/model")
