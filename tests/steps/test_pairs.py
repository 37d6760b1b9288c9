"""``replica gallery`` -> ``replica pairs`` on a small folder: levels by construction, balance,
splits without leaks, byte-for-byte reruns, format parity, human labels."""

from __future__ import annotations

import atexit
import csv
import hashlib
import io
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageEnhance
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import LABELS, PAIRS, PAIRS_GALLERY
from replica.generate.levels import recipe_level
from tests.factories import png_bytes

runner = CliRunner()
SMALL = ["--set", "pairs.image_size=64", "--set", "pairs.num_inference_steps=8"]
SMALL += ["--set", "pairs.guidance_scale=1.0", "--set", "pairs.workers=1"]
BUILT = ["--set", "pairs.diffusion_share=0.5"]


def invoke(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


def gallery_folder(root: Path, n_images: int) -> Path:
    """``n_images`` pictures (every third captioned, through a manifest), plus a brightened
    near copy of the first, which must share its cluster and split."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_images):
        (root / f"img{i}.png").write_bytes(png_bytes(300 + i, size=96))
        rows.append({"path": f"img{i}.png", "caption": f"a photo of scene {i}" if i % 3 else ""})
    with Image.open(root / "img0.png") as im:
        ImageEnhance.Brightness(im.convert("RGB")).enhance(1.08).save(
            root / "near0.jpg", quality=90
        )
    rows.append({"path": "near0.jpg", "caption": ""})
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", "caption"])
        writer.writeheader()
        writer.writerows(rows)
    return root / "manifest.csv"


def tiny_sd() -> Path:
    """One tiny random SD per test process (building it takes seconds), removed at exit."""
    global _TINY_SD
    if _TINY_SD is None:
        _TINY_SD = Path(tempfile.mkdtemp(prefix="replica-tiny-sd-")) / "tiny-sd"
        atexit.register(shutil.rmtree, _TINY_SD.parent, ignore_errors=True)
        invoke(["make-tiny-sd", "--output", str(_TINY_SD)])
    return _TINY_SD


_TINY_SD: Path | None = None


def make_pairs(tmp_path: Path, params_file: Path, n_images: int = 5, extra: tuple = ()) -> Path:
    """A gallery of ``n_images`` (+1 near copy) and its pairs with the tiny SD; the pairs dir."""
    sd = tiny_sd()
    gallery = tmp_path / "gallery"
    manifest = gallery_folder(tmp_path / "src", n_images)
    invoke(["gallery", "--source", str(manifest), "--output", str(gallery)])
    out = tmp_path / "pairs"
    args = ["pairs", "--input", str(gallery), "--output", str(out), "--model", str(sd)]
    invoke([*args, "--params", str(params_file), *SMALL, *extra])
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    tmp = tmp_path_factory.mktemp("pairs")
    params = tmp / "params.yaml"
    params.write_text((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    out = make_pairs(tmp, params, n_images=7, extra=tuple(BUILT))
    return out, params, PAIRS.read(out).to_pylist()


def test_levels_are_balanced_and_follow_from_the_recipe(built) -> None:
    out, _, rows = built
    references = PAIRS_GALLERY.read(out).to_pylist()
    assert len(references) == 8
    levels = Counter(r["level"] for r in rows)
    assert [levels[k] for k in range(6)] == [8] * 6  # one pair per level per reference
    cuts = (0.2, 0.45, 0.8)
    for r in rows:
        assert r["label_source"] == "construction" and r["level"] == r["construction_level"]
        assert recipe_level(json.loads(r["recipe"])["ops"], cuts) == r["level"]
        assert (r["generator"] is not None) == (r["family"] in ("img2img", "inpaint", "txt2img"))
    families = {r["family"] for r in rows}
    assert {"img2img", "inpaint", "txt2img", "negative", "region"} <= families
    assert len(families) >= 9


def test_files_are_self_contained_and_written_with_one_encoder(built) -> None:
    out, _, rows = built
    for r in rows:
        for uri, sha in (
            (r["source_uri"], r["source_sha256"]),
            (r["replica_uri"], r["replica_sha256"]),
        ):
            data = (out / uri).read_bytes()
            assert hashlib.sha256(data).hexdigest() == sha
            with Image.open(io.BytesIO(data)) as im:
                assert (im.format, im.size) == ("JPEG", (64, 64))


def test_no_image_or_cluster_crosses_splits(built) -> None:
    out, _, rows = built
    references = {g["image_id"]: g for g in PAIRS_GALLERY.read(out).to_pylist()}
    split_of_cluster: dict[str, set[str]] = {}
    for g in references.values():
        split_of_cluster.setdefault(g["cluster_id"], set()).add(g["split"])
    assert all(len(s) == 1 for s in split_of_cluster.values())
    assert {"train", "test"} <= {g["split"] for g in references.values()}
    for r in rows:
        assert references[r["source_image_id"]]["split"] == r["split"]
        for partner in r["partner_ids"]:  # collage cells, backgrounds, negatives
            assert references[partner]["split"] == r["split"]
            assert references[partner]["cluster_id"] != r["cluster_id"]
    near = [g for g in references.values() if g["caption"] is None]
    by_cluster = Counter(g["cluster_id"] for g in references.values())
    assert max(by_cluster.values()) == 2  # img0 and its brightened copy
    assert near  # uncaptioned images are kept


def test_captioned_images_get_a_matched_prompt(built) -> None:
    out, _, rows = built
    references = PAIRS_GALLERY.read(out).to_pylist()
    for g in references:
        if g["caption"]:
            assert g["prompt"] == g["caption"] and g["prompt_similarity"] == pytest.approx(
                1.0, abs=1e-4
            )
        else:
            assert g["prompt"] is None
    txt = [r for r in rows if r["family"] == "txt2img"]
    assert txt and all(r["prompt"] and r["level"] == 0 for r in txt)


def test_rerun_reproduces_every_image_byte_for_byte_and_applies_labels(
    built, tmp_path: Path
) -> None:
    out, params, rows = built
    target = rows[0]
    relabel = (target["level"] + 1) % 6
    (tmp_path / "l.csv").write_text(f"pair_id,level,annotator\n{target['pair_id']},{relabel},a\n")
    again = tmp_path / "again"
    args = ["pairs", "--input", str(out.parent / "gallery"), "--output", str(again)]
    args += ["--model", str(tiny_sd()), "--params", str(params), *SMALL, *BUILT]
    invoke([*args, "--labels", str(tmp_path / "l.csv")])
    files = lambda d: {p.name: p.read_bytes() for p in (d / "images").rglob("*.jpg")}  # noqa: E731
    assert files(again) == files(out)
    new = PAIRS.read(again).to_pylist()
    assert [r for r in new if r["pair_id"] != target["pair_id"]] == rows[1:]
    assert new[0] == {**target, "level": relabel, "label_source": "human"}
    assert json.loads((again / "_meta.json").read_text())["outputs"]["human_labelled"] == 1


def test_validate_passes_and_fails_on_one_png_among_jpegs(built, tmp_path: Path) -> None:
    out, params, rows = built
    args = ["validate", "--input", str(out), "--report", str(tmp_path / "ok.json")]
    assert "PASS pairs " in invoke([*args, "--params", str(params)])
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    victim = next(r for r in rows if r["split"] == "test")
    with Image.open(bad / victim["replica_uri"]) as im:
        buf = io.BytesIO()
        im.save(buf, "PNG")
    (bad / victim["replica_uri"]).write_bytes(buf.getvalue())
    table = pq.read_table(bad / "pairs.parquet")
    df = table.to_pandas()
    df.loc[df["replica_uri"] == victim["replica_uri"], "replica_sha256"] = hashlib.sha256(
        buf.getvalue()
    ).hexdigest()
    pq.write_table(
        table.from_pandas(df, schema=table.schema, preserve_index=False), bad / "pairs.parquet"
    )
    res = runner.invoke(
        app,
        [
            "validate",
            "--input",
            str(bad),
            "--report",
            str(tmp_path / "bad.json"),
            "--params",
            str(params),
        ],
    )
    assert res.exit_code == 1
    assert "FAIL pairs " in res.output and "on 'blob_format'" in res.output
    assert "mixed:JPEG/q95/4:4:4/RGB|PNG/RGB" in res.output and "observed: 2" in res.output


def test_export_then_import_labels_override_construction(built, tmp_path: Path) -> None:
    out, params, rows = built
    tasks_dir = tmp_path / "tasks"
    invoke(
        [
            "pairs",
            "export-labels",
            "--input",
            str(out),
            "--output",
            str(tasks_dir),
            "--per-stratum",
            "1",
            "--params",
            str(params),
        ]
    )
    tasks = json.loads((tasks_dir / "tasks.json").read_text())
    strata = {(r["construction_level"], r["family"]) for r in rows}
    assert len(tasks) == len(strata)
    assert '<Choices name="level"' in (tasks_dir / "label_config.xml").read_text()
    a, b = tasks[0]["data"]["pair_id"], tasks[1]["data"]["pair_id"]
    level_of = {r["pair_id"]: r["construction_level"] for r in rows}
    flipped = (level_of[a] + 3) % 6
    export = [
        {
            "data": tasks[0]["data"],
            "annotations": [
                {
                    "completed_by": {"email": "ann@x"},
                    "result": [
                        {
                            "type": "choices",
                            "from_name": "level",
                            "value": {"choices": [str(flipped)]},
                        }
                    ],
                },
                {
                    "completed_by": 7,
                    "result": [
                        {
                            "type": "choices",
                            "from_name": "level",
                            "value": {"choices": [f"Level {flipped}"]},
                        }
                    ],
                },
                {"completed_by": 8, "was_cancelled": True, "result": []},
            ],
        },
        {
            "data": tasks[1]["data"],
            "annotations": [
                {
                    "completed_by": 7,
                    "result": [
                        {
                            "type": "choices",
                            "from_name": "level",
                            "value": {"choices": [str(level_of[b])]},
                        }
                    ],
                }
            ],
        },
        {
            "data": {"pair_id": "nope"},
            "annotations": [
                {
                    "completed_by": 7,
                    "result": [
                        {"type": "choices", "from_name": "level", "value": {"choices": ["2"]}}
                    ],
                }
            ],
        },
    ]
    (tmp_path / "export.json").write_text(json.dumps(export))
    labelled = tmp_path / "labelled"
    output = invoke(
        [
            "pairs",
            "import-labels",
            "--input",
            str(out),
            "--labels",
            str(tmp_path / "export.json"),
            "--output",
            str(labelled),
            "--params",
            str(params),
        ]
    )
    assert "cancelled=1" in output and "unknown_pair=1" in output
    new = {r["pair_id"]: r for r in PAIRS.read(labelled).to_pylist()}
    assert new[a]["level"] == flipped and new[a]["label_source"] == "human"
    assert new[a]["construction_level"] == level_of[a]
    assert new[b]["label_source"] == "human" and new[b]["level"] == level_of[b]
    assert sum(r["label_source"] == "human" for r in new.values()) == 2
    figures = json.loads((labelled / "agreement.json").read_text())
    assert figures["labelled_pairs"] == 2 and figures["changed_by_humans"] == 1
    assert figures["pairs_with_2plus_annotators"] == 1 and figures["pairwise_exact"] == 1.0
    assert figures["human_equals_construction"] == 0.5
    assert len(LABELS.read(labelled)) == 3
    # a CSV from a second round adds an annotator and keeps the first round's votes
    (tmp_path / "more.csv").write_text(f"pair_id,level,annotator\n{b},5,csv-1\n{b},x,csv-2\n")
    again = tmp_path / "again"
    output = invoke(
        [
            "pairs",
            "import-labels",
            "--input",
            str(labelled),
            "--labels",
            str(tmp_path / "more.csv"),
            "--output",
            str(again),
            "--params",
            str(params),
        ]
    )
    assert "bad_level=1" in output and len(LABELS.read(again)) == 4
    args = [
        "validate",
        "--input",
        str(again),
        "--report",
        str(tmp_path / "v.json"),
        "--params",
        str(params),
    ]
    assert "PASS pairs " in invoke(args) and (again / "images").is_dir()


def test_pairs_read_the_dedup_output_too_and_keep_uncaptioned_images(
    tmp_path: Path, params_file: Path
) -> None:
    from replica.contracts import IMAGES_DEDUP
    from tests.factories import write_blob

    rows = []
    for i in range(6):
        sha, uri = write_blob(tmp_path / "dedup", png_bytes(500 + i, size=80))
        caption = "" if i % 2 else f"scene {i}"
        rows.append(
            {"image_id": f"img{i}", "article_id": f"a{i}", "sha256": sha, "uri": uri,
             "width": 80, "height": 80, "mime": "image/png", "caption": caption,
             "alt": "an alt text" if i == 1 else None, "src_url": f"https://x/{i}.png",
             "cluster_id": f"c{i}", "cluster_size": 1}
        )  # fmt: skip
    IMAGES_DEDUP.write(rows, tmp_path / "dedup")
    out = tmp_path / "p"
    args = ["pairs", "--input", str(tmp_path / "dedup"), "--output", str(out)]
    invoke([*args, "--params", str(params_file), *SMALL, "--set", "pairs.diffusion_share=0.0"])
    references = {g["image_id"]: g for g in PAIRS_GALLERY.read(out).to_pylist()}
    assert len(references) == 6 and references["img1"]["caption"] == "an alt text"
    assert references["img3"]["caption"] is None
    assert {r["family"] for r in PAIRS.read(out).to_pylist()}.isdisjoint({"img2img", "inpaint"})


def test_pairs_needs_two_usable_images(tmp_path: Path, params_file: Path) -> None:
    src = tmp_path / "one"
    src.mkdir()
    (src / "a.png").write_bytes(png_bytes(1))
    invoke(
        [
            "gallery",
            "--source",
            str(src),
            "--output",
            str(tmp_path / "g"),
            "--params",
            str(params_file),
        ]
    )
    args = ["pairs", "--input", str(tmp_path / "g"), "--output", str(tmp_path / "p")]
    res = runner.invoke(app, [*args, "--params", str(params_file)])
    assert res.exit_code == 2 and "need >= 2" in res.output
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("pairs.img2img_strengths=[0.05]", "pairs.img2img_strengths value 0.05"),
        ("pairs.level_cuts=[0.5, 0.2, 0.8]", "pairs.level_cuts must be 3 ascending"),
        ("pairs.families=[crop]", "reach no level 0"),
        ("pairs.image_size=100", "multiple of 8"),
    ],
)
def test_bad_params_are_one_line_errors(
    tmp_path: Path, params_file: Path, override: str, message: str
) -> None:
    args = ["pairs", "--input", str(tmp_path), "--output", str(tmp_path / "p")]
    res = runner.invoke(app, [*args, "--params", str(params_file), "--set", override])
    assert res.exit_code == 2 and message in res.output, res.output


def test_pairs_reports_a_model_that_does_not_load(tmp_path: Path, params_file: Path) -> None:
    manifest = gallery_folder(tmp_path / "src", 4)
    invoke(["gallery", "--source", str(manifest), "--output", str(tmp_path / "g")])
    args = ["pairs", "--input", str(tmp_path / "g"), "--output", str(tmp_path / "p")]
    args += ["--model", str(tmp_path), "--params", str(params_file), *SMALL]
    res = runner.invoke(app, [*args, "--set", "pairs.diffusion_share=1.0"])
    assert res.exit_code == 2 and "cannot load diffusion model" in res.output
