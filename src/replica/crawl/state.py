"""The crawl's durable state in SQLite: frontier (seen units), rejects, WARC position, hosts.

A *unit* is one thing to collect: a local file, an ``s3://`` object or a URL with its role
(page, image, feed, sitemap). ``(role, key)`` is unique, so a URL is fetched once per crawl.
``commit`` runs in one transaction: the unit is done, its rejects and the units it found are
stored, the WARC position (files and committed length) and per-host next request times move on.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from replica.crawl.records import Reject

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    id INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT NOT NULL, key TEXT NOT NULL,
    label TEXT NOT NULL, source INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    UNIQUE (role, key));
CREATE TABLE IF NOT EXISTS rejects (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT, reason TEXT NOT NULL, url TEXT,
    record_id TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS hosts (host TEXT PRIMARY KEY, next_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS robots (host TEXT PRIMARY KEY, status INTEGER NOT NULL, body BLOB);
"""
# roles whose second sighting is an input of its own (a reject); a shared image is not
COUNTED_DUPLICATES = ("page", "feed", "sitemap")


class StateError(RuntimeError):
    """The state belongs to a different crawl (other sources or params)."""


@dataclass(frozen=True)
class Unit:
    """One frontier entry."""

    id: int
    role: str
    key: str
    label: str
    source: int


@dataclass(frozen=True)
class NewUnit:
    """A unit found while collecting another (a feed's link, a page's image)."""

    role: str
    key: str
    label: str
    source: int


class CrawlState:
    """Open (or create) ``path``; ``fingerprint`` must match the one it was created with."""

    def __init__(self, path: Path, fingerprint: str):
        self.db = sqlite3.connect(path, isolation_level=None)
        # WAL + NORMAL: a commit may be lost on power failure, never half-applied; that is safe
        # because WARC records are fsynced before the commit that points past them
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        stored = self._meta("fingerprint")
        if stored is None:
            self._set_meta("fingerprint", fingerprint)
        elif stored != fingerprint:
            raise StateError(
                f"{path} holds a crawl of other sources or params (fingerprint {stored}, "
                f"now {fingerprint}); use a new --output or remove it"
            )

    # -- reading --------------------------------------------------------------------------
    @property
    def seeded(self) -> bool:
        return self._meta("seeded") == "1"

    def pending(self, exclude: set[int], limit: int) -> list[Unit]:
        rows = self.db.execute(
            "SELECT id, role, key, label, source FROM units WHERE done = 0 ORDER BY id LIMIT ?",
            (limit + len(exclude),),
        ).fetchall()
        return [Unit(*r) for r in rows if r[0] not in exclude][:limit]

    def warc_position(self) -> tuple[list[str], int]:
        return json.loads(self._meta("warc_files") or "[]"), int(self._meta("warc_length") or 0)

    def robots(self) -> dict[str, tuple[int, bytes]]:
        rows = self.db.execute("SELECT host, status, body FROM robots").fetchall()
        return {h: (s, bytes(b or b"")) for h, s, b in rows}

    def host_times(self) -> dict[str, float]:
        return dict(self.db.execute("SELECT host, next_at FROM hosts").fetchall())

    def rejects(self) -> list[Reject]:
        rows = self.db.execute(
            "SELECT source, reason, url, record_id, detail FROM rejects ORDER BY id"
        ).fetchall()
        return [Reject(*r) for r in rows]

    def rows_out(self) -> int:
        return int(self._meta("rows_out") or 0)

    # -- writing --------------------------------------------------------------------------
    def seed(self, units: list[NewUnit]) -> None:
        """Insert the sources' units once, in order (a resumed crawl keeps its own)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO units (role, key, label, source) VALUES (?, ?, ?, ?)",
                [(u.role, u.key, u.label, u.source) for u in units],
            )
            self._set_meta("seeded", "1")

    def commit(
        self,
        unit_id: int,
        rejects: list[Reject],
        found: list[NewUnit],
        written: int,
        warc: tuple[list[str], int],
        robots: list[tuple[str, int, bytes]],
        hosts: dict[str, float],
    ) -> None:
        """Record a finished unit and everything it produced, atomically."""
        with self.db:
            self.db.execute("BEGIN")
            for u in found:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO units (role, key, label, source) VALUES (?, ?, ?, ?)",
                    (u.role, u.key, u.label, u.source),
                )
                if cur.rowcount == 0 and u.role in COUNTED_DUPLICATES:
                    rejects = [*rejects, Reject(u.label, "duplicate_url", u.key, None, u.role)]
            self.db.executemany(
                "INSERT INTO rejects (source, reason, url, record_id, detail) VALUES (?,?,?,?,?)",
                [(r.source, r.reason, r.url, r.record_id, r.detail) for r in rejects],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO robots (host, status, body) VALUES (?, ?, ?)", robots
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO hosts (host, next_at) VALUES (?, ?)", hosts.items()
            )
            self.db.execute("UPDATE units SET done = 1 WHERE id = ?", (unit_id,))
            self._set_meta("warc_files", json.dumps(warc[0]))
            self._set_meta("warc_length", str(warc[1]))
            self._set_meta("rows_out", str(self.rows_out() + written))

    def close(self) -> None:
        self.db.close()

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
