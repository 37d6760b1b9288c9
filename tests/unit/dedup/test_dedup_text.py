"""Text dedup core on hand-made near duplicates, hard negatives, rejects and oracles."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from replica.config import DedupConfig
from replica.dedup import lsh, text
from replica.dedup.tables import dedup_articles, fingerprint_batch

STORY = (
    "The city council voted on Tuesday to approve a new budget for public transport, "
    "adding forty electric buses and extending night services on six routes.\n"
    "The mayor said the plan would cut emissions and waiting times, while opposition members "
    "warned that fares could rise next year if ridership does not recover.\n"
    "The first buses arrive in spring and the night routes start in June after a consultation "
    "with residents.\n"
    "Unions welcomed the hiring of sixty new drivers, and the transport authority promised "
    "real-time arrival screens at every stop in the centre by the end of the year."
)
OTHER = (
    "The regional football league announced on Tuesday that the final round will be played "
    "on neutral ground, after clashes between supporters last month. Clubs have until Friday "
    "to appeal the decision, and the league said ticket sales will be limited to season "
    "holders. Police welcomed the move, while fan groups called it collective punishment."
)
SAME_TOPIC = (
    "The city council delayed on Tuesday a vote on the public transport budget, saying the "
    "cost of forty electric buses had to be checked again. The mayor criticised the delay and "
    "said residents had waited long enough for better night services on the six routes."
)
CFG = DedupConfig(shingle_size=3, num_perm=128, threshold=0.6, semantic_model="")


def _article(aid: str, body: str | None, published: str | None = "2024-05-01") -> dict:
    return {
        "article_id": aid,
        "url": f"https://news.example/{aid}",
        "text": body,
        "published": published,
    }


def _kept(rows: list[dict], cfg: DedupConfig = CFG) -> list[str]:
    return sorted(a["article_id"] for a in dedup_articles(rows, cfg, seed=0).kept)


def test_normalize_folds_case_width_punctuation_and_boilerplate_lines() -> None:
    assert text.normalize("  \uff28ello,\u00a0 WORLD!\n") == "hello world"  # fullwidth H
    page = "By Jane Doe, Agency Wire\nHello world.\nShare this article\nPhoto: AP\n3 min read"
    assert text.normalize(page) == "hello world"
    assert text.text_hash("Hello “world”") == text.text_hash("hello   WORLD ")
    # a sentence that merely starts with "by" is story text, not a byline
    assert text.normalize("By the end of the year, prices rose.") == (
        "by the end of the year prices rose"
    )


def test_numpy_tokenizer_agrees_with_the_reference_on_mixed_scripts() -> None:
    texts = [
        STORY,
        "Zürich — «Straße» café naïve 東京タワー。日本語テキスト",
        "x_y  a-b\u2019c",
        "!!",
    ]
    fp = text.fingerprint(texts, 3, 64, 0)
    assert fp.n_words.tolist() == [len(text.words(t)) for t in texts]
    assert text.words("Zürich — «Straße»") == ["zürich", "strasse"]


def test_every_byte_of_a_long_word_counts_wherever_the_word_sits() -> None:
    # long words that share length, first 8 and last 8 bytes: only their middles differ
    long = "supercalifragilisticexpialidocious"
    middle = long[:15] + "x" + long[16:]
    assert text.text_hash(long) != text.text_hash(middle)
    # a run of CJK characters is one word of many bytes
    assert text.text_hash("東京タワーは高い建物です") != text.text_hash("東京タワーは低い建物です")
    # the same word hashes the same at any byte offset (chunks align on the word, not the batch)
    assert text.text_hash(long) == text.text_hash("  " + long.upper() + "!")
    # one-word shingles are a set: the same words in another order at other offsets match
    fp = text.fingerprint([f"ab {long} {middle}", f"{middle}, {long} ab", f"ab {long}"], 1, 64, 0)
    assert fp.signature[0].tolist() == fp.signature[1].tolist()
    assert fp.signature[0].tolist() != fp.signature[2].tolist()


def test_syndicated_copy_with_new_byline_is_a_duplicate_of_the_original() -> None:
    rows = [
        _article("orig", STORY, "2024-05-01"),
        _article(
            "synd", "By Staff Reporter, Agency Wire\n" + STORY + "\nRead more: buses", "2024-05-02"
        ),
        _article("other", OTHER, "2024-05-01"),
    ]
    result = dedup_articles(rows, CFG, seed=0)
    assert sorted(a["article_id"] for a in result.kept) == ["orig", "other"]
    (dup,) = result.duplicates
    assert (dup["removed_id"], dup["kept_id"], dup["method"]) == ("synd", "orig", "exact_text")


def test_edited_copy_is_a_minhash_duplicate_with_its_estimated_jaccard() -> None:
    edited = STORY.replace("forty", "40").replace("sixty", "60") + " Fares stay unchanged."
    result = dedup_articles([_article("a", STORY), _article("b", edited, "2024-05-02")], CFG, 0)
    (dup,) = result.duplicates
    assert (dup["removed_id"], dup["kept_id"], dup["method"]) == ("b", "a", "minhash")
    truth = _jaccard(text.shingles(STORY, 3), text.shingles(edited, 3))
    assert CFG.threshold <= dup["score"] and abs(dup["score"] - truth) < 0.15


def test_truncated_and_reordered_copies_cluster_but_same_topic_story_does_not() -> None:
    paragraphs = STORY.split("\n")
    rows = [
        _article("a", STORY),
        _article("reordered", "\n".join(paragraphs[2:] + paragraphs[:2]), "2024-05-03"),
        _article("truncated", "\n".join(paragraphs[:-1]), "2024-05-04"),
        _article("topic", SAME_TOPIC, "2024-05-02"),
        _article("other", OTHER, "2024-05-02"),
    ]
    cfg = DedupConfig(shingle_size=3, threshold=0.5, semantic_model="")
    assert _kept(rows, cfg) == ["a", "other", "topic"]


def test_keep_policy_earliest_published_then_plainest_then_id() -> None:
    # the longer copy only adds a closing line; with equal dates the plainer copy is kept
    # (before the keep rule was revised the longest text won these ties)
    longer = STORY + " Extra closing line for the longer copy."
    rows = [
        _article("late", STORY, "2024-06-01"),
        _article("undated", longer, None),
        _article("early_short", STORY, "2024-05-01"),
        _article("early_long", longer, "2024-05-01"),
    ]
    result = dedup_articles(rows, CFG, seed=0)
    assert [(a["article_id"], a["cluster_size"]) for a in result.kept] == [("early_short", 4)]
    assert all(d["kept_id"] == "early_short" for d in result.duplicates)
    tie = [_article("b", STORY, None), _article("a", STORY, None)]
    assert _kept(tie) == ["a"]


def test_verification_stops_band_collisions_from_chaining_unrelated_texts() -> None:
    # one band of one row: any shared minimum value makes a candidate, verification rejects it
    cfg = DedupConfig(
        shingle_size=3,
        num_perm=32,
        threshold=0.9,
        band_threshold=0.9,
        lsh_fp_weight=0.0,
        containment=0.95,
        semantic_model="",
    )
    rows = [_article("a", STORY), _article("b", SAME_TOPIC), _article("c", OTHER)]
    assert _kept(rows, cfg) == ["a", "b", "c"]


def test_bad_texts_are_counted_rejects_with_reasons() -> None:
    big = "word " * 3000
    table = pa.table(
        {
            "id": ["ok", "empty", "blank", "punct", "bytes", "big", None],
            "text": pa.array(
                [b"fine text here", b"", b"   ", b"!!! ...", b"caf\xe9 \xff", big.encode(), b"x"],
                pa.binary(),
            ).view(pa.string()),
            "published": pa.nulls(7, pa.string()),
            "url": ["u"] * 7,
            "source": pa.nulls(7, pa.string()),
        }
    )
    index = fingerprint_batch(table.to_batches()[0], 0, DedupConfig(max_text_bytes=10_000), 0)
    assert index.article_id == ["ok"]
    assert {r["record_id"]: r["reason"] for r in index.rejects} == {
        "empty": "empty_text",
        "blank": "empty_text",
        "punct": "empty_text",
        "bytes": "invalid_utf8",
        "big": "text_too_large",
        None: "missing_id",
    }


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_jaccard_estimates_agree_with_datasketch_on_the_same_shingles() -> None:
    """Tolerance: both estimate J with std ≈ sqrt(J(1-J)/256) ≤ 0.031 each, so their
    difference has std ≤ 0.044: we require mean |diff| ≤ 0.04 and max |diff| ≤ 0.15 over 60
    pairs spanning J from 0 to 1, and the same for each against the exact Jaccard."""
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(5000)]
    ours, theirs, truth = [], [], []
    for k in range(60):
        base = rng.sample(vocab, 400)
        other = base[: 400 - 6 * k] + rng.sample(vocab, 6 * k)
        a, b = " ".join(base), " ".join(other)
        fp = text.fingerprint([a, b], 1, 256, seed=3)
        ours.append(float(text.jaccard(fp.signature[0], fp.signature[1])))
        ms = []
        for t in (a, b):
            m = MinHash(num_perm=256, seed=3)
            m.update_batch([s for s in text.shingles(t, 1)])
            ms.append(m)
        theirs.append(ms[0].jaccard(ms[1]))
        truth.append(_jaccard(text.shingles(a, 1), text.shingles(b, 1)))
    ours_a, theirs_a, truth_a = map(np.array, (ours, theirs, truth))
    for x, y in ((ours_a, theirs_a), (ours_a, truth_a), (theirs_a, truth_a)):
        assert np.abs(x - y).mean() <= 0.04 and np.abs(x - y).max() <= 0.15
    assert truth_a.min() < 0.15 and truth_a.max() == 1.0


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.2, 0.8)])
def test_bands_and_rows_match_datasketch_optimal_param(threshold, weights) -> None:
    assert lsh.optimal_params(threshold, 128, *weights) == _optimal_param(threshold, 128, *weights)


def test_bucket_pairs_are_every_pair_sharing_a_key() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 30, 200).astype(np.uint64)
    got = {tuple(p) for p in lsh.bucket_pairs(keys, np.arange(200)).tolist()}
    brute = {(i, j) for i in range(200) for j in range(i + 1, 200) if keys[i] == keys[j]}
    assert got == brute


def test_components_label_by_smallest_member() -> None:
    labels = lsh.components(6, np.array([[4, 5], [1, 4], [0, 2]]))
    assert labels.tolist() == [0, 1, 0, 3, 1, 1]
