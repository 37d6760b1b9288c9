"""The AEB scorer, and extraction quality on the Article Extraction Benchmark pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replica.config import load_params
from replica.crawl import crawl_sources, load_sources
from replica.extract.engines import run_local
from replica.extract.scoring import Score, macro, score, shingles

ROOT = Path(__file__).resolve().parents[2]


def test_shingles_are_a_multiset_of_4_token_windows() -> None:
    assert shingles("a b c d e") == {("a", "b", "c", "d"): 1, ("b", "c", "d", "e"): 1}
    assert shingles("a b c d a b c d")[("a", "b", "c", "d")] == 2
    assert shingles("two words") == {("two", "words"): 1}
    assert not shingles("  ...  ")


def test_score_precision_recall_f1() -> None:
    ref = "the harbour board met on tuesday to approve the ferry timetable"
    assert score(ref, ref) == Score(1.0, 1.0, 1.0)
    half = score("the harbour board met on tuesday", ref)  # 3 of 3 predicted, 3 of 8 reference
    assert (half.precision, half.recall) == (1.0, 3 / 8)
    assert half.f1 == pytest.approx(2 * 3 / 8 / (1 + 3 / 8))
    assert score("", ref) == Score(0.0, 0.0, 0.0) and score("", "") == Score(1.0, 1.0, 1.0)
    assert macro([Score(1, 1, 1), Score(0, 0, 0)]) == Score(0.5, 0.5, 0.5)


def test_aeb_article_text_f1(corpus: Path, tmp_path: Path) -> None:
    """Crawl the AEB pages into WARC, extract with the project's params, score against gold."""
    aeb = corpus / "extraction" / "aeb"
    (tmp_path / "s.yaml").write_text(
        f"sources:\n  - kind: pages\n    paths: ['{aeb}/html/*.html.gz']\n"
        f"    url_index: ['{aeb}/ground-truth.json']\n"
    )
    params = load_params(ROOT / "params.yaml")
    crawled = crawl_sources(load_sources(tmp_path / "s.yaml"), params.crawl, tmp_path / "c", "x")
    assert crawled.rows_out == 181 and not crawled.rejects
    result = run_local(sorted((tmp_path / "c").glob("*.warc.gz")), params.extract)
    texts = {a["url"]: a["text"] for a in result.articles}
    gold = json.loads((aeb / "ground-truth.json").read_text())
    scores = [score(texts.get(g["url"], ""), g["articleBody"]) for g in gold.values()]
    m = macro(scores)
    print(
        f"\nAEB ({len(scores)} pages): precision={m.precision:.4f} recall={m.recall:.4f} "
        f"F1={m.f1:.4f}"
    )
    assert m.f1 >= 0.95
