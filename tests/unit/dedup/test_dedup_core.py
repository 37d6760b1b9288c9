"""Dedup core on hand-made near duplicates and hard negatives."""

from __future__ import annotations

import random

from replica.config import DedupConfig
from replica.dedup import text
from replica.dedup.clusters import Edge, resolve
from replica.dedup.images import near_edges
from replica.dedup.tables import dedup_articles, dedup_images

STORY = (
    "The city council voted on Tuesday to approve a new budget for public transport, "
    "adding forty electric buses and extending night services on six routes. The mayor said "
    "the plan would cut emissions and waiting times, while opposition members warned that "
    "fares could rise next year if ridership does not recover. The first buses arrive in "
    "spring and the night routes start in June after a consultation with residents."
)
OTHER = (
    "The regional football league announced on Tuesday that the final round will be played "
    "on neutral ground, after clashes between supporters last month. Clubs have until Friday "
    "to appeal the decision, and the league said ticket sales will be limited to season "
    "holders. Police welcomed the move, while fan groups called it collective punishment."
)


def _article(aid: str, body: str, published: str | None = "2024-05-01") -> dict:
    return {
        "article_id": aid,
        "url": f"https://news.example/{aid}",
        "title": aid,
        "text": body,
        "published": published,
        "lang": "en",
        "source": "t.warc.gz",
        "record_id": aid,
    }


CFG = DedupConfig(shingle_size=3, num_perm=128, threshold=0.6, phash_max_distance=6)


def test_normalize_folds_case_width_and_space() -> None:
    assert text.normalize("  \uff28ello\u00a0 WORLD\n") == "hello world"  # fullwidth H
    assert text.text_hash("Hello world") == text.text_hash("hello   WORLD ")


def test_syndicated_copy_with_new_byline_is_a_near_duplicate() -> None:
    rows = [
        _article("orig", STORY, "2024-05-01"),
        _article("synd", "By Staff Reporter, Agency Wire. " + STORY, "2024-05-02"),
        _article("other", OTHER, "2024-05-01"),
    ]
    result = dedup_articles(rows, CFG, seed=0)
    assert sorted(a["article_id"] for a in result.kept) == ["orig", "other"]
    (dup,) = result.duplicates
    assert (dup["removed_id"], dup["kept_id"], dup["method"]) == ("synd", "orig", "minhash")
    assert CFG.threshold <= dup["score"] <= 1.0


def test_exact_copy_keeps_the_earliest_then_longest() -> None:
    rows = [
        _article("late", STORY.upper(), "2024-06-01"),
        _article("early", STORY, "2024-05-01"),
        _article("undated", STORY, None),
    ]
    result = dedup_articles(rows, CFG, seed=0)
    assert [a["article_id"] for a in result.kept] == ["early"]
    assert result.kept[0]["cluster_size"] == 3
    assert {d["method"] for d in result.duplicates} == {"exact_text"}


def test_truncated_and_reordered_copies_cluster_but_topic_neighbour_does_not() -> None:
    paragraphs = STORY.split(". ")
    reordered = ". ".join(paragraphs[2:] + paragraphs[:2])
    truncated = ". ".join(paragraphs[:-1])
    same_topic = (
        "The city council delayed on Tuesday a vote on the public transport budget, saying "
        "the cost of forty electric buses had to be checked again. The mayor criticised the "
        "delay and said residents had waited long enough for better night services."
    )
    rows = [
        _article("a", STORY),
        _article("b", reordered, "2024-05-03"),
        _article("c", truncated, "2024-05-04"),
        _article("d", same_topic, "2024-05-02"),
    ]
    result = dedup_articles(rows, DedupConfig(shingle_size=3, threshold=0.5), seed=0)
    assert sorted(a["article_id"] for a in result.kept) == ["a", "d"]


def test_resolve_names_the_kept_row_for_every_removal() -> None:
    edges = [Edge(0, 1, "minhash", 0.9), Edge(1, 2, "minhash", 0.8)]
    keep_of, removals = resolve(4, edges, rank=[(2,), (0,), (1,), (0,)])
    assert keep_of == [1, 1, 1, 3]
    assert sorted((r.removed, r.kept) for r in removals) == [(0, 1), (2, 1)]


def test_bktree_matches_brute_force() -> None:
    rng = random.Random(0)
    base = [rng.getrandbits(64) for _ in range(40)]
    hashes = base + [h ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64)) for h in base[:20]]
    found = {(min(e.a, e.b), max(e.a, e.b)) for e in near_edges(hashes, 4)}
    brute = {
        (i, j)
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if (hashes[i] ^ hashes[j]).bit_count() <= 4
    }
    assert found == brute
    assert len(found) >= 20


def test_images_exact_copies_collapse_and_near_copies_are_explained() -> None:
    def row(aid: str, sha: str, w: int) -> dict:
        return {"article_id": aid, "image_id": sha, "sha256": sha, "width": w, "height": w}

    rows = [row("a1", "x" * 64, 100), row("a2", "x" * 64, 100), row("a1", "y" * 64, 200)]
    result = dedup_images(rows, [0b1010, 0b1010, 0b1011], {"a1"}, CFG)
    assert [(r["image_id"], r["cluster_size"]) for r in result.kept] == [("y" * 64, 3)]
    assert result.duplicates == [
        {
            "dataset": "images",
            "removed_id": "x" * 64,
            "kept_id": "y" * 64,
            "cluster_id": result.kept[0]["cluster_id"],
            "method": "phash",
            "score": 1.0,
        }
    ]
