"""Typed params: defaults, overrides, and errors that name the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from replica.config import ConfigError, load_params

ROOT = Path(__file__).resolve().parents[2]


def test_project_params_load_and_every_section_is_present() -> None:
    params = load_params(ROOT / "params.yaml")
    text = (ROOT / "params.yaml").read_text()
    for section in params.to_dict():
        assert f"\n{section}:" in f"\n{text}", f"params.yaml lacks section {section!r}"
    assert params.pairs.img2img_strengths == (0.15, 0.35, 0.6, 0.85)


def test_override_uses_yaml_scalars_and_changes_the_digest(params_file: Path) -> None:
    base = load_params(params_file)
    changed = load_params(params_file, ["copy.lr=1e-4", "pairs.img2img_strengths=[0.5]"])
    assert changed.copy.lr == pytest.approx(1e-4)
    assert changed.pairs.img2img_strengths == (0.5,)
    assert changed.digest("copy") != base.digest("copy")
    assert changed.digest("dedup") == base.digest("dedup")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.learning_rate=1", r"unknown key\(s\) \['learning_rate'\] in 'train'"),
        ("trian.lr=1", r"unknown params section\(s\) \['trian'\]"),
        ("copy.steps=ten", r"copy.steps must be an integer, got 'ten'"),
        ("crawl.fetch_remote=1", r"crawl.fetch_remote must be true or false, got 1"),
        ("pairs.img2img_strengths=0.5", r"pairs.img2img_strengths must be a list, got 0.5"),
        ("pairs.fit=squash", r"pairs.fit must be one of \['crop', 'pad'\], got 'squash'"),
        ("pairs.families=[crop, blur]", r"pairs.families\[1\] must be one of \['reencode'"),
        ("train=1", r"must look like section.key=value"),
    ],
)
def test_bad_overrides_name_the_key_and_value(
    params_file: Path, override: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_params(params_file, [override])


def test_missing_params_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_params(tmp_path / "nope.yaml")


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "params.yaml"
    p.write_text("dedup:\n  threshold: 0.8\n  treshold: 0.9\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['treshold'\] in 'dedup'"):
        load_params(p)


def test_family_subsections_load_override_and_reject_unknown_keys(params_file: Path) -> None:
    from replica.config import Detector

    p = load_params(params_file, ["promote.copy.floor=0.25", "register.copy.model_name=m"])
    assert p.promote.family(Detector.copy).floor == 0.25
    assert p.promote.copy.beat_baselines  # the rest of the subsection keeps its values
    assert p.register.family(Detector.copy).model_name == "m"
    whole = load_params(params_file, ['register.copy={"model_name": "n"}'])  # as KFP passes it
    assert whole.register.copy.model_name == "n"
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['flor'\] in 'promote.copy'"):
        load_params(params_file, ["promote.copy.flor=1"])
    with pytest.raises(ConfigError, match=r"promote\.copy must be a mapping"):
        load_params(params_file, ["promote.copy=3"])
