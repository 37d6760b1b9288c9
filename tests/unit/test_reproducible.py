"""Same inputs, same bytes: WARC files, sidecars and git state do not vary from run to run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from replica.crawl.records import Capture
from replica.crawl.warc import WarcSink
from replica.io import RUN_RECORD, SIDECAR, StepSummary, git_state, write_sidecar

HTML = [("Content-Type", "text/html")]
DATE = "2024-01-02T03:04:05Z"
CAPTURES = [
    Capture("https://a.example/1", b"<html>one</html>", http_headers=HTML, date=DATE),
    Capture("https://a.example/2", b"<html>two</html>", record_type="resource"),
    Capture("https://a.example/1", b"<html>one</html>", http_headers=HTML, date=DATE),
]


def _write(directory: Path, max_bytes: int = 10_000) -> list[bytes]:
    directory.mkdir()
    with WarcSink(directory, max_bytes=max_bytes) as sink:
        for cap in CAPTURES:
            sink.write(cap)
    return [p.read_bytes() for p in sorted(directory.glob("*.warc.gz"))]


def _ids(directory: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted(directory.glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                h = rec.rec_headers
                out.append((h.get_header("WARC-Record-ID"), h.get_header("WARC-Date")))
    return out


def test_the_same_captures_give_byte_identical_warc_files(tmp_path: Path) -> None:
    first, second = _write(tmp_path / "a", 200), _write(tmp_path / "b", 200)
    assert len(first) == 3 and first == second  # one file per record at this size


def test_record_ids_are_unique_even_for_identical_captures_and_dates_never_now(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "a")
    ids = _ids(tmp_path / "a")
    assert len({i for i, _ in ids}) == len(ids) == 4  # warcinfo + 3 records, two of them equal
    assert all(i.startswith("<urn:uuid:") for i, _ in ids)
    # the warcinfo takes the first capture's date; a capture without one gets the fixed date
    assert [d for _, d in ids] == [
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05Z",
        "1970-01-01T00:00:00Z",
        "2024-01-02T03:04:05Z",
    ]


def test_sidecar_holds_no_run_varying_values_and_the_run_record_does(tmp_path: Path) -> None:
    metas = []
    for name in ("a", "b"):
        out = tmp_path / name
        out.mkdir()
        summary = StepSummary("train", rows_in=3, rows_out=2)
        write_sidecar(out, summary.finish(), {"pairs": "pairs@1"}, "h", {"train": {"lr": 0.1}})
        metas.append((out / SIDECAR).read_text())
        run = json.loads((out / RUN_RECORD).read_text())
        assert {"seconds", "created_at", "git", "orchestrator"} <= set(run)
    assert metas[0] == metas[1]
    meta = json.loads(metas[0])
    assert meta["params"] == {"train": {"lr": 0.1}} and meta["rows_out"] == 2
    assert not {"seconds", "created_at", "git"} & set(meta)


def test_dvcignore_keeps_run_records_and_crawl_state_out_of_dataset_hashes() -> None:
    from tests.conftest import ROOT

    patterns = (ROOT / ".dvcignore").read_text().split()
    assert {RUN_RECORD, "_state.sqlite"} <= set(patterns)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_git_state_is_clean_after_the_pipeline_rewrites_dvc_lock_only(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "c")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    state = git_state(tmp_path)
    assert state["dirty"] is False and len(state["commit"]) == 40
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state(tmp_path)["dirty"] is True


def test_git_state_outside_a_checkout_comes_from_the_image_env(tmp_path: Path) -> None:
    env = {"REPLICA_GIT_COMMIT": "abc123", "REPLICA_GIT_DIRTY": "false"}
    assert git_state(tmp_path, env) == {"commit": "abc123", "dirty": False}
    assert git_state(tmp_path, {}) == {"commit": None, "dirty": None}
