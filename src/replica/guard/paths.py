"""Relative paths that stay inside their dataset: blob uris in tables, files a step links.

A dataset's ``uri`` columns hold POSIX paths relative to the dataset directory. Refused: empty,
absolute (``/x``, ``C:x``), a backslash, an empty, ``.`` or ``..`` segment, or any control
character. ``inside`` also resolves symlinks, so a link pointing out of the dataset is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from replica.guard.urls import CONTROL_CHARS, control_char

# The same rule as ``unsafe_relpath``, as one regex for Great Expectations.
RELPATH_REGEX = (
    r"^(?![A-Za-z]:)(?!/)(?!.*\\)(?!(?:.*/)?\.{1,2}(?:/|$))(?!.*//)(?!.*/$)"
    f"[^{CONTROL_CHARS}]+\\Z"
)
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePath(ValueError):
    """A relative path would leave its directory; the message names the rule and the path."""


def unsafe_relpath(rel: str) -> str | None:
    """Why ``rel`` is not a safe relative path inside a dataset, or None when it is."""
    if not rel:
        return "empty path"
    if bad := control_char(rel):
        return f"control character {bad}"
    if rel.startswith("/") or _DRIVE.match(rel):
        return "absolute path"
    if "\\" in rel:
        return "backslash in path"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "empty, '.' or '..' segment"
    return None


def inside(root: Path, rel: str) -> Path:
    """``root / rel`` after checking ``rel`` stays inside ``root``, symlinks resolved."""
    why = unsafe_relpath(rel)
    if why:
        raise UnsafePath(f"{rel!r} leaves its dataset: {why}")
    path = Path(root) / rel
    base = Path(root).resolve()
    if not path.resolve().is_relative_to(base):
        raise UnsafePath(f"{rel!r} resolves outside {str(base)!r} (a symlink)")
    return path
