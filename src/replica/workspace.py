"""The shared workspace's lease and its record of published dataset versions.

Every orchestrated run (Airflow's ``dataset_refresh`` and ``retrain``, KFP's ``refresh`` and
``train``) and the workspace sync job write one DVC checkout on a ReadWriteMany volume. The
*lease* is a file in that checkout, created atomically (``O_CREAT | O_EXCL``, atomic on local
file systems and on NFSv4/EFS), that names its owner (a run id) and when it expires: a run takes
it before its first step and gives it back after its last, so two runs never write the
workspace at once, whichever orchestrator started them. A lease whose holder died is broken once
it has expired.

The *published record* says which version (DVC hash in ``dvc.lock``) of a dataset the last
announcement named, so a refresh that reproduced the same data announces nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from replica.lineage import read_dvc_lock

LEASE_FILE = ".replica/lease.json"
PUBLISHED_FILE = ".replica/published.json"


class LeaseError(RuntimeError):
    """The lease is held by another owner (or is not ours to release); the message says whose."""


@dataclass(frozen=True)
class Lease:
    """Who holds the workspace, since and until when (seconds since the epoch)."""

    owner: str
    acquired_at: float
    expires_at: float


def read_lease(path: Path) -> Lease | None:
    """The lease in ``path``; None when there is none (or it is being written or removed)."""
    try:
        return Lease(**json.loads(Path(path).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def acquire(
    path: Path,
    owner: str,
    ttl_s: float,
    wait_s: float,
    *,
    poll_s: float = 10.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Lease:
    """Take the lease for ``owner``, waiting up to ``wait_s`` for its holder to give it back.

    Taking it again as its owner (a retried task) is allowed and extends it. A lease past its
    expiry is broken. Waiting longer than ``wait_s`` raises LeaseError naming the holder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = clock() + wait_s
    while True:
        now = clock()
        lease = Lease(owner, now, now + ttl_s)
        held = read_lease(path)
        if held is not None and held.owner == owner:
            _write(path, lease)
            return lease
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = read_lease(path)
            if held is not None and held.expires_at < now:
                _break(path, held)
                continue
            if now >= deadline:
                who = f"{held.owner} until {_iso(held.expires_at)}" if held else "another run"
                raise LeaseError(
                    f"workspace lease {str(path)!r} is held by {who}; waited {wait_s:.0f} s"
                ) from None
            sleep(min(poll_s, max(deadline - now, 0.0)))
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(asdict(lease)))
            fh.flush()
            os.fsync(fh.fileno())
        return lease


def release(path: Path, owner: str) -> bool:
    """Give the lease back; False when there was none. Another owner's lease is an error."""
    held = read_lease(Path(path))
    if held is None:
        return False
    if held.owner != owner:
        raise LeaseError(f"workspace lease {str(path)!r} is held by {held.owner}, not {owner}")
    Path(path).unlink(missing_ok=True)
    return True


def _break(path: Path, stale: Lease) -> None:
    """Remove an expired lease, unless another waiter replaced it meanwhile (then keep theirs)."""
    aside = path.with_name(f"{path.name}.{os.getpid()}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # another waiter broke it first
        return
    if read_lease(aside) != stale:  # we moved a fresh lease aside: put it back
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    aside.unlink(missing_ok=True)


def _write(path: Path, lease: Lease) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(lease)))
    os.replace(tmp, path)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def dataset_hash(lock: Path, output: str) -> str:
    """The DVC hash ``dvc.lock`` records for the output ``output`` (e.g. ``data/pairs``)."""
    for stage in read_dvc_lock(lock).values():
        for out in stage.outs:
            if out.path == output and out.hash:
                return out.hash
    raise ValueError(f"{lock} records no output {output!r}; run the stage and `dvc commit` first")


def publish(record: Path, output: str, digest: str) -> bool:
    """Record ``digest`` as the published version of ``output``; False if it already was."""
    record = Path(record)
    try:
        published = json.loads(record.read_text())
    except FileNotFoundError:
        published = {}
    except ValueError as exc:
        raise ValueError(f"published record {str(record)!r} is not JSON: {exc}") from exc
    if published.get(output) == digest:
        return False
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(published | {output: digest}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, record)
    return True
