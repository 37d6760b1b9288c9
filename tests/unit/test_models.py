"""PDF-Embedding: shapes, a proper PDF, a loss that learns, exact save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from replica.models.pdf_embedding import (
    PDFEmbedding,
    PDFEmbeddingConfig,
    pdf_loss,
    preprocess,
    target_pdf,
)

CFG = PDFEmbeddingConfig(image_size=16, patch_size=8, dim=16, depth=1, heads=2, levels=6)


def batch(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, 16, 16, generator=g), torch.rand(n, 3, 16, 16, generator=g)


def test_shapes_and_pdf_sums_to_one() -> None:
    torch.manual_seed(0)
    model = PDFEmbedding.from_config(CFG).eval()
    q, r = batch()
    assert model.embed(q).shape == (4, 6, 16)
    assert model(q, r).shape == (4, 6)
    pdf = model.pdf(q, r)
    assert torch.allclose(pdf.sum(1), torch.ones(4)) and (pdf >= 0).all()
    level = model.predict_level(q, r)
    assert level.shape == (4,) and ((level >= 0) & (level <= 1)).all()


def test_target_pdf_peaks_at_the_label() -> None:
    t = target_pdf(torch.tensor([0, 3, 5]), 6, sigma=0.6)
    assert torch.allclose(t.sum(1), torch.ones(3))
    assert t.argmax(1).tolist() == [0, 3, 5]


def test_kl_loss_decreases_on_a_toy_batch() -> None:
    torch.manual_seed(0)
    model = PDFEmbedding.from_config(CFG)
    q, r = batch(8)
    levels = torch.tensor([0, 1, 2, 3, 4, 5, 0, 5])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = pdf_loss(model(q, r), levels, sigma=0.6)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_save_load_gives_identical_predictions(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PDFEmbedding.from_config(CFG).eval()
    model.save(tmp_path / "m")
    loaded = PDFEmbedding.load(tmp_path / "m")
    assert loaded.config == CFG and not loaded.training
    q, r = batch()
    assert torch.equal(model.predict_level(q, r), loaded.predict_level(q, r))


def test_load_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        PDFEmbedding.load(tmp_path)


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="multiple of patch_size"):
        PDFEmbeddingConfig(image_size=30, patch_size=8)


def test_preprocess_gives_unit_range_square_rgb() -> None:
    x = preprocess(Image.new("L", (50, 30), 255), 16)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert torch.allclose(x, torch.ones_like(x))
