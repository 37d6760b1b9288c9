"""A process pool for ``analyse`` with a hard per-record time limit, whose workers die with it.

``ProcessPoolExecutor`` cannot stop one task: a page that makes a parser spin would hold a
worker for ever. Here each worker analyses one record at a time and the parent knows when it
started; past ``extract.max_seconds_per_record`` the worker is killed (SIGKILL, which also stops
C code such as lxml's parser) and replaced, and the record is a ``record_timeout`` reject. A
worker that dies on its own (a crash, the OOM killer) makes its record an ``extract_failed``
reject. Workers ask the kernel to kill them when the parent dies (``die_with_parent``), so a
``kill -9`` of ``replica extract`` leaves no orphan workers; idle ones also exit when their
pipe closes. Results come back in record order, at most ``window`` records in flight or waiting.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any

from replica.config import ExtractConfig
from replica.extract.records import WebRecord
from replica.extract.run import Analysed, analyse_safely, preload
from replica.guard.procs import die_with_parent

JOIN_S = 2.0  # how long a closing pool waits for a worker to exit before killing it


def _serve(conn: Connection, cfg: ExtractConfig, parent: int) -> None:
    """A worker: analyse records from ``conn`` until it closes."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            rec = conn.recv()
        except EOFError:
            return
        conn.send(analyse_safely(rec, cfg))


class _Worker:
    """One worker process, its pipe, and the record it is on (sequence number, record, start)."""

    def __init__(self, ctx: Any, cfg: ExtractConfig):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, cfg, os.getpid()), daemon=True)
        self.proc.start()
        child.close()
        self.task: tuple[int, WebRecord, float] | None = None

    def stop(self, wait_s: float) -> None:
        self.conn.close()  # an idle worker sees EOF and exits
        self.proc.join(wait_s)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


class RecordPool:
    """``workers`` processes analysing records under ``cfg``; use as a context manager."""

    def __init__(self, workers: int, cfg: ExtractConfig, window: int | None = None):
        # fork: a worker starts in milliseconds, so replacing a killed one is cheap
        self._ctx = mp.get_context("fork" if sys.platform.startswith("linux") else None)
        self.cfg = cfg
        self.window = window or 4 * workers
        preload()
        self.workers = [_Worker(self._ctx, cfg) for _ in range(workers)]

    def __enter__(self) -> RecordPool:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for w in self.workers:
            w.stop(JOIN_S if et is None else 0.0)

    def map(self, records: Iterable[WebRecord]) -> Iterator[Analysed]:
        """``analyse_safely`` of every record, in order, with the time limit applied."""
        limit = self.cfg.max_seconds_per_record
        todo = iter(records)
        done: dict[int, Analysed] = {}
        sent = emitted = 0
        exhausted = False
        while True:
            # 1. give every idle worker a record, within the window
            for i, w in enumerate(self.workers):
                if w.task is None and not exhausted and sent - emitted < self.window:
                    rec = next(todo, None)
                    if rec is None:
                        exhausted = True
                        break
                    self.workers[i] = self._send(w, rec, sent)
                    sent += 1
            # 2. hand on what is ready, in order
            while emitted in done:
                yield done.pop(emitted)
                emitted += 1
            busy = [w for w in self.workers if w.task is not None]
            if not busy:
                if exhausted:
                    return
                continue
            # 3. wait for a result or the first deadline; kill workers past theirs
            timeout = None
            if limit > 0:
                first = min(w.task[2] for w in busy if w.task is not None)
                timeout = max(0.0, first + limit - time.monotonic())
            ready = wait([w.conn for w in busy], timeout)
            for w in busy:
                assert w.task is not None
                seq, rec, started = w.task
                if w.conn in ready:
                    try:
                        done[seq] = w.conn.recv()
                    except (EOFError, OSError):
                        done[seq] = self._lost(w, rec)
                    else:
                        w.task = None
                elif limit > 0 and time.monotonic() - started >= limit:
                    detail = f"analysis took more than max_seconds_per_record={limit:g}"
                    done[seq] = _reject(rec, "record_timeout", detail)
                    self._replace(w)

    def _send(self, w: _Worker, rec: WebRecord, seq: int) -> _Worker:
        """Give ``rec`` to ``w`` (or to its replacement, if ``w`` died while idle)."""
        try:
            w.conn.send(rec)
        except OSError:  # a broken pipe: the worker is gone
            w = self._replace(w)
            w.conn.send(rec)
        w.task = (seq, rec, time.monotonic())
        return w

    def _lost(self, w: _Worker, rec: WebRecord) -> Analysed:
        w.proc.join(JOIN_S)
        detail = f"worker process died (exit code {w.proc.exitcode}) while analysing the record"
        self._replace(w)
        return _reject(rec, "extract_failed", detail)

    def _replace(self, w: _Worker) -> _Worker:
        w.proc.kill()
        w.stop(0.0)
        new = _Worker(self._ctx, self.cfg)
        self.workers[self.workers.index(w)] = new
        return new


def _reject(rec: WebRecord, reason: str, detail: str) -> Analysed:
    return Analysed(replace(rec, body=None), "reject", reason=reason, detail=detail)
