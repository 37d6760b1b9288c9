"""``replica make-tiny-sd`` and ``replica pairs`` on a small captioned images_dedup fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import IMAGES_DEDUP, PAIRS
from tests.factories import png_bytes, write_blob

runner = CliRunner()


def dedup_dir(root: Path, n_images: int = 5) -> Path:
    """An images_dedup table of ``n_images`` captioned pictures plus one without any caption."""
    rows = []
    for i in range(n_images + 1):
        sha, uri = write_blob(root, png_bytes(100 + i, size=100))
        caption = f"A photo of scene {i}" if i < n_images else ""
        rows.append(
            {
                "image_id": f"img{i}",
                "article_id": f"a{i}",
                "sha256": sha,
                "uri": uri,
                "width": 100,
                "height": 100,
                "mime": "image/png",
                "caption": caption,
                "alt": "",
                "src_url": f"https://img.example/{i}.png",
                "cluster_id": f"c{i}",
                "cluster_size": 1,
            }
        )
    IMAGES_DEDUP.write(rows, root)
    return root


def make_pairs(tmp_path: Path, params_file: Path, n_images: int = 5) -> Path:
    """Build the tiny SD and run ``replica pairs``; returns the pairs directory."""
    sd = tmp_path / "tiny-sd"
    res = runner.invoke(app, ["make-tiny-sd", "--output", str(sd)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "pairs"
    args = ["pairs", "--input", str(dedup_dir(tmp_path / "dedup", n_images))]
    args += ["--output", str(out), "--model", str(sd), "--params", str(params_file)]
    args += ["--set", "pairs.image_size=32"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return out


def test_pairs_writes_a_self_contained_labelled_dataset(tmp_path: Path, params_file: Path) -> None:
    out = make_pairs(tmp_path, params_file)
    assert (tmp_path / "tiny-sd" / "model_index.json").exists()
    rows = PAIRS.read(out).to_pylist()
    assert len(rows) == 5 * (3 + 10)  # 3 strengths + 10 transforms per captioned image
    assert {r["kind"] for r in rows} == {"img2img", "transform"}
    assert {r["split"] for r in rows} == {"train", "test"}
    assert all(r["label_source"] == "proxy" for r in rows)
    # the transforms give the label spread, identical-ish edits reach level 5
    assert {0, 5} <= {r["level"] for r in rows}
    for r in rows:
        assert (out / r["replica_uri"]).is_file() and (out / r["source_uri"]).is_file()
        assert r["replica_uri"].startswith("replicas/") and r["source_uri"].startswith("sources/")
    per_image = {r["source_image_id"]: r["split"] for r in rows}
    assert all(per_image[r["source_image_id"]] == r["split"] for r in rows)
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["rejects"] == {"no_caption": 1} and meta["contracts"]["pairs"] == PAIRS.ref
    assert pq.read_table(out / "pairs.parquet").num_rows == len(rows)


def test_pairs_needs_two_usable_images(tmp_path: Path, params_file: Path) -> None:
    src = dedup_dir(tmp_path / "dedup", n_images=1)
    args = ["pairs", "--input", str(src), "--output", str(tmp_path / "p")]
    res = runner.invoke(
        app, [*args, "--model", str(tmp_path / "nope"), "--params", str(params_file)]
    )
    assert res.exit_code == 2 and "need >= 2" in res.output
    assert not (tmp_path / "p").exists()


def test_pairs_refuses_a_strength_with_no_denoising_step(tmp_path: Path, params_file: Path) -> None:
    src = dedup_dir(tmp_path / "dedup", n_images=2)
    args = ["pairs", "--input", str(src), "--output", str(tmp_path / "p")]
    args += ["--params", str(params_file), "--set", "pairs.num_inference_steps=2"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "pairs.strengths value 0.3" in res.output


def test_pairs_reports_a_model_that_does_not_load(tmp_path: Path, params_file: Path) -> None:
    src = dedup_dir(tmp_path / "dedup", n_images=2)
    args = ["pairs", "--input", str(src), "--output", str(tmp_path / "p")]
    res = runner.invoke(app, [*args, "--model", str(tmp_path), "--params", str(params_file)])
    assert res.exit_code == 2 and "cannot load img2img model" in res.output
