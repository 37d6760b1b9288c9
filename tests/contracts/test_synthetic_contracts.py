"""The synthetic detector's contracts: each GX suite passes good rows and fails a broken copy."""

from __future__ import annotations

import pandas as pd
import pytest

from replica.contracts import DETECTION_METRICS, DETECTIONS, FAKES, INVERSIONS, SYNTHETIC_SCORES
from replica.quality.suite import run_suite

SHA = "ab" * 32
FAKE = {
    "image_id": "f1", "label": "fake", "generator": "sd-1.x", "source": "generated",
    "split": "test", "uri": "blobs/ab/x.jpg", "sha256": SHA, "width": 64, "height": 64,
    "mime": "image/jpeg", "caption": "a cat", "orig_format": "PNG", "orig_width": 512,
    "orig_height": 512, "orig_bytes": 1000, "match_id": "r1", "match_by": "embedding",
    "match_score": 0.9, "blob_ok": True, "blob_encoding": "JPEG RGB 64x64 q90 4:2:0",
}  # fmt: skip
REAL = FAKE | {"image_id": "r1", "label": "real", "generator": None, "split": "train",
               "match_id": None, "match_by": None, "match_score": None}  # fmt: skip

GOOD_AND_BAD = [
    (FAKES, [FAKE, REAL], {"label": "maybe"}),
    (FAKES, [FAKE, REAL], {"generator": None}),  # a fake must name its generator
    (FAKES, [FAKE, REAL], {"match_id": None}),  # ... and its matched real
    (FAKES, [FAKE, REAL], {"blob_encoding": "PNG RGB 64x64"}),  # format parity
    (
        INVERSIONS,
        [
            {
                "image_id": "a",
                "image_sha256": SHA,
                "uri": "features/ab/a.safetensors",
                "sha256": SHA,
                "model_id": "m",
                "channels": 9,
                "size": 32,
            }
        ],
        {"channels": 3},
    ),
    (
        DETECTION_METRICS,
        [
            {
                "model": "candidate",
                "protocol": "test",
                "generator": "all",
                "reals": "plain",
                "view": "clean",
                "metric": "ap",
                "value": 0.8,
                "n": 10,
            }
        ],
        {"reals": "random"},
    ),
    (
        DETECTIONS,
        [
            {
                "model": "candidate",
                "protocol": "test",
                "image_id": "a",
                "label": 1,
                "generator": "sd",
                "logit": 2.0,
                "probability": 0.88,
            }
        ],
        {"probability": 1.2},
    ),
    (
        SYNTHETIC_SCORES,
        [
            {
                "path": "imgs/a.png",
                "sha256": SHA,
                "probability": 0.7,
                "generated": True,
                "threshold": 0.4,
                "model_id": "models:/replica-synthetic-detector@champion@0123456789ab",
            }
        ],
        {"probability": 1.5},
    ),
]


@pytest.mark.parametrize(("contract", "rows", "breakage"), GOOD_AND_BAD)
def test_suite_passes_good_rows_and_fails_broken_copy(contract, rows, breakage) -> None:
    assert run_suite(contract, pd.DataFrame(rows)).success
    bad = pd.DataFrame([{**rows[0], **breakage}, *rows[1:]])
    report = run_suite(contract, bad)
    assert not report.success
    assert {o.column for o in report.failed} == {next(iter(breakage))}
