"""Local-feature verification of a (query, reference) pair: does part of the reference appear in
the query, how much of it, and how faithfully?

Crops, pasted regions, collages and screenshots defeat global descriptors: the query's global
statistics are dominated by content the reference never had. Keypoints survive them. The
procedure, on grayscale images whose long side is ``max_side``:

1. keypoints and binary descriptors (ORB) or SIFT descriptors on each image; the reference's
   are also computed on its mirror image, so flips verify too (``LocalFeatures``, cacheable);
2. nearest-two matching query -> reference and Lowe's ratio test;
3. a RANSAC (MAGSAC++) homography reference -> query; degenerate ones (folded, near-zero or huge
   scale) are rejected;
4. the two images aligned by it at ``align_side`` pixels and compared cell by cell (normalised
   cross-correlation, or equal means on flat cells): the share of the reference's cells that
   reappear in the query (``ref_share``), the share of the query's cells that come from the
   reference (``query_share``), the agreement inside the overlap and the overlap's NCC.

The measurements (``Verification``) are features for the fusion head; none is a level by itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from replica.config import VerifyMethod as Method


@dataclass(frozen=True)
class VerifyConfig:
    """Settings of local features and verification; saved with the model."""

    method: Method = Method.orb
    max_side: int = 320  # keypoints are found on images resized to this long side
    n_features: int = 500
    ratio: float = 0.8  # Lowe's ratio test
    ransac_px: float = 4.0  # RANSAC reprojection threshold, pixels at max_side
    min_matches: int = 8  # fewer good matches: no homography is tried
    align_side: int = 128  # long side of the aligned comparison
    cell: int = 8  # comparison cells are cell x cell pixels at align_side
    agree_ncc: float = 0.5  # a textured cell reappears when its NCC reaches this
    flat_std: float = 6.0  # cells with less grey-level spread than this compare by mean
    flat_diff: float = 20.0  # flat cells agree when their means differ by less

    def __post_init__(self) -> None:
        if not 0 < self.ratio < 1:
            raise ValueError(f"verify ratio must be in (0, 1), got {self.ratio}")
        if self.max_side < 32 or self.align_side < 4 * self.cell:
            raise ValueError(
                f"verify sizes too small: max_side={self.max_side}, align_side="
                f"{self.align_side}, cell={self.cell}"
            )

    def key(self) -> str:
        """What the cached features depend on (not the matching thresholds)."""
        return f"{self.method}-{self.max_side}-{self.n_features}-{self.align_side}"


@dataclass
class Side:
    """Keypoints of one orientation of an image: positions [N, 2] and descriptors [N, D]."""

    points: np.ndarray
    descriptors: np.ndarray


@dataclass
class LocalFeatures:
    """What verification needs of one image; every field is an array, so it caches as .npz."""

    plain: Side
    mirrored: Side | None  # computed for references only
    size: tuple[int, int]  # (width, height) at max_side
    thumb: np.ndarray  # uint8 grey [h, w], long side align_side

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "points": self.plain.points,
            "descriptors": self.plain.descriptors,
            "size": np.array(self.size, np.int32),
            "thumb": self.thumb,
        }
        if self.mirrored is not None:
            out |= {"m_points": self.mirrored.points, "m_descriptors": self.mirrored.descriptors}
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> LocalFeatures:
        mirrored = Side(a["m_points"], a["m_descriptors"]) if "m_points" in a else None
        w, h = (int(v) for v in a["size"])
        return cls(Side(a["points"], a["descriptors"]), mirrored, (w, h), a["thumb"])


FIELDS = (
    "matched",  # 1 when a homography passed the checks
    "mirrored",  # 1 when it matched the mirrored reference
    "log_matches",  # log1p(ratio-test matches)
    "log_inliers",  # log1p(RANSAC inliers)
    "inlier_ratio",  # inliers / matches
    "hull_share",  # convex hull of the inliers / reference area
    "ref_share",  # reference cells that reappear in the query
    "query_share",  # query cells that come from the reference
    "overlap_share",  # reference cells the homography maps inside the query
    "agreement",  # reappearing cells / overlapping cells
    "aligned_ncc",  # NCC of reference and aligned query inside the inliers' convex hull
    "log_scale",  # |log| of the homography's area scale (query px per reference px)
    "rotation",  # |rotation| of the homography, in half turns (0..1)
)


@dataclass(frozen=True)
class Verification:
    """The measurements of one pair; ``vector()`` is their order in ``FIELDS``."""

    matched: float = 0.0
    mirrored: float = 0.0
    log_matches: float = 0.0
    log_inliers: float = 0.0
    inlier_ratio: float = 0.0
    hull_share: float = 0.0
    ref_share: float = 0.0
    query_share: float = 0.0
    overlap_share: float = 0.0
    agreement: float = 0.0
    aligned_ncc: float = 0.0
    log_scale: float = 0.0
    rotation: float = 0.0

    def vector(self) -> np.ndarray:
        data = asdict(self)
        return np.array([data[name] for name in FIELDS], np.float32)


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def _resize_long(gray: np.ndarray, side: int) -> np.ndarray:
    h, w = gray.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _detector(cfg: VerifyConfig) -> cv2.Feature2D:
    if cfg.method == Method.sift:
        return cv2.SIFT_create(nfeatures=cfg.n_features)  # type: ignore[attr-defined]
    return cv2.ORB_create(nfeatures=cfg.n_features, fastThreshold=10)  # type: ignore[attr-defined]


def _side(detector: cv2.Feature2D, gray: np.ndarray, cfg: VerifyConfig) -> Side:
    keypoints, descriptors = detector.detectAndCompute(gray, None)
    width = 128 if cfg.method == Method.sift else 32
    dtype = np.float32 if cfg.method == Method.sift else np.uint8
    if descriptors is None or not keypoints:
        return Side(np.zeros((0, 2), np.float32), np.zeros((0, width), dtype))
    points = np.array([k.pt for k in keypoints], np.float32)
    return Side(points, descriptors.astype(dtype))


def extract(image: np.ndarray, cfg: VerifyConfig, mirror: bool = False) -> LocalFeatures:
    """Local features of an RGB (or grey) uint8 image; ``mirror`` adds the mirror image's."""
    gray = _resize_long(_gray(image), cfg.max_side)
    detector = _detector(cfg)
    plain = _side(detector, gray, cfg)
    mirrored = _side(detector, np.ascontiguousarray(gray[:, ::-1]), cfg) if mirror else None
    h, w = gray.shape
    return LocalFeatures(plain, mirrored, (w, h), _resize_long(gray, cfg.align_side))


def _good_matches(query: Side, ref: Side, cfg: VerifyConfig) -> tuple[np.ndarray, np.ndarray]:
    """Matched point pairs (reference, query) that pass the ratio test: [M, 2] each."""
    if len(query.descriptors) < 2 or len(ref.descriptors) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    norm = cv2.NORM_L2 if cfg.method == Method.sift else cv2.NORM_HAMMING
    pairs = cv2.BFMatcher(norm).knnMatch(query.descriptors, ref.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < cfg.ratio * p[1].distance]
    ref_pts = np.array([ref.points[m.trainIdx] for m in good], np.float32).reshape(-1, 2)
    query_pts = np.array([query.points[m.queryIdx] for m in good], np.float32).reshape(-1, 2)
    return ref_pts, query_pts


MAX_REF_OVER_QUERY = 30.0  # the reference mapped 30x the query's area: a sliver at best


def _plausible(h: np.ndarray, ref_size: tuple[int, int], query_size: tuple[int, int]) -> bool:
    """A homography that keeps the reference a convex, unfolded quad of sane scale: neither
    vanishing nor blown up so that the query would show a sliver of it (degenerate fits on a
    few chance matches look like that)."""
    w, hgt = ref_size
    corners = np.array([[0, 0], [w, 0], [w, hgt], [0, hgt]], np.float32).reshape(-1, 1, 2)
    quad = cv2.perspectiveTransform(corners, h).reshape(-1, 2)
    if not np.isfinite(quad).all() or not cv2.isContourConvex(quad.astype(np.float32)):
        return False
    area = cv2.contourArea(quad.astype(np.float32))
    over_query = area / (query_size[0] * query_size[1])
    return 1e-3 < area / (w * hgt) < 1e3 and 1e-3 < over_query < MAX_REF_OVER_QUERY


def _scale_to(size_from: tuple[int, int], size_to: tuple[int, int]) -> np.ndarray:
    return np.diag([size_to[0] / size_from[0], size_to[1] / size_from[1], 1.0])


def _cells(a: np.ndarray, b: np.ndarray, valid: np.ndarray, cfg: VerifyConfig) -> tuple:
    """Per-cell agreement of ``a`` and aligned ``b`` where ``valid``: (agree, covered) masks."""
    c = cfg.cell
    h, w = (a.shape[0] // c) * c, (a.shape[1] // c) * c

    def grid(x: np.ndarray) -> np.ndarray:  # [H, W] -> [rows, cols, c*c]
        return (
            x[:h, :w]
            .reshape(h // c, c, w // c, c)
            .transpose(0, 2, 1, 3)
            .reshape(h // c, w // c, -1)
        )

    ga, gb, gv = grid(a.astype(np.float32)), grid(b.astype(np.float32)), grid(valid)
    covered = gv.mean(-1) > 0.5
    da, db = ga - ga.mean(-1, keepdims=True), gb - gb.mean(-1, keepdims=True)
    sa, sb = ga.std(-1), gb.std(-1)
    ncc = (da * db).mean(-1) / np.maximum(sa * sb, 1e-6)
    flat = (sa < cfg.flat_std) & (sb < cfg.flat_std)
    same_mean = np.abs(ga.mean(-1) - gb.mean(-1)) < cfg.flat_diff
    agree = covered & np.where(flat, same_mean, ncc >= cfg.agree_ncc)
    return agree, covered


def _measure(
    query: LocalFeatures, ref: LocalFeatures, ref_side: Side, mirrored: bool, cfg: VerifyConfig
) -> Verification:
    ref_pts, query_pts = _good_matches(query.plain, ref_side, cfg)
    n = len(ref_pts)
    failed = Verification(log_matches=math.log1p(n))
    if n < cfg.min_matches:
        return failed
    h, mask = cv2.findHomography(ref_pts, query_pts, cv2.USAC_MAGSAC, cfg.ransac_px)
    if h is None or mask is None or not _plausible(h, ref.size, query.size):
        return failed
    inliers = mask.ravel().astype(bool)
    n_in = int(inliers.sum())
    if n_in < 4:
        return failed
    hull = cv2.convexHull(ref_pts[inliers].reshape(-1, 1, 2))
    hull_share = cv2.contourArea(hull) / (ref.size[0] * ref.size[1])

    # Align at align_side: h maps reference (max_side) -> query (max_side) pixels.
    ref_thumb, query_thumb = ref.thumb, query.thumb
    if mirrored:  # the matched keypoints were found on the mirror image of the reference
        ref_thumb = np.ascontiguousarray(ref_thumb[:, ::-1])
    rt = (ref_thumb.shape[1], ref_thumb.shape[0])
    qt = (query_thumb.shape[1], query_thumb.shape[0])
    h_small = _scale_to(query.size, qt) @ h @ np.linalg.inv(_scale_to(ref.size, rt))
    ones_q = np.ones(query_thumb.shape, np.float32)
    ones_r = np.ones(ref_thumb.shape, np.float32)
    flags = cv2.INTER_LINEAR
    q_in_ref = cv2.warpPerspective(
        query_thumb, h_small, rt, flags=flags | cv2.WARP_INVERSE_MAP, borderValue=0
    )
    valid_ref = cv2.warpPerspective(ones_q, h_small, rt, flags=flags | cv2.WARP_INVERSE_MAP)
    r_in_query = cv2.warpPerspective(ref_thumb, h_small, qt, flags=flags, borderValue=0)
    valid_query = cv2.warpPerspective(ones_r, h_small, qt, flags=flags)
    agree_r, covered_r = _cells(ref_thumb, q_in_ref, valid_ref, cfg)
    agree_q, _ = _cells(query_thumb, r_in_query, valid_query, cfg)
    n_cells_r = agree_r.size
    # fidelity of the verified part: NCC inside the inliers' hull (in the reference's frame)
    hull_small = hull.reshape(-1, 2) * np.array([rt[0] / ref.size[0], rt[1] / ref.size[1]])
    region = np.zeros(ref_thumb.shape, np.uint8)
    cv2.fillConvexPoly(region, np.round(hull_small).astype(np.int32), 1)
    overlap = (valid_ref > 0.5) & (region > 0)
    a = ref_thumb[overlap].astype(np.float64)
    b = q_in_ref[overlap].astype(np.float64)
    ncc = float(np.corrcoef(a, b)[0, 1]) if len(a) > 16 and a.std() > 0 and b.std() > 0 else 0.0

    # Area scale and rotation of the map, from its affine part at the reference's centre.
    linear = h_small[:2, :2] / h_small[2, 2]
    det = float(np.linalg.det(linear))
    scale = abs(det) * (ref_thumb.size / query_thumb.size)
    rotation = abs(math.atan2(linear[1, 0], linear[0, 0])) / math.pi
    return Verification(
        matched=1.0,
        mirrored=float(mirrored),
        log_matches=math.log1p(n),
        log_inliers=math.log1p(n_in),
        inlier_ratio=n_in / n,
        hull_share=float(min(hull_share, 1.0)),
        ref_share=float(agree_r.sum() / n_cells_r),
        query_share=float(agree_q.sum() / agree_q.size),
        overlap_share=float(covered_r.sum() / n_cells_r),
        agreement=float(agree_r.sum() / max(covered_r.sum(), 1)),
        aligned_ncc=ncc if math.isfinite(ncc) else 0.0,
        log_scale=abs(math.log(max(scale, 1e-6))),
        rotation=rotation,
    )


def verify(query: LocalFeatures, ref: LocalFeatures, cfg: VerifyConfig) -> Verification:
    """Measure how much of ``ref`` reappears in ``query``; the mirrored reference is tried when
    the plain one shows little of it. Without a verified homography only ``log_matches`` is set."""
    plain = _measure(query, ref, ref.plain, False, cfg)
    if ref.mirrored is None or plain.ref_share >= 0.2:
        return plain
    flipped = _measure(query, ref, ref.mirrored, True, cfg)
    return max((plain, flipped), key=lambda v: (v.matched, v.ref_share, v.log_inliers))
