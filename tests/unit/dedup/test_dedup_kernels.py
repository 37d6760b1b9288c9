"""The compiled fingerprint kernels give the fingerprints of the numpy path they replaced,
bit for bit: the expected digests below were computed by the numpy implementation (commit
0cd3c5f) on the same seeded corpus, so any change of words, hashes, shingles, densification or
sentence keys shows here."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pyarrow as pa
import pytest

from replica.config import DedupConfig
from replica.dedup import near, text

PIECES = [
    "The", "council", "approved", "cooperation", "agreement", "Tuesday", "STRASSE", "Straße",
    "café", "cafe\u0301", "co\u00adoperation", "agree\u200bment", "It&#8217;s", "&amp;", "AT&T",
    "東京タワー", "日本", "\uff34\uff48\uff45", "\uff11\uff12", "\ufb01nal", "Ελλάδα", "Москва",
    "internationalization", "a" * 70, "x9", "3.5%", "e-mail", "\u00bd", "\u2019", "naïve",
    ".", "!", "?", ",", "\n", "\r\n", "\n\n", "By Jane Doe\n", "Share this article\n",
    "© 2024 News Corp. All rights reserved.\n", "Read more: elsewhere\n", "\ufeff", "&#10;",
]  # fmt: skip


def _corpus(n: int = 300, seed: int = 7) -> list[str]:
    """Texts mixing scripts, entities, invisible characters, words longer than 8 and 64
    bytes, boilerplate lines, sentence stops and empty texts."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(0, 120))
        picks = rng.integers(0, len(PIECES), size=k)
        seps = rng.choice([" ", "", "  ", "\t"], size=k, p=[0.8, 0.08, 0.07, 0.05])
        out.append(
            "".join(PIECES[p] + s for p, s in zip(picks.tolist(), seps.tolist(), strict=True))
        )
    return out


def _digest(fp: text.Fingerprints) -> str:
    h = hashlib.sha256()
    for a in (fp.exact, fp.n_words, fp.n_raw_words, fp.signature, fp.sentence_key, fp.sentence_doc):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("shingle", "num_perm", "seed", "sentence_words", "expected"),
    [
        (1, 64, 0, 0, "8867466ea0d1d4e5b072a4ee17deae3e0150116ad08d83ce3d998678c24ee323"),
        (2, 128, 0, 12, "7b80abe4372386acf2f5b24993feb3b411bead51c03766e8c6928702ef91696d"),
        (3, 128, 5, 4, "3e0620cb0a6235d43d0e9d061813fc9551a67b90c1fcebeb3259e06fe30b1687"),
        (5, 256, 1, 1, "4ceb3388c746e234a9453264ce3c44e1a43c866618b168f5f76824056dc9c80e"),
    ],
)
def test_fingerprints_are_those_of_the_numpy_path(
    shingle: int, num_perm: int, seed: int, sentence_words: int, expected: str
) -> None:
    fp = text.fingerprint(_corpus(), shingle, num_perm, seed, None, sentence_words)
    assert _digest(fp) == expected


def test_a_batch_gives_each_text_its_own_fingerprint() -> None:
    texts = _corpus(60)
    whole = text.fingerprint(texts, 2, 128, 0, None, 12)
    for i in (0, 7, 59):
        one = text.fingerprint([texts[i]], 2, 128, 0, None, 12)
        assert one.exact[0] == whole.exact[i]
        assert np.array_equal(one.signature[0], whole.signature[i])
        assert np.array_equal(one.sentence_key, whole.sentence_key[whole.sentence_doc == i])


def _signatures(n: int = 200, width: int = 64) -> np.ndarray:
    """Signature rows with many equal values between rows (few distinct values)."""
    return np.random.default_rng(3).integers(0, 4, size=(n, width)).astype(np.uint32)


def test_pair_scores_are_the_share_of_equal_values() -> None:
    from replica.dedup import near

    sig = _signatures()
    pairs = np.array([[0, 1], [5, 9], [3, 3], [10, 199]], dtype=np.int64)
    size = np.full(len(sig), 50.0, np.float32)
    got = near.score_pairs(sig, size, pairs).jaccard
    expected = (sig[pairs[:, 0]] == sig[pairs[:, 1]]).mean(axis=1).astype(np.float32)
    assert np.array_equal(got, expected) and got[2] == 1.0


def test_consensus_is_the_mean_share_with_up_to_sixteen_cluster_peers() -> None:
    from replica.dedup import near

    sig = _signatures()
    labels = np.repeat(np.arange(10), 20)[np.random.default_rng(4).permutation(200)]
    labels[:3] = 1000 + np.arange(3)  # three singletons
    got = near.consensus(labels, sig)
    for x in (0, 1, 2):
        assert got[x] == 1.0
    for x in (3, 50, 199):
        members = np.flatnonzero(labels == labels[x])  # in input order, as the kernel sees them
        at = int(np.flatnonzero(members == x)[0])
        peers = [members[(at + d) % len(members)] for d in range(1, min(16, len(members) - 1) + 1)]
        expected = np.mean([(sig[x] == sig[p]).mean() for p in peers])
        assert abs(float(got[x]) - expected) < 1e-6


def test_band_keys_hash_each_band_of_rows_with_its_index() -> None:
    from replica.dedup import lsh

    sig = _signatures(20, 12)
    keys = lsh.band_keys(sig, 4, 3)
    for i in (0, 19):
        for b in range(4):
            h = text.mix64(np.array([b + 1], np.uint64))
            for c in range(3 * b, 3 * b + 3):
                h = text.mix64(h ^ np.uint64(sig[i, c]))
            assert keys[i, b] == h[0]
    same = _signatures(20, 12)
    same[1, :3] = same[0, :3]  # rows 0 and 1 share their first band only
    k = lsh.band_keys(same, 4, 3)
    assert k[0, 0] == k[1, 0] and (k[0, 1:] != k[1, 1:]).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_runs_are_the_true_runs_cut_at_cuts(seed: int) -> None:
    from replica.dedup import kernels

    rng = np.random.default_rng(seed)
    word = rng.random(500) < 0.7
    word[-1] = seed == 1  # a run open at the end, or not
    cuts = np.sort(rng.choice(500, size=40, replace=False)).astype(np.int64)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], word.astype(np.int8), [0]])))
    cut_runs = []
    for s, e in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        inner = [c for c in cuts.tolist() if s < c < e]
        bounds = [s, *inner, e]
        cut_runs += list(itertools.pairwise(bounds))
    start, end = kernels.runs(word, cuts)
    assert list(zip(start.tolist(), end.tolist(), strict=True)) == cut_runs
    twice = np.sort(np.concatenate([cuts, cuts[::3]]))  # repeated cuts, as empty texts give
    assert all(
        np.array_equal(x, y) for x, y in zip(kernels.runs(word, twice), (start, end), strict=True)
    )
    none = kernels.runs(np.zeros(5, bool), cuts[:0])
    assert none[0].size == none[1].size == 0


def test_invisible_characters_are_found_and_dropped_with_positions_moved() -> None:
    from replica.dedup import kernels

    raw = "a\u00adb \u200bc\u2060d \ufeffe é \u2010f \u2028g"  # hyphen U+2010 and U+2028 stay
    data = np.frombuffer(raw.encode(), np.uint8)
    hot = text._hot(data)
    gone = text._invisible(data, hot[text._SPECIAL[data[hot]]])
    kept, _ = kernels.lower_and_word(data, gone)
    moved = kernels.drop_positions(hot, gone)
    assert kept.tobytes().decode() == "ab cd e é \u2010f \u2028g"
    keep = np.ones(len(data), bool)
    keep[gone] = False
    assert np.array_equal(moved, hot[keep[hot]] - np.searchsorted(gone, hot[keep[hot]]))
    assert np.array_equal(kept[moved], data[hot[keep[hot]]])


def test_folded_words_are_the_same_from_a_fresh_or_a_filled_cache() -> None:
    texts = [*_corpus(80, seed=11), "a question \u037e mark"]  # U+037E folds to ";"
    text._FOLD_CACHES.clear()
    fresh = text.fingerprint(texts, 2, 128, 0, None, 12)
    filled = text.fingerprint(texts[::-1], 2, 128, 0, None, 12)  # every word cached now
    assert np.array_equal(fresh.exact[::-1], filled.exact)
    assert np.array_equal(fresh.signature[::-1], filled.signature)
    cache, gone = text._fold_cache()
    assert len(cache) > 0 and len(gone) == 1  # the Greek question mark folds to nothing


def _runs_numpy(keys: np.ndarray, ids: np.ndarray) -> tuple[list[list[int]], list[int]]:
    """The definition of ``kernels.equal_key_groups``: runs of two or more equal keys in a
    stable argsort, as lists of ids, and the bounds of those runs."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    head = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]])) if len(k) else []
    ends = np.append(head[1:], len(k)) if len(k) else []
    groups = [ids[order[h:e]].tolist() for h, e in zip(head, ends, strict=True) if e - h >= 2]
    return groups, np.cumsum([0] + [len(g) for g in groups]).tolist()


@pytest.mark.parametrize("n", [0, 1, 2, 50, 3000, 40000])
@pytest.mark.parametrize("kind", ["few", "close", "hashes"])
def test_equal_key_groups_are_the_runs_of_a_stable_sort(n: int, kind: str) -> None:
    from replica.dedup import kernels

    rng = np.random.default_rng(n)
    if kind == "few":  # large groups, every part of the radix partition holds many keys
        keys = rng.integers(0, 7, n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    elif kind == "close":  # distinct keys with equal top 24 bits: the parts that need a sort
        keys = (rng.integers(0, 3, n).astype(np.uint64) << np.uint64(60)) | rng.integers(
            0, max(1, n // 3), n
        ).astype(np.uint64)
    else:  # hash keys, some repeated
        keys = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        keys[rng.integers(0, max(1, n), n // 3)] = keys[rng.integers(0, max(1, n), n // 3)]
    ids = rng.permutation(n).astype(np.int64) + 5
    members, bounds = kernels.equal_key_groups(keys, ids)
    groups, cuts = _runs_numpy(keys, ids)
    assert members.tolist() == [i for g in groups for i in g]
    assert bounds.tolist() == cuts
    assert n < 50 or len(groups) > 1


def _pairs_numpy(members: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The definition of ``kernels.group_pairs``: ``unique_pairs`` of each group's pairs."""
    from replica.dedup import lsh

    pairs = [
        (members[x], members[y])
        for g in range(len(bounds) - 1)
        for x in range(bounds[g], bounds[g + 1])
        for y in range(x + 1, bounds[g + 1])
    ]
    return lsh.unique_pairs(np.array(pairs, np.int64).reshape(-1, 2))


def test_group_pairs_are_the_distinct_sorted_pairs_within_groups() -> None:
    from replica.dedup import lsh

    rng = np.random.default_rng(11)
    groups = [
        np.sort(rng.choice(9000, size=int(rng.integers(2, 6)), replace=False)) for _ in range(3000)
    ]
    groups += [np.array([4, 4, 7]), np.array([4, 7])] * 5  # a repeated member; a pair 10 times
    groups += [np.sort(rng.choice(9000, size=80, replace=False))]  # over 32 peers: sorted
    groups += [np.array([8999, 9000])]  # across a block of 4096
    members = np.concatenate(groups).astype(np.int64)
    bounds = np.cumsum([0] + [len(g) for g in groups]).astype(np.int64)
    got = lsh.group_pairs(lsh.Groups(members, bounds))
    expected = _pairs_numpy(members, bounds)
    assert got.dtype == np.int64 and got.shape == expected.shape
    assert np.array_equal(got, expected)
    assert [4, 7] in got.tolist() and [4, 4] not in got.tolist()
    empty = lsh.group_pairs(lsh.Groups(np.zeros(0, np.int64), np.zeros(1, np.int64)))
    assert empty.shape == (0, 2) and empty.dtype == np.int64


def _candidates_numpy(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The definition of the band candidates: the bucket pairs of every band, distinct."""
    from replica.dedup import lsh

    parts = [lsh.bucket_pairs(keys[:, b], ids) for b in range(keys.shape[1])]
    return lsh.unique_pairs(np.concatenate(parts) if parts else np.zeros((0, 2), np.int64))


@pytest.mark.parametrize(("n", "bands"), [(0, 4), (1, 3), (300, 0), (300, 1), (2000, 9)])
@pytest.mark.parametrize("ids", ["ascending", "shuffled"])
def test_band_groups_give_the_bucket_pairs_of_each_band(n: int, bands: int, ids: str) -> None:
    from replica.dedup import lsh

    rng = np.random.default_rng(n + bands)
    sig = rng.integers(0, 3, size=(n, 3 * bands)).astype(np.uint32)
    if n > 1:
        sig[n // 2 : n // 2 + 3] = sig[n // 2 - 1]  # a group of 4 found in every band
    keys = lsh.band_keys(sig, bands, 3)
    pick = np.sort(rng.choice(10 * n + 1, size=n, replace=False)).astype(np.int64)
    if ids == "shuffled":
        pick = rng.permutation(pick)
    order = np.argsort(pick, kind="stable")  # group members ascend where ids ascend
    columns = (keys[order, b] for b in range(bands))
    got = lsh.group_pairs(lsh.bucket_groups(columns, pick[order]))
    expected = _candidates_numpy(keys, pick)
    assert got.dtype == np.int64 and got.shape == expected.shape
    assert np.array_equal(got, expected)
    assert n < 300 or bands == 0 or len(got) > 100


def test_band_columns_are_the_band_keys_of_the_picked_rows() -> None:
    from replica.dedup import lsh

    sig = _signatures(50, 12)
    pick = np.array([3, 7, 7, 49, 0], np.int64)
    assert np.array_equal(lsh.band_columns(sig, pick, 4, 3), lsh.band_keys(sig[pick], 4, 3).T)
    assert lsh.band_columns(sig, pick[:0], 4, 3).shape == (4, 0)


def _split_stories_in_python(
    links: near.Links, sig: np.ndarray, size: np.ndarray, cfg: DedupConfig, max_neighbors: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """``near.split_stories`` as plain Python before its kernel (commit 7776ec6): neighbour
    pairs scored with numpy, stories as dicts in the order their roots first appear:
    (the links kept, the concatenations, the count of links dropped)."""
    n, p = len(size), links.pairs
    a = np.concatenate([p[:, 0], p[:, 1]])
    b = np.concatenate([p[:, 1], p[:, 0]])
    edge = np.concatenate([np.arange(len(p)), np.arange(len(p))])
    order = np.lexsort((b, a))
    a, b, edge = a[order], b[order], edge[order]
    start = np.searchsorted(a, np.arange(n + 1))
    deg = np.diff(start)
    hub = np.flatnonzero(deg >= 2)
    us, vs, owners = [], [], []
    for x in hub.tolist():
        d = min(int(deg[x]), max_neighbors)
        for i in range(d):
            for k in range(i + 1, d):
                us.append(b[start[x] + i])
                vs.append(b[start[x] + k])
                owners.append(x)
    uu, vv, own = np.array(us, np.int64), np.array(vs, np.int64), np.array(owners, np.int64)
    apart = near.score_pairs(sig, size, np.stack([uu, vv], axis=1)).containment < (
        cfg.band_containment
    )
    drop = np.zeros(len(p), dtype=bool)
    concat = links.concat.copy()
    sh = near.score_pairs(sig, size, np.stack([a, b], axis=1))
    share = np.minimum(sh.jaccard * (size[a] + size[b]) / (1.0 + sh.jaccard) / size[a], 1.0)
    for x in np.unique(own[apart]).tolist():
        lo = int(start[x])
        hi = lo + min(int(deg[x]), max_neighbors)
        parent = {y: y for y in b[lo:hi].tolist()}
        mine = own == x
        for u, v, gone in zip(uu[mine].tolist(), vv[mine].tolist(), apart[mine], strict=True):
            ru, rv = _find(parent, u), _find(parent, v)
            if not gone and ru != rv:
                parent[max(ru, rv)] = min(ru, rv)
        root = [_find(parent, y) for y in b[lo:hi].tolist()]
        s_of: dict[int, float] = {}
        f_of: dict[int, float] = {}
        z_of: dict[int, float] = {}
        for i, r in enumerate(root):
            s_, f_, z = float(share[lo + i]), float(sh.containment[lo + i]), float(size[b[lo + i]])
            s_of[r] = max(s_of.get(r, s_), s_)
            f_of[r] = max(f_of.get(r, f_), f_)
            z_of[r] = max(z_of.get(r, z), z)
        top = max(f_of.values()) - near.FIT_TIE
        best = max((g for g in f_of if f_of[g] >= top), key=lambda g: s_of[g])
        big = [g for g, s in s_of.items() if s >= cfg.min_story_share]
        if len(big) >= 2 and all(float(size[x]) > z_of[g] for g in big):
            concat[x] = True
        if len(s_of) < 2:
            continue
        drop[edge[[lo + i for i, r in enumerate(root) if r != best]]] = True
        drop[edge[hi : start[x + 1]]] = True
    return p[~drop], concat, int(drop.sum())


def _find(parent: dict[int, int], y: int) -> int:
    while parent[y] != y:
        y = parent[y]
    return y


def _story_links(
    seed: int, n: int = 80, width: int = 16
) -> tuple[near.Links, np.ndarray, np.ndarray]:
    """Links among texts whose signatures mix a few story rows (so neighbours of a text are
    copies, partial copies or apart, and scores tie often), plus a hub with 30 neighbours."""
    rng = np.random.default_rng(seed)
    stories = rng.integers(0, 2**32 - 2, size=(4, width)).astype(np.uint32)
    pick = rng.integers(0, 4, size=(n, width))
    sig = stories[pick, np.arange(width)]
    own = rng.random((n, width)) < 0.4  # some values of each text's own
    sig[own] = rng.integers(0, 2**32 - 2, size=int(own.sum())).astype(np.uint32)
    first = rng.integers(0, 4, size=n)  # most texts lean to one story
    lean = rng.random((n, width)) < 0.5
    sig[lean] = stories[first[:, None].repeat(width, 1)[lean], np.nonzero(lean)[1]]
    size = rng.choice(np.array([4, 8, 8, 16, 40], np.float32), size=n)
    raw = rng.integers(0, n, size=(6 * n, 2))
    star = np.stack([np.zeros(30, np.int64), rng.choice(np.arange(1, n), 30, replace=False)], 1)
    pairs = np.sort(np.concatenate([raw, star]), axis=1)
    pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
    pairs = pairs[rng.permutation(len(pairs))]
    method = rng.choice(np.array(["minhash", "containment"], dtype=object), size=len(pairs))
    return near.Links(pairs, method, {}, np.zeros(n, bool), {}), sig, size


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("max_neighbors", [3, 24])
def test_story_split_kernel_is_its_python_definition(seed: int, max_neighbors: int) -> None:
    links, sig, size = _story_links(seed)
    cfg = DedupConfig(band_containment=0.4, min_story_share=0.25)
    got = near.split_stories(links, sig, size, cfg, max_neighbors)
    pairs, concat, dropped = _split_stories_in_python(links, sig, size, cfg, max_neighbors)
    assert dropped > 0  # the random links do hold pages of two stories
    assert np.array_equal(got.pairs, pairs) and np.array_equal(got.concat, concat)
    assert got.stats["links_dropped_between_stories"] == dropped
    kept = {tuple(q): m for q, m in zip(links.pairs.tolist(), links.method, strict=True)}
    assert [kept[tuple(q)] for q in got.pairs.tolist()] == got.method.tolist()


def test_a_hub_whose_stories_tie_keeps_the_first_and_is_two_stories() -> None:
    # text 0 holds texts 1 and 2 equally (half its values each); 1 and 2 share nothing
    sig = np.arange(3 * 16, dtype=np.uint32).reshape(3, 16)
    sig[1, :8], sig[2, 8:] = sig[0, :8], sig[0, 8:]
    size = np.array([20, 10, 10], np.float32)
    links = near.Links(
        np.array([[0, 2], [0, 1]]), np.array(["a", "b"], dtype=object), {}, np.zeros(3, bool)
    )
    got = near.split_stories(links, sig, size, DedupConfig())
    assert got.pairs.tolist() == [[0, 1]] and got.method.tolist() == ["b"]
    assert got.concat.tolist() == [True, False, False]
    pairs, concat, _ = _split_stories_in_python(links, sig, size, DedupConfig(), 24)
    assert np.array_equal(got.pairs, pairs) and np.array_equal(got.concat, concat)


def _line_hashes_numpy(texts: pa.Array) -> np.ndarray:
    """``text.line_hashes`` as whole-array numpy (the definition the compiled loop follows)."""
    data, off = text._arrow_bytes(texts)
    n = len(data)
    starts = text._line_starts(data, off)
    ends = np.append(starts[1:], n)
    last = data[np.maximum(ends - 1, 0)]
    ends -= ((last == 0x0A) | (last == 0x0D)) & (ends > starts)
    padded = np.concatenate([np.zeros(8, np.uint8), data, np.zeros(8, np.uint8)])
    win = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded.data, strides=(1,))
    lens = ends - starts
    k = np.arange(8, dtype=np.int64)
    spread = (k[None, :] * np.maximum(lens - 8, 0)[:, None]) // 7
    at = np.where((lens > 64)[:, None], spread, 8 * k[None, :])
    left = np.clip(lens[:, None] - at, 0, 8)
    chunks = win[np.minimum(starts[:, None] + at, n) + 8] & text._MASKS[left]
    h = (chunks * text._MULT[None, :8]).sum(axis=1, dtype=np.uint64)
    return text.mix64(h ^ (lens.astype(np.uint64) * text._GOLD))


def test_line_hashes_are_their_numpy_definition() -> None:
    texts = pa.array(
        [*_corpus(50, seed=5), "", "x" * 70 + "\r\n" + "y" * 64 + "\n" + "z" * 65, "a\n"]
    )
    assert np.array_equal(text.line_hashes(texts)[1], _line_hashes_numpy(texts))


ENTITY_PIECES = [
    "a", "B", "é", "東", " ", "\n", "\r", "\t", "\f", "<", ";", "#", "x", "1", "9", "&",
    "&amp;", "&amp", "&ampx", "&#8217;", "&nbsp;", "&lt;&gt;", "&#10;", "&#100;", "&#x0a",
    "&NewLine", "&#1234567890;", "&#xD800;", "&#0;", "&#128;", "&Aacute", "&notit;", "\u00ad",
]  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1])
def test_entities_decoded_span_by_span_are_the_texts_decoded_whole(seed: int) -> None:
    from replica.dedup import kernels

    rng = np.random.default_rng(seed)
    for _ in range(400):
        texts = [
            "".join(rng.choice(ENTITY_PIECES, int(rng.integers(0, 14))))
            for _ in range(int(rng.integers(1, 8)))
        ]
        data, off = text._arrow_bytes(pa.array(texts, pa.string()))
        hot = kernels.hot_positions(data)
        amp = hot[data[hot] == 0x26]
        if not amp.size:
            continue
        decoded, new_off, changed = text._decode_entities_at(data, off, amp)
        got = [decoded[new_off[i] : new_off[i + 1]].tobytes().decode() for i in range(len(texts))]
        assert got == [text.decode_entities(t) for t in texts]
        assert set(changed.tolist()) == {i for i, t in enumerate(texts) if got[i] != t}
        # only the rewritten texts are scanned again for hot bytes
        spliced = kernels.splice_positions(hot, off, decoded, new_off, changed)
        assert np.array_equal(spliced, kernels.hot_positions(decoded))


@pytest.mark.parametrize("cache_max", [1, 200_000])
def test_fixed_list_verdicts_are_the_same_from_a_fresh_full_or_overflowing_cache(
    cache_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _corpus(200, seed=3)
    batches = [pa.array(texts[i : i + 50], pa.string()) for i in range(0, 200, 50)]
    fresh = []
    for batch in batches:  # each batch decided with nothing cached
        monkeypatch.setattr(text, "_LINE_VERDICTS", [np.zeros(0, np.uint64), np.zeros(0, bool)])
        fresh.append(text.fixed_boilerplate_lines(text.tokenize(batch)))
    assert sum(int(f.sum()) for f in fresh) > 20  # the corpus holds fixed-list lines
    monkeypatch.setattr(text, "_LINE_VERDICTS", [np.zeros(0, np.uint64), np.zeros(0, bool)])
    monkeypatch.setattr(text, "_LINE_VERDICTS_MAX", cache_max)
    for k in [0, 1, 2, 3, 0, 1, 2, 3]:  # the second round is decided from the cache
        got = text.fixed_boilerplate_lines(text.tokenize(batches[k]))
        assert np.array_equal(got, fresh[k])
