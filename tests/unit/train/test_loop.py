"""The generic training loop on a toy family: schedule, data order, resume, early stop, DDP."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from replica.train.loop import CHECKPOINT, GlobalBatches, Schedule, fit, load_checkpoint
from tests.unit.train import toy

ROOT = Path(__file__).resolve().parents[3]


def _same(a: torch.nn.Module, b: torch.nn.Module, atol: float = 0.0) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.allclose(sa[k], sb[k], atol=atol, rtol=0) for k in sa)


def test_schedule_warms_up_linearly_then_decays_by_cosine() -> None:
    s = Schedule(steps=10, batch_size=1, lr=1.0, warmup_steps=4, min_lr_ratio=0.1)
    assert [s.factor(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s.factor(4) == pytest.approx(1.0) and s.factor(10) == pytest.approx(0.1)
    decay = [s.factor(i) for i in range(4, 11)]
    assert decay == sorted(decay, reverse=True)
    with pytest.raises(ValueError, match="warmup_steps"):
        Schedule(steps=3, batch_size=1, lr=1.0, warmup_steps=5)


def test_global_batches_split_across_ranks_and_resume_where_they_stopped() -> None:
    whole = iter(GlobalBatches(10, 4, seed=3))
    first = [next(whole) for _ in range(5)]  # 2 batches per epoch: crosses two epochs
    assert {i for _, i in first[0] + first[1]} <= set(range(10)) and first[2][0][0] == 1
    halves = [iter(GlobalBatches(10, 4, seed=3, rank=r, world_size=2)) for r in range(2)]
    for batch in first:
        assert next(halves[0]) + next(halves[1]) == batch
    resumed = GlobalBatches(10, 4, seed=3)
    assert resumed.position(3) == (1, 1)
    later = iter(GlobalBatches(10, 4, seed=3, start=resumed.position(3)))
    assert [next(later) for _ in range(2)] == first[3:5]
    with pytest.raises(ValueError, match="not divisible"):
        GlobalBatches(10, 5, seed=0, world_size=2)


def test_training_is_seeded_and_learns() -> None:
    a = fit(toy.task(val_data=None), toy.SCHEDULE, toy.CFG, seed=0)
    b = fit(toy.task(val_data=None), toy.SCHEDULE, toy.CFG, seed=0)
    assert _same(a.model, b.model) and a.steps == toy.SCHEDULE.steps
    losses = [h["loss"] for h in a.history]
    assert losses[-1] < 0.5 * losses[0] and not a.model.training
    assert [h["step"] for h in a.history] == [float(s) for s in range(2, 21, 2)]


def test_workers_load_the_same_batches_as_the_main_process() -> None:
    main = fit(toy.task(val_data=None), toy.SCHEDULE, toy.CFG, seed=0)
    workers = fit(
        toy.task(val_data=None), toy.SCHEDULE, dataclasses.replace(toy.CFG, workers=2), seed=0
    )
    assert _same(main.model, workers.model)


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from replica.train.loop import fit
    from tests.unit.train import toy

    def die(step):
        if step == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    fit(toy.task(), toy.SCHEDULE, toy.CFG, seed=0, checkpoint_dir=Path(sys.argv[1]), on_step=die)
    """
)


def test_a_run_killed_with_sigkill_resumes_at_its_checkpoint_and_ends_identical(
    tmp_path: Path,
) -> None:
    ckpt = tmp_path / "ckpt"
    cfg = dataclasses.replace(toy.CFG, workers=1)
    done = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(ckpt), "10"], cwd=ROOT, capture_output=True
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    state = load_checkpoint(ckpt / CHECKPOINT)
    assert state["step"] == 8  # checkpoint_every=4: the kill at step 10 lost steps 9-10

    resumed = fit(toy.task(), toy.SCHEDULE, cfg, seed=0, checkpoint_dir=ckpt)
    straight = fit(toy.task(), toy.SCHEDULE, cfg, seed=0)
    assert resumed.resumed_from == 8 and resumed.steps == toy.SCHEDULE.steps
    assert _same(resumed.model, straight.model)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in straight.history]
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in straight.history]
    )
    assert [v["mse"] for v in resumed.validation] == pytest.approx(
        [v["mse"] for v in straight.validation]
    )


def test_early_stopping_keeps_the_best_weights() -> None:
    calls = {"n": 0}

    def worsening(model: torch.nn.Module, loader: object) -> dict[str, float]:
        calls["n"] += 1
        return {"mse": [3.0, 1.0, 2.0, 2.5, 4.0, 5.0][calls["n"] - 1]}

    cfg = dataclasses.replace(toy.CFG, eval_every=2, patience=3)
    res = fit(toy.task(validate=worsening), toy.SCHEDULE, cfg, seed=0)
    assert res.stopped == "patience" and res.steps == 10
    assert res.best_step == 4 and res.best_value == 1.0
    stepped = fit(
        toy.task(validate=worsening, val_data=None),
        dataclasses.replace(toy.SCHEDULE, steps=4),
        cfg,
        seed=0,
    )
    assert stepped.best_step == -1  # no validation set: the last weights


def test_ddp_with_two_processes_matches_one_process_with_the_doubled_batch(
    tmp_path: Path,
) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():  # pragma: no cover - torch always ships it
        pytest.skip("torchrun not found beside the interpreter")
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "tests.unit.train.toy",
        str(out),
        "16",  # global batch: 8 per rank
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    single = fit(toy.task(), dataclasses.replace(toy.SCHEDULE, batch_size=16), toy.CFG, seed=0)
    ddp = load_file(str(out))
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(ddp[name], value, atol=1e-5, rtol=1e-4)
    assert (tmp_path / "ddp.safetensors.steps").read_text() == str(toy.SCHEDULE.steps)
    shutil.rmtree(tmp_path, ignore_errors=True)
