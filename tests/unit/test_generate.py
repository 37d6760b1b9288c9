"""Diffusion replicas with the tiny random SD: three pipelines from one directory, per-pair
seeds, Compress Guidance, the fast-path switches; the proxy similarity measurement."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from replica.config import Attention, PairsConfig
from replica.generate import diffusion
from replica.generate.similarity import proxy_similarity
from replica.generate.tiny_sd import build_tiny_sd, tiny_tokenizer


def picture(seed: int, size: int = 64) -> Image.Image:
    """A smooth random picture, distinct per seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def pipes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    sd = tmp_path_factory.mktemp("sd") / "tiny-sd"
    build_tiny_sd(seed=0).save_pretrained(sd)
    return diffusion.load_pipelines(str(sd), diffusion.KINDS)


def test_tokenizer_has_a_real_byte_vocab_and_truncates_to_the_encoder_length() -> None:
    tok = tiny_tokenizer()
    assert len(tok) == 514
    ids = tok("a red square", truncation=True).input_ids
    assert ids[0] == 0 and ids[-1] == 1 and len(ids) > 3
    assert tok.decode(ids, skip_special_tokens=True).strip() == "a red square"
    assert len(tok("x" * 100, truncation=True).input_ids) == 16


def test_all_three_pipelines_load_from_one_saved_model_and_share_weights(pipes: dict) -> None:
    assert {k: type(p).__name__ for k, p in pipes.items()} == {
        "img2img": "StableDiffusionImg2ImgPipeline",
        "txt2img": "StableDiffusionPipeline",
        "inpaint": "StableDiffusionInpaintPipeline",
    }
    assert pipes["txt2img"].unet is pipes["img2img"].unet is pipes["inpaint"].unet
    assert pipes["img2img"].vae_scale_factor == 8  # like SD: 64 px images are 8x8 latents
    fresh = build_tiny_sd(seed=0)
    a, b = fresh.unet.state_dict(), pipes["img2img"].unet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot load diffusion model"):
        diffusion.load_pipelines(str(tmp_path), ["img2img"])


def jobs(kind: str, seeds: list[int]) -> list[diffusion.Job]:
    mask = Image.new("L", (64, 64), 255)
    mask.paste(0, (0, 0, 32, 32))
    image = picture(1) if kind != "txt2img" else None
    return [
        diffusion.Job(s, "a photo", image, mask if kind == "inpaint" else None, 0.6) for s in seeds
    ]


@pytest.mark.parametrize("kind", diffusion.KINDS)
def test_each_image_depends_on_its_seed_only_not_on_its_batch(pipes: dict, kind: str) -> None:
    fast = diffusion.FastPath()
    batch = diffusion.run_batch(pipes[kind], kind, jobs(kind, [3, 4]), 64, 4, 1.0, fast)
    alone = diffusion.run_batch(pipes[kind], kind, jobs(kind, [4]), 64, 4, 1.0, fast)
    assert [im.size for im in batch] == [(64, 64)] * 2
    diff = np.abs(np.asarray(batch[1], int) - np.asarray(alone[0], int)).max()
    assert diff <= 1  # float noise of a batched convolution at most
    again = diffusion.run_batch(pipes[kind], kind, jobs(kind, [3, 4]), 64, 4, 1.0, fast)
    assert all(
        np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(batch, again, strict=True)
    )
    assert not np.array_equal(np.asarray(batch[0]), np.asarray(batch[1]))


@pytest.mark.parametrize("kind", ["img2img", "inpaint"])
def test_compress_guidance_runs_cfg_on_the_early_steps_only(pipes: dict, kind: str) -> None:
    pipe = pipes[kind]
    widths: list[int] = []
    hook = pipe.unet.register_forward_hook(lambda m, args, out: widths.append(args[0].shape[0]))
    try:
        full = diffusion.run_batch(pipe, kind, jobs(kind, [5]), 64, 10, 7.5, diffusion.FastPath())
        n_full = list(widths)
        widths.clear()
        fast = diffusion.FastPath(cfg_fraction=0.4)
        short = diffusion.run_batch(pipe, kind, jobs(kind, [5]), 64, 10, 7.5, fast)
    finally:
        hook.remove()
    steps = 6 if kind == "img2img" else 10  # img2img runs int(10 * 0.6) steps
    assert n_full == [2] * steps  # unconditional + conditional on every step
    cutoff = math.ceil(0.4 * steps)
    assert widths == [2] * cutoff + [1] * (steps - cutoff)  # then the conditional half only
    assert pipe.guidance_scale == 0.0  # turned off by the callback during the last call
    assert not np.array_equal(np.asarray(full[0]), np.asarray(short[0]))


def test_fast_path_switches_apply_and_generation_still_runs(tmp_path: Path) -> None:
    sd = tmp_path / "sd"
    build_tiny_sd(seed=1).save_pretrained(sd)
    pipes = diffusion.load_pipelines(str(sd), ["img2img", "txt2img"])
    fast = diffusion.FastPath("cpu", "bfloat16", 2, Attention.EAGER, True, False, 0.5)
    diffusion.apply_fast_path(pipes, fast)
    unet = pipes["img2img"].unet
    assert unet.dtype == torch.bfloat16
    assert {type(p).__name__ for p in unet.attn_processors.values()} == {"AttnProcessor"}
    weight = unet.conv_in.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    out = diffusion.run_batch(
        pipes["txt2img"], "txt2img", jobs("txt2img", [1, 2]), 64, 2, 3.0, fast
    )
    assert len(out) == 2 and out[0].mode == "RGB"


def test_fast_path_defaults_follow_the_device() -> None:
    fast = diffusion.FastPath.from_config(PairsConfig())
    if torch.cuda.is_available():
        assert (fast.device, fast.dtype) == ("cuda", "float16")
    else:
        assert (fast.device, fast.dtype) == ("cpu", "float32")


def test_batches_group_equal_kinds_and_strengths_up_to_the_size() -> None:
    items = [("a", 1), ("a", 1), ("a", 1), ("a", 2), ("b", 2)]
    assert diffusion.batches(items, 2, key=lambda x: x) == [
        [("a", 1), ("a", 1)],
        [("a", 1)],
        [("a", 2)],
        [("b", 2)],
    ]


def test_proxy_similarity_is_one_for_copies_and_low_for_unrelated_images() -> None:
    a = picture(1)
    assert proxy_similarity(a, a) == pytest.approx(1.0)
    assert proxy_similarity(a, a.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == pytest.approx(1.0)
    unrelated = [proxy_similarity(a, picture(s)) for s in range(2, 8)]
    assert np.mean(unrelated) < 0.3
    sims = [proxy_similarity(a, Image.blend(picture(2), a, alpha)) for alpha in (1.0, 0.5, 0.0)]
    assert sims == sorted(sims, reverse=True)
