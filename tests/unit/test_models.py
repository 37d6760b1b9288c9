"""The copy detector: PDF-Embedding on transformers backbones, target PDFs, fusion, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from replica.config import TargetPDF
from replica.models.copy import (
    N_TOKENS,
    CopyDetector,
    CopyDetectorConfig,
    FusionHead,
    PDFEmbeddingConfig,
    pdf_loss,
    target_pdf,
)

CFG = CopyDetectorConfig(PDFEmbeddingConfig(backbone="vit-test", embed_dim=16))


def batch(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, 32, 32, generator=g), torch.rand(n, 3, 32, 32, generator=g)


def test_six_unit_vectors_per_image_and_logits_per_pair() -> None:
    torch.manual_seed(0)
    model = CopyDetector.from_config(CFG).eval()
    q, r = batch()
    emb = model.embedding.embed(q)
    assert emb.shape == (4, N_TOKENS, 16)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(4, N_TOKENS), atol=1e-5)
    logits, eq, _, extra = model.embedding(q, r, q)
    assert logits.shape == (4, 6) and extra is not None
    assert torch.allclose(eq, extra, atol=1e-5)  # the same images embed the same in one pass
    assert model.config.embedding.image_size == 32 and model.config.embedding.model_type == "vit"


@pytest.mark.parametrize("kind", list(TargetPDF))
def test_target_pdfs_peak_at_the_label_and_widen_with_width(kind: TargetPDF) -> None:
    narrow = target_pdf(torch.tensor([0, 3, 5]), 6, kind, 0.6)
    wide = target_pdf(torch.tensor([0, 3, 5]), 6, kind, 2.0)
    assert torch.allclose(narrow.sum(1), torch.ones(3)) and narrow.argmax(1).tolist() == [0, 3, 5]
    assert (wide[:, :].max(1).values < narrow.max(1).values).all()
    if kind == TargetPDF.linear:
        assert narrow[1, 1] == 0 and wide[1, 0] == 0  # nothing beyond the width


def test_kl_loss_decreases_on_a_toy_batch() -> None:
    torch.manual_seed(0)
    model = CopyDetector.from_config(CFG).embedding
    q, r = batch(6)
    levels = torch.tensor([0, 1, 2, 3, 4, 5])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = pdf_loss(model(q, r)[0], levels, TargetPDF.gaussian, 0.6)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    weighted = pdf_loss(
        model(q, r)[0],
        levels,
        TargetPDF.gaussian,
        0.6,
        torch.zeros(6).index_fill(0, torch.tensor([2]), 1.0),
    )
    single = pdf_loss(model(q[2:3], r[2:3])[0], levels[2:3], TargetPDF.gaussian, 0.6)
    assert weighted.item() == pytest.approx(single.item(), rel=1e-4)


def test_save_load_gives_identical_outputs_with_the_fusion_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = CopyDetector.from_config(CFG).eval()
    head = FusionHead(3, 8)
    head.mean.copy_(torch.tensor([0.1, 0.2, 0.3]))
    model.with_fusion(
        head.eval(), ("verify.matched", "verify.ref_share", "global.hist_cos"), ("verify", "global")
    )
    model.save(tmp_path / "m")
    loaded = CopyDetector.load(tmp_path / "m")
    assert loaded.config == model.config and not loaded.training
    q, r = batch()
    assert torch.equal(model.embedding(q, r)[0], loaded.embedding(q, r)[0])
    x = torch.rand(5, 3)
    assert torch.equal(model.fuse(x), loaded.fuse(x))
    assert loaded.identity() == model.identity()
    assert json.loads((tmp_path / "m" / "config.json").read_text())["family"] == "copy"


def test_load_names_the_missing_file_and_a_foreign_family(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        CopyDetector.load(tmp_path)
    CopyDetector.from_config(CFG).save(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**doc, "family": "synthetic"}))
    with pytest.raises(ValueError, match="not a copy detector"):
        CopyDetector.load(tmp_path / "m")


def test_an_unknown_backbone_is_a_clear_error_and_nothing_is_downloaded() -> None:
    with pytest.raises(ValueError, match="never downloads"):
        CopyDetector.from_config(
            CopyDetectorConfig(PDFEmbeddingConfig(backbone="nobody/no-such-vit-anywhere"))
        )


@pytest.mark.parametrize("model_type", ["vit", "deit", "dinov2"])
def test_a_pretrained_backbone_loads_from_a_local_directory(
    tmp_path: Path, model_type: str
) -> None:
    from transformers import AutoConfig, AutoModel

    hf = AutoConfig.for_model(
        model_type,
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    torch.manual_seed(1)
    AutoModel.from_config(hf).save_pretrained(tmp_path / "bb")
    (tmp_path / "bb" / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.4, 0.4, 0.4], "image_std": [0.2, 0.2, 0.2]})
    )
    model = CopyDetector.from_config(
        CopyDetectorConfig(PDFEmbeddingConfig(backbone=str(tmp_path / "bb"), embed_dim=0))
    )
    cfg = model.config.embedding
    assert cfg.pretrained and cfg.model_type == model_type and cfg.mean == (0.4, 0.4, 0.4)
    saved = AutoModel.from_pretrained(tmp_path / "bb")
    key = next(k for k in saved.state_dict() if k.endswith("weight"))
    assert torch.equal(model.embedding.backbone.state_dict()[key], saved.state_dict()[key])
    q, r = batch(2)
    assert model.embedding(q, r)[0].shape == (2, 6)
    model.save(tmp_path / "m")  # rebuilt from the saved config alone, no source directory
    (tmp_path / "bb" / "model.safetensors").unlink()
    assert torch.equal(
        CopyDetector.load(tmp_path / "m").embedding(q, r)[0], model.eval().embedding(q, r)[0]
    )
