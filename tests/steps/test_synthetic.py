"""The synthetic detector through its steps: fakes -> (invert) -> train -> evaluate."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import (
    DETECTION_METRICS,
    DETECTIONS,
    FAKES,
    INVERSIONS,
    REJECTS,
    SYNTHETIC_SCORES,
)
from tests.steps.test_fakes import make_fakes

runner = CliRunner()
TINY_RESNET = [
    "synthetic.depths=[1, 1]",
    "synthetic.hidden_sizes=[8, 16]",
    "synthetic.embedding_size=8",
    "synthetic.steps=6",
    "synthetic.warmup_steps=0",
    "synthetic.batch_size=8",
    "synthetic.lr=0.001",
    "train.workers=0",
    "train.eval_every=3",
    "train.log_every=1",
]


def _run(*argv: str, params: Path, sets: list[str] = ()) -> str:
    args = [*argv, "--params", str(params), *[a for s in sets for a in ("--set", s)]]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture
def fakes(tmp_path: Path, params_file: Path) -> Path:
    return make_fakes(
        tmp_path, params_file, "fakes.test_generators=[gan]", "fakes.val_fraction=0.3"
    )


def test_artefact_detector_trains_and_evaluates_with_baselines_beside_it(
    tmp_path: Path, params_file: Path, fakes: Path, mlflow_uri: str
) -> None:
    model, evald = tmp_path / "model", tmp_path / "eval"
    out = _run("train", "--family", "synthetic", "--input", str(fakes), "--output", str(model),
               params=params_file)  # fmt: skip
    assert "synthetic/artefact: val" in out
    config = json.loads((model / "config.json").read_text())
    assert config["kind"] == "artefact" and config["temperature"] > 0
    assert config["encoding"] == {"parity": True, "format": "jpeg", "quality": 90,
                                  "image_size": 48, "size_policy": "resize"}  # fmt: skip
    out = _run("evaluate", "--family", "synthetic", "--model", str(model), "--input", str(fakes),
               "--output", str(evald), params=params_file,
               sets=["synthetic.robustness=[jpeg50]"])  # fmt: skip
    flat = json.loads((evald / "metrics.json").read_text())
    # the held-out generator ("gan") is the test split; NPR sees its nearest-neighbour traces
    assert flat["auroc"] > 0.9 and flat["ap"] > 0.8
    assert flat["baseline.format.auroc"] == 0.5, "parity: the file alone tells nothing"
    assert {"logo_ap_mean", "ap_matched", "jpeg50_ap", "n_test", "ece", "ece_raw"} <= set(flat)
    records = DETECTION_METRICS.read(evald).to_pylist()
    assert {r["protocol"] for r in records} == {"test", "logo:gan", "logo:sd"}
    assert {r["model"] for r in records} == {"candidate", "format"}
    assert len(DETECTIONS.read(evald).to_pylist()) > 0
    assert (evald / "plots" / "reliability_test.png").stat().st_size > 1000
    assert "Leave one generator out" in (evald / "report.md").read_text()
    assert "| gan |" in out


@pytest.mark.slow  # ~1 min on 2 cores: inverts the fixture twice and trains the ResNet
def test_fakeinversion_trains_end_to_end_with_the_tiny_sd(
    tmp_path: Path, params_file: Path, fakes: Path, mlflow_uri: str
) -> None:
    sd = tmp_path / "tiny-sd"
    res = runner.invoke(app, ["make-tiny-sd", "--output", str(sd)])
    assert res.exit_code == 0, res.output
    inv_sets = [
        f"invert.model={sd}",
        "invert.image_size=32",
        "invert.steps=2",
        "invert.batch_size=16",
    ]
    inverted = tmp_path / "invert"
    out = _run("invert", "--input", str(fakes), "--output", str(inverted), "--cache",
               str(tmp_path / "cache"), params=params_file, sets=inv_sets)  # fmt: skip
    rows = INVERSIONS.read(inverted).to_pylist()
    assert len(rows) == len(FAKES.read(fakes)) and {r["size"] for r in rows} == {32}
    assert FAKES.read(inverted).to_pylist() == FAKES.read(fakes).to_pylist(), "images travel along"
    assert "misses=" in out
    again = _run("invert", "--input", str(fakes), "--output", str(inverted), "--cache",
                 str(tmp_path / "cache"), params=params_file, sets=inv_sets)  # fmt: skip
    assert f"hits={len(rows)} misses=0" in again, "the second run reads every feature back"

    model, evald = tmp_path / "model", tmp_path / "eval"
    sets = ["synthetic.model=fakeinversion", *TINY_RESNET, *inv_sets]
    _run("train", "--family", "synthetic", "--input", str(inverted), "--output", str(model),
         params=params_file, sets=sets)  # fmt: skip
    config = json.loads((model / "config.json").read_text())
    assert config["kind"] == "fakeinversion" and config["num_channels"] == 9
    assert config["sd_model"] == str(sd) and config["inversion_steps"] == 2
    log = json.loads((model / "train_log.json").read_text())
    assert log["steps"] == 6 and log["history"], "trained by the generic loop"
    views = ["synthetic.robustness=[jpeg75]", "synthetic.logo=false"]
    _run("evaluate", "--family", "synthetic", "--model", str(model), "--input", str(inverted),
         "--output", str(evald), "--cache", str(tmp_path / "cache"),
         params=params_file, sets=[*sets, *views])  # fmt: skip
    flat = json.loads((evald / "metrics.json").read_text())
    expected = {"ap", "auroc", "jpeg75_ap", "baseline.artefact.ap", "baseline.format.ap"}
    assert expected <= set(flat)


def test_fakeinversion_without_features_is_a_clean_error(
    tmp_path: Path, params_file: Path, fakes: Path, mlflow_uri: str
) -> None:
    res = runner.invoke(app, ["train", "--family", "synthetic", "--input", str(fakes),
                              "--output", str(tmp_path / "m"), "--params", str(params_file),
                              "--set", "synthetic.model=fakeinversion"])  # fmt: skip
    assert res.exit_code == 2 and "has no inversions.parquet" in res.output


def test_scorer_re_encodes_new_images_like_the_training_data(
    tmp_path: Path, params_file: Path, fakes: Path, mlflow_uri: str
) -> None:
    import io

    from replica.fakes.encode import reencode
    from replica.train.synthetic import SyntheticScorer
    from tests.fakes_factory import generated, photo

    model = tmp_path / "model"
    _run("train", "--family", "synthetic", "--input", str(fakes), "--output", str(model),
         params=params_file)  # fmt: skip
    scorer = SyntheticScorer(model)

    def as_jpeg(image: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=97)
        return Image.open(io.BytesIO(buf.getvalue()))

    # unseen images in formats the training data never had (fakes as JPEG, reals as pixels)
    fakes_p = scorer.probabilities([as_jpeg(generated(900 + i)) for i in range(6)])
    reals_p = scorer.probabilities([photo(900 + i) for i in range(6)])
    assert np.all((fakes_p >= 0) & (fakes_p <= 1))
    assert fakes_p.mean() > reals_p.mean() + 0.3
    # what the scorer sees is the training encoding, whatever the file was
    image = generated(950, (64, 64))
    assert scorer.probabilities([image])[0] == pytest.approx(
        scorer.probabilities([reencode(image, scorer.config.encoding)])[0], abs=0.05
    )


def test_probe_trains_on_a_local_backbone_and_caches_its_embeddings(
    tmp_path: Path, params_file: Path, fakes: Path, mlflow_uri: str
) -> None:
    import torch
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    backbone = tmp_path / "vit"
    ViTModel(
        ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=32)
    ).save_pretrained(backbone)  # fmt: skip
    sets = ["synthetic.model=probe", f"synthetic.backbone={backbone}"]
    cache = tmp_path / "cache"
    _run("train", "--family", "synthetic", "--input", str(fakes), "--output",
         str(tmp_path / "model"), "--cache", str(cache), params=params_file, sets=sets)  # fmt: skip
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["kind"] == "probe" and config["backbone"] == str(backbone)
    cached = list(cache.rglob("*.npz"))
    assert len(cached) == sum(1 for r in FAKES.read(fakes).to_pylist() if r["split"] != "test")


def test_registered_and_promoted_as_its_own_model_and_served_by_mlflow(
    tmp_path: Path, params_file: Path, fakes: Path, mlflow_uri: str
) -> None:
    import io

    import mlflow
    import pandas as pd

    from tests.fakes_factory import generated, photo, save

    model, evald, reports = tmp_path / "model", tmp_path / "eval", tmp_path / "reports"
    _run("validate", "--input", str(fakes), "--report", str(reports / "fakes.json"),
         params=params_file)  # fmt: skip
    _run("train", "--family", "synthetic", "--input", str(fakes), "--output", str(model),
         params=params_file)  # fmt: skip
    _run("evaluate", "--family", "synthetic", "--model", str(model), "--input", str(fakes),
         "--output", str(evald), params=params_file, sets=["synthetic.robustness=[]"])  # fmt: skip
    reg_sets = ["register.synthetic.required_reports=[fakes]"]
    _run("register", "--family", "synthetic", "--model", str(model), "--metrics", str(evald),
         "--reports", str(reports), "--lock", str(tmp_path / "no.lock"), "--output",
         str(tmp_path / "registration.json"), params=params_file, sets=reg_sets)  # fmt: skip
    reg = json.loads((tmp_path / "registration.json").read_text())
    assert reg["model_name"] == "replica-synthetic-detector"
    assert reg["tags"]["family"] == "synthetic" and reg["tags"]["validate.passed"] == "true"
    assert reg["tags"]["eval.test_split"] != "unknown"
    out = _run("promote", "--family", "synthetic", "--registration",
               str(tmp_path / "registration.json"), "--output", str(tmp_path / "promotion.json"),
               "--decisions", str(tmp_path / "decisions.jsonl"), params=params_file)  # fmt: skip
    assert "PROMOTED replica-synthetic-detector v1" in out, out
    # replica predict fetches the champion from the registry and scores a folder with it
    folder = tmp_path / "new"
    save(generated(310), folder / "fake.png", "PNG")
    save(photo(310), folder / "real.jpg", "JPEG")
    uri = "models:/replica-synthetic-detector@champion"
    _run("predict", "--family", "synthetic", "--model", uri, "--images", str(folder),
         "--output", str(tmp_path / "scores"), params=params_file)  # fmt: skip
    by_name = {
        Path(r["path"]).name: r for r in SYNTHETIC_SCORES.read(tmp_path / "scores").to_pylist()
    }
    assert by_name["fake.png"]["probability"] > by_name["real.jpg"]["probability"]
    assert {r["model_id"].rsplit("@", 1)[0] for r in by_name.values()} == {uri}
    served = mlflow.pyfunc.load_model("models:/replica-synthetic-detector@champion")

    def png(image: Image.Image) -> bytes:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()

    frame = pd.DataFrame({"image": [png(generated(300)), png(photo(300))]})
    scored = served.predict(frame)
    assert scored["probability"][0] > scored["probability"][1]
    client = mlflow.MlflowClient()
    run = client.get_run(client.get_model_version("replica-synthetic-detector", "1").run_id)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/reliability_test.png" in artifacts


def test_predict_scores_a_folder_after_the_training_encoding_and_counts_rejects(
    tmp_path: Path, params_file: Path, fakes: Path, mlflow_uri: str
) -> None:
    from replica.train.synthetic import SyntheticScorer
    from tests.fakes_factory import generated, photo, save

    model = tmp_path / "model"
    _run("train", "--family", "synthetic", "--input", str(fakes), "--output", str(model),
         params=params_file)  # fmt: skip
    folder = tmp_path / "images"
    for i in range(4):  # each picture twice: PNG and JPEG (formats the training data never had)
        save(generated(700 + i), folder / f"fake{i}.png", "PNG")
        save(generated(700 + i), folder / f"fake{i}_jpeg.jpg", "JPEG", quality=97)
        save(photo(700 + i), folder / f"real{i}.png", "PNG")
        save(photo(700 + i), folder / f"real{i}_jpeg.jpg", "JPEG", quality=97)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "scores"
    log = _run("predict", "--family", "synthetic", "--model", str(model), "--images",
               str(folder), "--output", str(out), params=params_file,
               sets=["predict.chunk=5", "predict.batch_size=3"])  # fmt: skip
    assert "16 images scored" in log and "rejects=1 (undecodable=1)" in log
    rows = {Path(r["path"]).stem: r for r in SYNTHETIC_SCORES.read(out).to_pylist()}
    assert len(rows) == 16
    rejects = REJECTS.read(out).to_pylist()
    assert [(Path(r["record_id"]).name, r["reason"]) for r in rejects] == [
        ("broken.jpg", "undecodable")
    ]
    config = json.loads((model / "config.json").read_text())
    for r in rows.values():
        assert r["generated"] == (r["probability"] >= config["threshold"])
        assert r["threshold"] == pytest.approx(config["threshold"])
        assert r["sha256"] == hashlib.sha256(Path(r["path"]).read_bytes()).hexdigest()
    fake_p = [rows[f"fake{i}"]["probability"] for i in range(4)]
    real_p = [rows[f"real{i}"]["probability"] for i in range(4)]
    assert np.mean(fake_p) > np.mean(real_p) + 0.3
    # format parity: the same picture as PNG or JPEG is scored alike, as the library scores it
    for i in range(4):
        for kind in ("fake", "real"):
            png, jpg = rows[f"{kind}{i}"], rows[f"{kind}{i}_jpeg"]
            assert png["probability"] == pytest.approx(jpg["probability"], abs=0.05)
    scorer = SyntheticScorer(model)
    with Image.open(folder / "fake0.png") as image:
        assert rows["fake0"]["probability"] == pytest.approx(scorer.probabilities([image])[0])


def test_predict_reads_a_table_and_counts_a_missing_file_as_unreadable(
    tmp_path: Path, params_file: Path, fakes: Path, mlflow_uri: str
) -> None:
    from tests.fakes_factory import generated, save

    model = tmp_path / "model"
    _run("train", "--family", "synthetic", "--input", str(fakes), "--output", str(model),
         params=params_file)  # fmt: skip
    save(generated(800), tmp_path / "imgs" / "a.png", "PNG")
    (tmp_path / "imgs" / "list.csv").write_text("path,caption\na.png,a scene\ngone.png,\n")
    out = tmp_path / "scores"
    log = _run("predict", "--family", "synthetic", "--model", str(model), "--images",
               str(tmp_path / "imgs" / "list.csv"), "--output", str(out),
               params=params_file)  # fmt: skip
    assert "rejects=1 (unreadable=1)" in log
    assert [Path(r["path"]).name for r in SYNTHETIC_SCORES.read(out).to_pylist()] == ["a.png"]
    assert REJECTS.read(out).to_pylist()[0]["reason"] == "unreadable"

    # a model of a dataset that kept its original files (parity off) scores images as they are:
    # one below the artefact features' minimum side is a too_small reject, not a crashed batch
    raw = tmp_path / "model_raw"
    shutil.copytree(model, raw)
    doc = json.loads((raw / "config.json").read_text())
    doc["encoding"] = {**doc["encoding"], "parity": False}
    (raw / "config.json").write_text(json.dumps(doc))
    save(generated(801).resize((10, 10)), tmp_path / "imgs" / "tiny.png", "PNG")
    (tmp_path / "imgs" / "raw.csv").write_text("path\na.png\ntiny.png\n")
    log = _run("predict", "--family", "synthetic", "--model", str(raw), "--images",
               str(tmp_path / "imgs" / "raw.csv"), "--output", str(tmp_path / "raw_scores"),
               params=params_file)  # fmt: skip
    assert "rejects=1 (too_small=1)" in log
    scored = SYNTHETIC_SCORES.read(tmp_path / "raw_scores").to_pylist()
    assert [Path(r["path"]).name for r in scored] == ["a.png"]

    def fails(*args: str) -> str:
        common = ["--output", str(tmp_path / "o"), "--params", str(params_file)]
        res = runner.invoke(app, ["predict", "--family", "synthetic", *common, *args])
        assert res.exit_code == 2, res.output
        return res.output

    assert "not --pairs" in fails("--model", str(model), "--pairs", str(tmp_path / "imgs"))
    not_a_model = fails("--model", str(fakes), "--images", str(tmp_path / "imgs"))
    assert "has no config.json" in not_a_model
