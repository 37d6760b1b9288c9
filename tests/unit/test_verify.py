"""Local-feature verification and global descriptors on pictures with known geometry."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from replica.verify.descriptors import describe, hist_hog_similarity, hog, pair_vector
from replica.verify.local import VerifyConfig, extract, verify
from tests.factories import textured

CFG = VerifyConfig()


def arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


def test_a_pasted_region_of_20_percent_of_the_reference_is_found() -> None:
    ref = textured(1, (320, 240))
    # a region of 20 % of the reference's area (0.5 x 0.4), pasted at 1.2x scale into another
    region = ref.crop((40, 60, 200, 156)).resize((192, 115))
    query = textured(2, (320, 240))
    query.paste(region, (100, 90))
    v = verify(extract(arr(query), CFG), extract(arr(ref), CFG, mirror=True), CFG)
    assert v.matched == 1.0 and v.mirrored == 0.0
    assert 0.12 <= v.ref_share <= 0.32, v  # about the 20 % that was pasted
    assert 0.15 <= v.query_share <= 0.45, v  # the region covers ~29 % of the query
    assert v.aligned_ncc > 0.8 and v.log_inliers > np.log1p(15)


def test_an_unrelated_image_is_rejected() -> None:
    v = verify(
        extract(arr(textured(3, (320, 240))), CFG),
        extract(arr(textured(4, (320, 240))), CFG, mirror=True),
        CFG,
    )
    assert v.matched == 0.0 and v.ref_share == 0.0 and v.query_share == 0.0


def test_a_flipped_rotated_copy_verifies_through_the_mirrored_reference() -> None:
    ref = textured(5, (320, 240))
    query = ImageOps.mirror(ref).rotate(12, expand=True)
    v = verify(extract(arr(query), CFG), extract(arr(ref), CFG, mirror=True), CFG)
    assert v.matched == 1.0 and v.mirrored == 1.0 and v.ref_share > 0.7
    assert 0.03 < v.rotation < 0.1  # 12 degrees = 0.067 half turns


def test_a_crop_keeps_its_share_of_the_reference() -> None:
    ref = textured(6, (320, 240))
    query = ref.crop((0, 0, 160, 240))  # the left half
    v = verify(extract(arr(query), CFG), extract(arr(ref), CFG, mirror=True), CFG)
    assert v.matched == 1.0 and 0.4 <= v.ref_share <= 0.6 and v.query_share > 0.75


def test_local_features_round_trip_through_arrays() -> None:
    from replica.verify.local import LocalFeatures

    f = extract(arr(textured(7)), CFG, mirror=True)
    back = LocalFeatures.from_arrays(f.arrays())
    assert back.size == f.size and back.mirrored is not None
    assert np.array_equal(back.plain.descriptors, f.plain.descriptors)


def test_global_descriptors_see_a_copy_and_a_mirror() -> None:
    img = textured(8)
    a, b = describe(arr(img)), describe(arr(ImageOps.mirror(img)))
    assert hist_hog_similarity(a, a) == pytest.approx(1.0, abs=1e-5)
    v = pair_vector(b, a)
    # pHash, HOG and thumbnail similarities recover from the flip in their _flip variants
    assert v[1] == 1.0 and v[4] == pytest.approx(1.0, abs=1e-5) and v[6] > 0.99
    other = pair_vector(describe(arr(textured(9))), a)
    assert other[4] < 0.9 and other[6] < 0.9


def test_hog_has_the_dalal_triggs_shape_and_is_invariant_to_brightness() -> None:
    g = np.asarray(textured(10, (64, 64)).convert("L"), np.float32)
    h1, h2 = hog(g), hog(g * 0.5 + 40)
    assert h1.shape == (7 * 7 * 36,)
    assert float(h1 @ h2 / np.linalg.norm(h1) / np.linalg.norm(h2)) > 0.99
