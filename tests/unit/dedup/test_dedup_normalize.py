"""Text normalization, one case per rule, and boilerplate lines learned per source."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from replica.dedup import text
from replica.dedup.boilerplate import LineCounts, source_keys

SENTENCE = "The council approved the cooperation agreement on Tuesday after a long debate."


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # HTML entities are decoded: numeric, hex, named; never words of their own
        (
            "It&#8217;s the mayor&#x2019;s plan &amp; budget",
            "It\u2019s the mayor\u2019s plan & budget",
        ),
        ("caf&eacute; &quot;open&quot;&nbsp;now", 'café "open" now'),
        # soft hyphens and zero-width characters do not split words
        ("co\u00adoperation agree\u00adment", "cooperation agreement"),
        ("coop\u200beration agree\u200dment\ufeff de\u2060bate", "cooperation agreement debate"),
        # NFKC and case folding run after: fullwidth letters and digits, ligatures, ß
        ("\uff34\uff48\uff45 \uff11\uff12 \ufb01nal STRASSE", "the 12 final straße"),
        # a combining accent composes with its letter
        ("cafe\u0301", "café"),
    ],
)
def test_each_normalization_case_gives_the_text_it_stands_for(raw: str, clean: str) -> None:
    assert text.words(raw) == text.words(clean)
    assert text.text_hash(raw) == text.text_hash(clean)


def test_an_entity_is_never_a_word() -> None:
    assert "8217" not in text.words("the mayor&#8217;s plan")
    assert text.words("AT&T") == ["at", "t"]  # a bare ampersand is kept as a separator


def test_an_entity_for_a_line_break_does_not_add_a_line() -> None:
    raw = pa.array(["Flood in the old town&#10;Residents left\nStory line two"])
    doc, _, _ = text.line_hashes(raw)
    tok = text.tokenize(raw)
    assert len(doc) == len(tok.line_start) == 2  # raw and decoded lines stay aligned
    assert text.words("Flood&#10;town")[:2] == ["flood", "town"]


def test_cjk_characters_are_words_and_fullwidth_punctuation_separates() -> None:
    assert text.words("東京タワー。日本") == ["東", "京", "タ", "ワ", "ー", "日", "本"]
    assert text.words("\uff21\uff22\uff0c\uff23\uff24") == ["ab", "cd"]
    # one typo changes one character-word, not the whole run
    fp = text.fingerprint(["東京タワーは高い建物です", "東京タワーは低い建物です"], 3, 128, 0)
    j = float(text.jaccard(fp.signature[0], fp.signature[1]))
    assert 0.3 < j < 1.0


def test_numpy_tokenizer_agrees_with_the_reference_on_every_case() -> None:
    texts = [
        "It&#8217;s co\u00adoperation ze\u200bro \uff28ello \ufb01ne cafe\u0301 ½ ™",
        "By Jane Doe\nStory text here.\nShare this article\n© 2024 Example Media",
        "Zürich \u2014 «Straße» 東京タワー。日本語 \uff21\uff22\uff0c\uff23\uff24",
        "Line one\r\nLine two &#10; same line &amp;&nbsp;more",
    ]
    fp = text.fingerprint(texts, 3, 64, 0)
    assert fp.n_words.tolist() == [len(text.words(t)) for t in texts]
    rejoined = text.fingerprint([" ".join(text.words(t)) for t in texts], 3, 64, 0)
    assert fp.exact.tolist() == rejoined.exact.tolist()


def test_fixed_boilerplate_lines_are_dropped_and_counted() -> None:
    page = "We use cookies to improve your experience. Accept all\n" + SENTENCE + "\nBack to top"
    fp = text.fingerprint([page, SENTENCE], 3, 64, 0)
    assert fp.exact[0] == fp.exact[1]
    assert fp.boilerplate_share[0] > 0.4 and fp.boilerplate_share[1] == 0


def _learn(pages: list[str], hosts: list[str], min_pages: int, share: float):
    urls = pa.array([f"https://www.{h}/p/{i}" for i, h in enumerate(hosts)])
    sources = source_keys(urls, from_url=True)
    counts = LineCounts()
    counts.add(pa.array(pages), sources)
    return counts.learn(min_pages, share), pa.array(pages), sources


def test_lines_a_source_repeats_are_learned_and_dropped_only_there() -> None:
    chrome = ["Home | News | Sport | Weather", "Nachrichten aus der Region jeden Morgen"]
    stories = [f"Story number {i} tells what happened in town {i} on day {i}." for i in range(12)]
    pages = ["\n".join([chrome[0], s, chrome[1]]) for s in stories]
    pages.append("\n".join([chrome[0], "A different site carries the same menu line."]))
    hosts = ["news.example"] * 12 + ["other.example"]
    learned, arr, sources = _learn(pages, hosts, min_pages=10, share=0.5)
    assert len(learned.keys) == 2
    flags = learned.flags(arr, sources)
    fp = text.fingerprint(arr, 3, 64, 0, drop_lines=flags)
    clean = text.fingerprint(stories, 3, 64, 0)
    assert fp.exact[:12].tolist() == clean.exact.tolist()
    # the other site's copy of the menu line is not its boilerplate (learned per source)
    assert fp.n_words[12] == len(text.words(pages[12]))


def test_a_line_on_too_few_pages_is_kept_and_a_text_is_never_emptied() -> None:
    pages = ["Breaking: the river flooded the old town\nResidents left early."] * 4
    pages += ["Only chrome line\nOnly chrome line"] * 6
    learned, arr, sources = _learn(pages, ["a.example"] * 10, min_pages=5, share=0.2)
    flags = learned.flags(arr, sources)
    assert flags is not None
    fp = text.fingerprint(arr, 3, 64, 0, drop_lines=flags)
    assert np.all(fp.n_words[:4] == len(text.words(pages[0])))  # on 4 pages < min_pages 5
    assert np.all(fp.n_words[4:] > 0)  # all of it learned, but the text is not emptied


def _learn_in_batches(pages: list[str], host: str, split: int, min_stories: int):
    """Learned lines of one source's pages counted in two batches (as the pool does)."""
    sources = source_keys(pa.array([f"https://{host}/p/{i}" for i in range(len(pages))]), True)
    counts = LineCounts()
    for part in (slice(0, split), slice(split, None)):
        batch = LineCounts()
        batch.add(pa.array(pages[part]), sources[part])
        counts.merge(batch)
    return counts.learn(10, 0.2, min_stories), pa.array(pages), sources


LONG = " ".join(["The council voted late on Tuesday to close the bridge for repairs."] * 3)


def test_a_story_syndicated_into_one_source_counts_once_and_is_not_learned() -> None:
    # eight copies of one story (different datelines, one copy without its second paragraph)
    # on a source's twelve pages, over two batches: 8 pages but one story (its longest line)
    copies = [f"Dateline {i}\n{LONG}\nResidents were told to use the ferry." for i in range(7)]
    copies.append(f"Dateline 7\n{LONG}")
    others = [f"Other story {i} about the weather in town {i} today." for i in range(4)]
    assert len(_learn_in_batches(copies + others, "small.example", 5, 6)[0].keys) == 0


def test_a_template_line_across_different_stories_is_learned_below_the_page_floor() -> None:
    # a menu line on 7 pages of 7 stories (under min_pages 10): learned through min_stories 6
    stories = [f"Story {i}: " + LONG.replace("bridge", f"bridge number {i}") for i in range(7)]
    pages = [f"Home | World | Sport\n{s}" for s in stories]
    learned, arr, sources = _learn_in_batches(pages, "site.example", 3, 6)
    assert len(learned.keys) == 1
    flags = learned.flags(arr, sources)
    assert flags is not None and flags.tolist() == [True, False] * 7
    # with the stories path off, 7 pages stay under the page floor
    assert len(_learn_in_batches(pages, "site.example", 3, 0)[0].keys) == 0


def test_a_batch_ending_in_a_line_break_or_an_empty_text_is_counted_not_a_crash() -> None:
    from replica.config import DedupConfig
    from replica.dedup.tables import dedup_articles

    # the empty line after the last text's final break belongs to that text
    doc, _, _ = text.line_hashes(pa.array(["a\nb", "c\n"]))
    assert doc.tolist() == [0, 0, 1, 1]
    page = "Home | World\nThe council voted to close the bridge for repairs on Tuesday.\n"
    rows = [
        {"article_id": f"p{i}", "url": f"https://x.example/{i}", "text": t, "published": None}
        for i, t in enumerate([page, "Home | World\nSchools reopen after the summer storm.\n", ""])
    ]
    cfg = DedupConfig(boilerplate_min_pages=2, semantic_model="")
    got = dedup_articles(rows, cfg, seed=0)
    assert [r["reason"] for r in got.rejects] == ["empty_text"]
    assert got.stats["learned_boilerplate_lines"] == 1  # the menu line, on both pages
    assert len(got.kept) == 2
    ends_with_break = dedup_articles(rows[:2], cfg, seed=0)  # no empty row: a page ends the batch
    assert ends_with_break.rejects == [] and len(ends_with_break.kept) == 2
