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
    doc, _ = text.line_hashes(raw)
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
