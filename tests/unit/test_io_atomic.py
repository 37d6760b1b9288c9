"""Atomic outputs under faults: ``kill -9`` mid-write, readers during the swap, the umask
(issue 13, probes 11 and 13)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from replica.contracts import REJECTS
from replica.io import _exchange, atomic_dir, atomic_write_text, sweep_stale

WRITER = """
import sys, time
from pathlib import Path
from replica.io import atomic_dir
with atomic_dir(Path(sys.argv[1])) as tmp:
    (tmp / "part").write_text("half")
    print(tmp.name, flush=True)
    time.sleep(600)
"""


def test_a_writer_killed_mid_write_leaves_nothing_after_the_next_run(tmp_path: Path) -> None:
    target = tmp_path / "extract"
    with atomic_dir(target) as tmp:
        (tmp / "v").write_text("1")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    stale = tmp_path / writer.stdout.readline().strip()
    live = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE)
    assert live.stdout is not None and live.stdout.readline()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert stale.is_dir() and (target / "v").read_text() == "1"  # the old output is intact
    with atomic_dir(target) as tmp:
        (tmp / "v").write_text("2")
    left = sorted(p.name for p in tmp_path.iterdir())
    live.kill()
    live.wait()
    assert not stale.exists() and (target / "v").read_text() == "2"
    assert len(left) == 2 and "extract" in left  # the live writer's temp dir stays
    assert sweep_stale(target) and sorted(p.name for p in tmp_path.iterdir()) == ["extract"]


def test_a_stale_old_dir_and_temp_file_of_a_dead_writer_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from replica.io import _host_id

    old = tmp_path / f".out.{_host_id()}.{dead.pid}.0123abcd.old"
    old.mkdir()
    (old / "x").write_text("old output")
    tmp_file = tmp_path / f".r.json.{_host_id()}.{dead.pid}.89abcdef.tmp"
    tmp_file.write_text("half")
    other_host = tmp_path / f".out.ffffffff.{dead.pid}.0123abcd.tmp"
    other_host.mkdir()
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "y").write_text("new")
    atomic_write_text(tmp_path / "r.json", "{}")
    assert not old.exists() and not tmp_file.exists()
    assert other_host.exists()  # another host's writer may be alive: not ours to judge


def test_the_output_is_never_absent_during_a_swap(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "n").write_text("0")
    assert _exchange(tmp_path / "out", tmp_path / "out")  # renameat2 works on this file system
    missing, stop = [], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                os.stat(target / "n")
            except FileNotFoundError:
                missing.append(1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(200):
            with atomic_dir(target) as tmp:
                (tmp / "n").write_text(str(i))
    finally:
        stop.set()
        watcher.join()
    assert not missing and (target / "n").read_text() == "199"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize(("umask", "dirs", "files"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_outputs_follow_the_umask(tmp_path: Path, umask: int, dirs: int, files: int) -> None:
    old = os.umask(umask)
    try:
        with atomic_dir(tmp_path / "out") as tmp:
            REJECTS.write([], tmp)
            (tmp / "blob").write_bytes(b"x")
        atomic_write_text(tmp_path / "report.json", "{}")
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(tmp_path / "out") == dirs
    assert mode(tmp_path / "out" / "rejects.parquet") == files
    assert mode(tmp_path / "report.json") == files
