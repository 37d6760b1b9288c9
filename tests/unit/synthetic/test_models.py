"""The synthetic detectors: features, save -> load, and the 9-channel classifier's shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from replica.models.synthetic import (
    ArtefactConfig,
    ArtefactDetector,
    FakeInversionClassifier,
    FakeInversionConfig,
    ProbeConfig,
    ProbeDetector,
    artefact_features,
    load_detector,
)
from tests.fakes_factory import generated, photo

TINY_RESNET = FakeInversionConfig(
    embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), image_size=32
)


def _pixels(images: list) -> list[np.ndarray]:
    return [np.asarray(im) for im in images]


def test_npr_features_see_nearest_neighbour_upsampling() -> None:
    cfg = ArtefactConfig()
    real = artefact_features(np.asarray(photo(0, (64, 64))), cfg)
    fake = artefact_features(np.asarray(generated(0, (64, 64))), cfg)
    assert real.shape == fake.shape == (cfg.feature_dim,)
    # third NPR statistic at the first 2x2 position: share of pixels equal to their cell's anchor
    assert fake[2] > 0.9 and real[2] < 0.2
    with pytest.raises(ValueError, match="at least 16 px"):
        artefact_features(np.zeros((8, 8, 3), np.uint8), cfg)


def test_artefact_detector_learns_and_round_trips(tmp_path: Path) -> None:
    det = ArtefactDetector.from_config(ArtefactConfig())
    x = det.features(_pixels([photo(i) for i in range(12)] + [generated(i) for i in range(12)]))
    y = np.array([0] * 12 + [1] * 12)
    det.fit(x, y)
    logits = det.logits(x)
    assert logits[y == 1].min() > logits[y == 0].max(), "separable training data is separated"
    det.save(tmp_path)
    loaded = load_detector(tmp_path)
    assert isinstance(loaded, ArtefactDetector)
    np.testing.assert_array_equal(loaded.logits(x), logits)


def test_fakeinversion_classifier_takes_nine_channels_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FakeInversionClassifier.from_config(TINY_RESNET).eval()
    x = torch.rand(3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        out = model(x)
    assert out.shape == (3,)
    model.save(tmp_path)
    loaded = load_detector(tmp_path)
    assert isinstance(loaded, FakeInversionClassifier) and loaded.config == TINY_RESNET
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), out)
    with pytest.raises(ValueError, match="channel dimension"):
        model(torch.rand(1, 3, 32, 32))  # a 3-channel image is not a FakeInversion input


def test_resnet50_is_the_default() -> None:
    cfg = FakeInversionConfig()
    assert (cfg.depths, cfg.hidden_sizes, cfg.layer_type) == (
        (3, 4, 6, 3), (256, 512, 1024, 2048), "bottleneck",
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random two-layer ViT saved like a hub checkpoint (the probe never downloads)."""
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vit")
    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=32,
    )  # fmt: skip
    ViTModel(config).save_pretrained(path)
    return path


def test_probe_embeds_with_a_frozen_local_backbone(tmp_path: Path, tiny_backbone: Path) -> None:
    det = ProbeDetector.from_config(ProbeConfig(backbone=str(tiny_backbone)))
    x = det.features(_pixels([photo(i) for i in range(6)] + [generated(i) for i in range(6)]))
    assert x.shape == (12, 16)
    det.fit(x, np.array([0] * 6 + [1] * 6))
    det.save(tmp_path)
    loaded = load_detector(tmp_path)
    assert isinstance(loaded, ProbeDetector) and loaded.config.backbone == str(tiny_backbone)
    np.testing.assert_allclose(loaded.logits(loaded.features(_pixels([photo(0)]))),
                               det.logits(x[:1]), rtol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="needs a backbone"):
        ProbeDetector(ProbeConfig())


def test_load_detector_refuses_another_family(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"kind": "pdf"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="not a synthetic detector"):
        load_detector(tmp_path)
