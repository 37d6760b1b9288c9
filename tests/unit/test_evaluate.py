"""PCC and RMSE in percent, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from replica.evaluate.metrics import pcc_pct, predict, rmse_pct
from replica.models.pdf_embedding import PDFEmbedding, PDFEmbeddingConfig


def test_pcc_and_rmse_match_hand_computed_values() -> None:
    pred, target = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 1.0])
    # means 0.5 and 2/3; cov = 0.5/3... r = 0.5 / sqrt(0.5 * 2/3) = sqrt(3)/2
    assert pcc_pct(pred, target) == pytest.approx(100 * np.sqrt(3) / 2)
    assert rmse_pct(pred, target) == pytest.approx(100 * np.sqrt(0.25 / 3))
    assert pcc_pct(target, target) == pytest.approx(100.0)
    assert pcc_pct(-target, target) == pytest.approx(-100.0)


def test_pcc_of_constant_labels_is_an_error_not_nan() -> None:
    with pytest.raises(ValueError, match="labels are constant"):
        pcc_pct(np.array([0.1, 0.4]), np.array([0.2, 0.2]))


def test_predict_batches_give_the_same_answer() -> None:
    torch.manual_seed(0)
    model = PDFEmbedding.from_config(PDFEmbeddingConfig(image_size=16, dim=16, heads=2)).eval()
    q, r = torch.rand(5, 3, 16, 16), torch.rand(5, 3, 16, 16)
    np.testing.assert_allclose(predict(model, q, r, 2), predict(model, q, r, 64), atol=1e-6)
