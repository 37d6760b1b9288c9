"""``replica fakes``: real and generated images re-encoded alike, and why that matters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import FAKES, REJECTS
from replica.quality.encoding import encoding_of
from tests.fakes_factory import fake_folder, generated, real_folder, save

runner = CliRunner()
GENERATORS = {"sd": 10, "gan": 8}


def make_fakes(
    tmp_path: Path, params_file: Path, *sets: str, same_content: bool = False, name: str = "fakes"
) -> Path:
    real = real_folder(tmp_path / "gallery", 24, same_content)
    fake = fake_folder(tmp_path / "generated", GENERATORS, same_content)
    out = tmp_path / name
    args = ["fakes", "--real", str(real), "--fake", str(fake), "--output", str(out)]
    defaults = ["fakes.image_size=48", "fakes.test_generators=[]"]
    overrides = [a for s in (*defaults, *sets) for a in ("--set", s)]
    res = runner.invoke(app, [*args, "--params", str(params_file), *overrides])
    assert res.exit_code == 0, res.output
    return out


def _validate(directory: Path, params_file: Path) -> tuple[int, dict]:
    report = directory.parent / f"{directory.name}.gx.json"
    res = runner.invoke(
        app, ["validate", "--input", str(directory), "--report", str(report),
              "--params", str(params_file)]
    )  # fmt: skip
    return res.exit_code, json.loads(report.read_text())


def test_every_image_leaves_with_one_encoding_and_passes_validation(
    tmp_path: Path, params_file: Path
) -> None:
    out = make_fakes(tmp_path, params_file)
    rows = FAKES.read(out).to_pylist()
    assert len(rows) == 24 + sum(GENERATORS.values())
    assert {encoding_of(out / r["uri"]) for r in rows} == {"JPEG RGB 48x48 q90 4:2:0"}
    assert {r["orig_format"] for r in rows} == {"JPEG", "PNG"}, "the originals differed"
    fakes = [r for r in rows if r["label"] == "fake"]
    assert {r["generator"] for r in fakes} == set(GENERATORS)
    test_reals = {r["image_id"] for r in rows if r["label"] == "real" and r["split"] == "test"}
    assert all(r["match_id"] in test_reals for r in fakes), "matched to a test-split real"
    assert all(r["caption"].startswith("a scene") for r in fakes)
    code, report = _validate(out, params_file)
    assert code == 0 and report["success"], report


def test_without_parity_the_files_differ_and_validation_fails(
    tmp_path: Path, params_file: Path
) -> None:
    out = make_fakes(tmp_path, params_file, "fakes.parity=false")
    code, report = _validate(out, params_file)
    assert code == 1
    failed = [f for d in report["datasets"] for f in d["failed"]]
    assert [f["column"] for f in failed] == ["blob_encoding"]


def test_the_parity_rule_fails_on_a_copy_with_one_png_among_jpegs(
    tmp_path: Path, params_file: Path
) -> None:
    import hashlib

    out = make_fakes(tmp_path, params_file)
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    table = pq.read_table(broken / "fakes.parquet").to_pylist()
    save(generated(1, (48, 48)), broken / "odd.png", "PNG")
    data = (broken / "odd.png").read_bytes()
    table[0] |= {"uri": "odd.png", "sha256": hashlib.sha256(data).hexdigest(), "mime": "image/png"}
    FAKES.write(table, broken)
    code, report = _validate(broken, params_file)
    assert code == 1
    failed = [f for d in report["datasets"] for f in d["failed"]]
    assert [f["column"] for f in failed] == ["blob_encoding"], failed


@pytest.mark.parametrize(("parity", "separable"), [(False, True), (True, False)])
def test_a_trivial_format_feature_separates_the_classes_only_without_parity(
    tmp_path: Path, params_file: Path, parity: bool, separable: bool
) -> None:
    from sklearn.metrics import roc_auc_score

    from replica.models.synthetic import LinearHead
    from replica.train.synthetic import format_facts

    # Both classes are drawn from ONE picture distribution: only the files differ.
    out = make_fakes(
        tmp_path, params_file, f"fakes.parity={str(parity).lower()}", same_content=True
    )
    rows = FAKES.read(out).to_pylist()
    x = np.stack([format_facts((out / r["uri"]).read_bytes()) for r in rows])
    y = np.array([r["label"] == "fake" for r in rows], dtype=int)
    test = np.array([r["split"] == "test" for r in rows])
    scores = LinearHead.fit(x[~test], y[~test], c=1.0).logits(x[test])
    auroc = roc_auc_score(y[test], scores)
    if separable:
        assert auroc > 0.99, auroc  # PNG vs JPEG, 64 vs 80+ px: the file gives the label away
    else:
        assert auroc == 0.5, auroc  # one encoding: the file says nothing


def test_unusable_inputs_are_counted_rejects(tmp_path: Path, params_file: Path) -> None:
    real = real_folder(tmp_path / "gallery", 12)
    (real / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    shutil.copy(real / "photo_000.jpg", real / "again.jpg")
    fake = fake_folder(tmp_path / "generated", {"sd": 6})
    with (fake / "manifest.csv").open("a") as fh:
        fh.write("images/sd/000.png,,no generator named,fake\n")
        fh.write("images/sd/001.png,sd,said to be real,real\n")
    out = tmp_path / "fakes"
    res = runner.invoke(
        app, ["fakes", "--real", str(real), "--fake", str(fake), "--output", str(out),
              "--params", str(params_file), "--set", "fakes.image_size=48",
              "--set", "fakes.test_generators=[]"]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    reasons = sorted(r["reason"] for r in REJECTS.read(out).to_pylist())
    assert reasons == ["duplicate", "label_conflict", "no_generator", "undecodable"]
    assert "rejects=4" in res.output


def test_a_missing_source_or_one_class_only_is_a_clean_error(
    tmp_path: Path, params_file: Path
) -> None:
    real = real_folder(tmp_path / "gallery", 4)
    base = ["fakes", "--real", str(real), "--output", str(tmp_path / "o"), "--params",
            str(params_file)]  # fmt: skip
    res = runner.invoke(app, [*base, "--fake", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, [*base, "--fake", str(real)])  # the same photos again as "fakes"
    assert res.exit_code == 2 and "need real and fake images" in res.output
