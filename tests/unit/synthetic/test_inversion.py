"""FakeInversion features with the tiny random Stable Diffusion (built in code)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from replica.cache import FeatureCache
from replica.generate.tiny_sd import build_tiny_sd
from replica.invert.inversion import (
    FEATURE_CHANNELS,
    InversionSettings,
    Inverter,
    cached_features,
    components_of,
)


@pytest.fixture(scope="module")
def pipe() -> Any:
    return build_tiny_sd(0)


def _inverter(pipe: Any, steps: int, damp: float | None = None, guidance: float = 1.0) -> Inverter:
    """The tiny SD; ``damp`` scales (a copy of) the U-Net's output layer (0: a noise
    prediction that does not depend on the latent, only on a random bias)."""
    components = components_of(pipe)
    if damp is not None:
        unet = copy.deepcopy(components["unet"])
        with torch.no_grad():
            unet.conv_out.weight.mul_(damp)
            if damp == 0.0:
                unet.conv_out.bias.copy_(torch.randn(4) * 0.5)
        components["unet"] = unet
    return Inverter(components, InversionSettings(32, steps, guidance), "tiny")


def _round_trip(inv: Inverter) -> tuple[float, float]:
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    cond = inv.condition(["a red bus", ""])
    z0 = inv.encode(x)
    zt = inv.invert(z0, cond)
    back = inv.reconstruct(zt, cond)
    return float((back - z0).norm() / z0.norm()), float((zt - z0).norm() / z0.norm())


@pytest.mark.parametrize("steps", [2, 4, 10])
def test_inversion_is_exactly_undone_when_the_noise_prediction_is_latent_free(
    pipe: Any, steps: int
) -> None:
    # DDIM inversion is exact when eps does not depend on the latent: any misalignment of the
    # inverse and forward timesteps or alphas would show here as a large error.
    torch.manual_seed(0)
    error, moved = _round_trip(_inverter(pipe, steps, damp=0.0))
    assert moved > 1.0, "the inversion must actually move the latent"
    assert error < 1e-4


def test_inversion_then_reconstruction_returns_near_the_input_latent(pipe: Any) -> None:
    assert _round_trip(_inverter(pipe, 1))[0] < 0.05  # the tiny random SD itself, one step
    errors = [_round_trip(_inverter(pipe, steps, damp=0.01))[0] for steps in (2, 4)]
    assert max(errors) < 0.3, errors  # a smoother U-Net: bounded error over a few steps
    with_guidance = _round_trip(_inverter(pipe, 2, damp=0.01, guidance=3.0))[0]
    assert with_guidance < 0.5


def test_features_are_image_noise_and_reconstruction_stacked(pipe: Any) -> None:
    inv = _inverter(pipe, 2)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    feats = inv.features(x, ["a", "b", ""])
    assert feats.shape == (3, FEATURE_CHANNELS, 32, 32) and feats.dtype == torch.float16
    torch.testing.assert_close(feats[:, :3].float(), x, atol=2e-3, rtol=0)
    assert feats.abs().max() <= 1.0
    assert not torch.allclose(feats[:, 3:6], feats[:, 6:9]), "noise and reconstruction differ"
    with pytest.raises(ValueError, match="captions"):
        inv.features(x, ["only one"])


def test_second_run_hits_the_cache(pipe: Any, tmp_path: Path) -> None:
    inv = _inverter(pipe, 2)
    pixels = [np.full((40, 48, 3), 30 * i, np.uint8) for i in range(3)]
    loads: list[int] = []

    def load(i: int) -> np.ndarray:
        loads.append(i)
        return pixels[i]

    shas = [f"{i}" * 64 for i in range(3)]
    cache = FeatureCache(tmp_path, inv.model_id)
    first = cached_features(inv, cache, shas, load, ["", "", ""], batch_size=2)
    assert cache.misses == 3 and loads == [0, 1, 2]
    again = FeatureCache(tmp_path, inv.model_id)
    second = cached_features(inv, again, shas, load, ["", "", ""], batch_size=2)
    assert again.hits == 3 and again.misses == 0 and loads == [0, 1, 2], "nothing re-inverted"
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    other = FeatureCache(tmp_path, _inverter(pipe, 4).model_id)
    assert other.get(shas[0]) is None, "other inversion settings are another cache entry"


def test_settings_refuse_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        InversionSettings(image_size=30)
    with pytest.raises(ValueError, match="guidance_scale"):
        InversionSettings(guidance_scale=0.5)
