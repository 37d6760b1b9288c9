"""Lineage: which data, code and params versions a model came from (read from DVC's lock)."""

from replica.lineage.dvclock import (
    LockEntry,
    LockError,
    StageLock,
    parse_dvc_lock,
    read_dvc_lock,
)

__all__ = ["LockEntry", "LockError", "StageLock", "parse_dvc_lock", "read_dvc_lock"]
