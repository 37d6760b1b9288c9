"""Process facts for locks and workers: is a (pid, start time) still alive; die with the parent."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
START_SLACK_S = 1.0  # psutil start times are rounded to the clock tick


def started_at(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), or None when there is no such process
    (a zombie, dead but not yet reaped, counts as none)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # alive, but its start time is not ours to read
        return -1.0


def alive(pid: int, started: float | None) -> bool:
    """Whether ``pid`` runs and is the process that started at ``started`` (not a reused pid).

    Without a start time, any process with that pid counts as alive.
    """
    now = started_at(pid)
    if now is None:
        return False
    if started is None or now < 0:
        return True
    return abs(now - started) <= START_SLACK_S


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux ``PR_SET_PDEATHSIG``).

    Called first thing in a worker forked by ``parent``, so a ``kill -9`` of the main process
    leaves no orphans that keep CPU and memory; if ``parent`` died before the call, exit at
    once. Elsewhere a worker still exits when its pipe to the parent closes.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)
