"""Near-duplicate decisions: the keep rule, pages holding two stories, the second pass."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest

from replica.config import DedupConfig
from replica.dedup import near
from replica.dedup.clusters import Clusters
from replica.dedup.semantic import Semantic, ServedEncoder
from replica.dedup.tables import TextIndex, _evidence, dedup_articles

FLOOD = [
    "Heavy rain overnight pushed the river above its banks and flooded the lower streets of "
    "the old town, where firefighters spent the morning pumping water out of cellars.",
    "The mayor said two hundred households had been evacuated to the sports hall and that "
    "nobody had been seriously hurt, although an elderly man was treated for hypothermia.",
    "Engineers are checking the stone bridge near the market square after debris piled up "
    "against its piers, and the road across it will stay closed until at least Friday.",
    "Shop owners on the quay complained that the sandbags promised last winter never arrived, "
    "and several of them said they would ask the council for compensation.",
    "The weather service expects the river to peak again tomorrow afternoon and has kept its "
    "red warning in place for the whole valley until the weekend.",
    "Volunteers from the rowing club ferried medicine and food to residents who chose to stay "
    "in their flats above the water line, the local radio reported.",
]
BUDGET = [
    "The regional parliament passed next year's budget late on Thursday after a debate that "
    "lasted more than eleven hours and ended with a narrow majority of four votes.",
    "Spending on hospitals rises by six percent, while the road programme is cut back to the "
    "repairs that cannot wait, the finance minister told reporters afterwards.",
    "Opposition parties said the plan relies on optimistic tax forecasts and warned that a "
    "supplementary budget will be needed before the summer.",
    "Teachers' unions welcomed the money for two hundred new posts but said it would not cover "
    "the schools that lost staff during the last three years.",
]
CHROME_TOP = [
    "Home News Politics Business Sport Culture Weather Video",
    "We use cookies to personalise content and ads and to analyse our traffic. Accept all",
]
CHROME_BOTTOM = [
    "Most read",
    "Council votes on new parking rules",
    "Local team wins the regional cup",
    "Share on Facebook Share on Twitter Share via Email",
    "© 2024 Valley Courier. All rights reserved.",
]
CFG = DedupConfig(semantic_model="", boilerplate_min_pages=0)


def _article(aid: str, body: str, published: str | None = None) -> dict:
    """A row; every article on its own site (pages of one site face a stricter containment)."""
    return {
        "article_id": aid,
        "url": f"https://{aid}.example/a",
        "text": body,
        "published": published,
    }


def _clusters(result) -> dict[str, str]:
    """removed id -> kept id, plus kept -> kept."""
    out = {d["removed_id"]: d["kept_id"] for d in result.duplicates}
    out.update({a["article_id"]: a["article_id"] for a in result.kept})
    return out


def _pages() -> list[dict]:
    flood, budget = "\n".join(FLOOD), "\n".join(BUDGET)
    return [
        _article("chrome", "\n".join([*CHROME_TOP, flood, *CHROME_BOTTOM])),
        _article("concat", "\n".join([flood, "Read next", *BUDGET[:3]])),
        _article("original", flood),
        _article("budget", budget),
    ]


def test_the_original_beats_its_concatenated_and_chrome_laden_copies() -> None:
    result = dedup_articles(_pages(), CFG, seed=0)
    kept = _clusters(result)
    assert kept["chrome"] == kept["concat"] == "original"
    assert kept["budget"] == "budget"  # the second story of the page is not merged in
    why = {d["removed_id"]: d["evidence"] for d in result.duplicates}
    assert "holds two stories" in why["concat"]
    assert "boilerplate" in why["chrome"] or "consensus" in why["chrome"]
    assert {d["method"] for d in result.duplicates} <= {"minhash", "containment"}


def test_dates_come_first_when_present_then_the_cleanest_copy() -> None:
    pages = _pages()
    for p in pages:
        p["published"] = "2024-03-02"
    pages[0]["published"] = "2024-03-01"  # the chrome-laden copy was published first
    kept = _clusters(dedup_articles(pages, CFG, seed=0))
    assert kept["original"] == "chrome"
    # same day everywhere: the clean original again
    pages[0]["published"] = "2024-03-02"
    assert _clusters(dedup_articles(pages, CFG, seed=0))["chrome"] == "original"


def test_a_page_holding_two_stories_joins_the_longer_one_only() -> None:
    flood, budget = "\n".join(FLOOD), "\n".join(BUDGET)
    rows = [
        _article("flood", flood),
        _article("budget", budget),
        _article("scroll", "\n".join([flood, *BUDGET])),  # infinite scroll: no separator
        _article("budget-copy", "By Staff\n" + budget),
    ]
    result = dedup_articles(rows, CFG, seed=0)
    kept = _clusters(result)
    assert kept["scroll"] == "flood" and kept["budget-copy"] == "budget"
    assert result.stats["pages_with_two_stories"] == 1


def _noisy(paragraphs: list[str], rate: float, seed: int) -> str:
    rng = random.Random(seed)
    vocab = " ".join(BUDGET).split()
    out = []
    for p in paragraphs:
        words = p.split()
        out.append(" ".join(rng.choice(vocab) if rng.random() < rate else w for w in words))
    return "\n".join(out)


class BagOfWords:
    """A real, tiny text encoder: hashed counts of the content words of a text's first 60
    words (like a model reading its first tokens), L2-normalized; no model download."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        leads = [" ".join(t.split()[:60]) for t in texts]
        bow = HashingVectorizer(n_features=4096, alternate_sign=False, stop_words="english")
        return bow.transform(leads).toarray().astype(np.float32)


# a band wide enough that the noisy copy falls in it (not decided by MinHash alone)
BAND = DedupConfig(
    threshold=0.95, containment=0.95, band_threshold=0.1, band_containment=0.2,
    semantic_threshold=0.8,
    boilerplate_min_pages=0,
)  # fmt: skip


def test_the_second_pass_decides_band_pairs_with_embeddings_within_its_budget() -> None:
    rows = [_article("a", "\n".join(FLOOD)), _article("b", _noisy(FLOOD, 0.2, 1))]
    none = dedup_articles(rows, BAND, seed=0, semantic=Semantic(BagOfWords, max_texts=0))
    assert len(none.kept) == 2 and none.stats["texts_over_budget"] == 2
    got = dedup_articles(rows, BAND, seed=0, semantic=Semantic(BagOfWords, max_texts=10))
    (dup,) = got.duplicates
    assert dup["method"] == "semantic" and dup["score"] >= BAND.semantic_threshold
    assert "embedding cosine" in dup["evidence"]
    assert got.stats["band_pairs_accepted"] == 1 and got.stats["texts_embedded"] == 2


def test_the_second_pass_keeps_a_story_quoting_another_apart() -> None:
    # a new story that quotes the last paragraphs of the flood report as background
    quoting = "\n".join(BUDGET[:3] + FLOOD[4:])
    rows = [_article("a", "\n".join(FLOOD)), _article("b", quoting)]
    got = dedup_articles(rows, BAND, seed=0, semantic=Semantic(BagOfWords, max_texts=10))
    assert len(got.kept) == 2
    assert got.stats["band_pairs"] == 1 and got.stats["band_pairs_accepted"] == 0


@pytest.mark.filterwarnings("ignore")
def test_the_packaged_minilm_accepts_a_noisy_copy_and_refuses_another_story() -> None:
    from replica.dedup.engine import semantic_for

    cfg = DedupConfig(**{**BAND.__dict__, "semantic_model": "all-MiniLM-L6-v2"})
    rows = [
        _article("a", "\n".join(FLOOD)),
        _article("b", _noisy(FLOOD, 0.2, 2)),
        _article("c", "\n".join(BUDGET[:3] + FLOOD[3:])),  # another story quoting the flood
    ]
    got = dedup_articles(rows, cfg, seed=0, semantic=semantic_for(cfg))
    kept = _clusters(got)
    assert kept["b"] == "a" and kept["c"] == "c"
    assert got.stats["texts_embedded"] >= 2 and got.stats["embedding_seconds"] > 0


def test_texts_sharing_a_long_sentence_are_candidates_unless_it_is_a_stock_phrase() -> None:
    import pyarrow as pa

    from replica.dedup.tables import fingerprint_batch, sentence_candidates

    shared = "The weather service has kept its red warning in place for the whole valley."
    stock = "This story was updated with more details on the floods and their aftermath today."
    texts = [f"{shared} {FLOOD[0]}", f"{BUDGET[0]} {shared}"] + [
        f"{stock} Story {i} is about something else entirely, item {i}." for i in range(20)
    ]
    n = len(texts)
    batch = pa.record_batch(
        {
            "id": [f"t{i}" for i in range(n)],
            "text": texts,
            "published": pa.nulls(n, pa.string()),
            "url": [f"https://s{i}.example/" for i in range(n)],
            "source": pa.nulls(n, pa.string()),
        }
    )
    index = fingerprint_batch(batch, 0, DedupConfig(sentence_words=12), 0)
    pairs = sentence_candidates(index, np.arange(n)).tolist()
    assert pairs == [[0, 1]]  # the stock sentence is in 20 texts (> SENTENCE_MAX_TEXTS)


TEMPLATE = [
    "Valley Courier front page local news regional politics business and sport coverage",
    "Newsletters podcasts puzzles weather traffic cinema listings and the daily briefing",
    "Contact the newsroom send us your tips and pictures or advertise with the Courier",
    "Terms of service privacy notice accessibility statement and corrections policy here",
    "Subscribers get unlimited access to every story archive and the printed edition",
]


def test_two_pages_of_one_site_need_more_containment_than_pages_of_two_sites() -> None:
    # two stories under one long site template: their containment comes from the template
    page = "\n".join([*TEMPLATE, FLOOD[0]])
    other = "\n".join([*TEMPLATE, BUDGET[0]])
    cfg = DedupConfig(semantic_model="", boilerplate_min_pages=0, sentence_words=0)
    from replica.dedup import near, text

    fp = text.fingerprint([page, other], cfg.shingle_size, cfg.num_perm, 0)
    size = near.shingle_counts(fp.n_words, cfg.shingle_size)
    c = near.score_pairs(fp.signature, size, np.array([[0, 1]])).containment[0]
    assert cfg.containment <= c < cfg.same_source_containment

    def rows(site_b: str) -> list[dict]:
        a = {"article_id": "a", "url": "https://courier.example/1", "text": page}
        b = {"article_id": "b", "url": f"https://{site_b}/2", "text": other}
        return [{**a, "published": None}, {**b, "published": None}]

    assert len(dedup_articles(rows("courier.example"), cfg, seed=0).kept) == 2
    assert len(dedup_articles(rows("elsewhere.example"), cfg, seed=0).kept) == 1


MENU = ["Home", "World", "Politics", "Business", "Sport", "Weather", "Most read", "Sign in",
        "Newsletters", "Podcasts", "Video", "Opinion", "Culture", "Travel", "Science"]  # fmt: skip


def test_the_model_reads_a_page_s_story_lines_not_the_menu_above_them() -> None:
    from replica.dedup.semantic import story_lead

    page = "\n".join(MENU * 4 + FLOOD)
    lead = story_lead(page, 40)
    assert lead.split() == " ".join(FLOOD).split()[:40]
    # a text of short lines only (a list, a poem) is read as it is
    assert story_lead("\n".join(MENU), 5) == "Home World Politics Business Sport"


@pytest.mark.filterwarnings("ignore")
def test_the_packaged_minilm_accepts_a_copy_led_by_a_site_menu() -> None:
    from replica.dedup.engine import semantic_for

    cfg = DedupConfig(**{**BAND.__dict__, "semantic_model": "all-MiniLM-L6-v2"})
    rows = [
        _article("a", "\n".join(FLOOD)),
        _article("b", "\n".join(MENU * 8) + "\n" + _noisy(FLOOD, 0.2, 2)),
    ]
    got = dedup_articles(rows, cfg, seed=0, semantic=semantic_for(cfg))
    assert _clusters(got)["b"] == "a"
    assert got.stats["band_pairs_accepted"] == 1


def test_a_preloaded_model_is_loaded_once_and_used_by_the_second_pass() -> None:
    import threading

    loads: list[str] = []

    def load() -> BagOfWords:
        loads.append(threading.current_thread().name)
        return BagOfWords()

    sem = Semantic(load, max_texts=10)
    sem.preload()
    sem.preload()  # a second call starts nothing
    rows = [_article("a", "\n".join(FLOOD)), _article("b", _noisy(FLOOD, 0.2, 1))]
    got = dedup_articles(rows, BAND, seed=0, semantic=sem)
    assert got.stats["band_pairs_accepted"] == 1
    assert len(loads) == 1 and loads[0].startswith("replica-semantic")
    assert got.stats["embedding_seconds"] >= got.stats["embedding_read_seconds"] >= 0


def test_a_model_in_a_process_of_its_own_embeds_as_it_would_here_and_ends_on_close() -> None:
    import os

    sem = Semantic(BagOfWords, max_texts=10)
    sem.preload(process=True)
    sem.preload(process=True)  # a second call starts nothing
    try:
        texts = ["\n".join(FLOOD), _noisy(FLOOD, 0.2, 1), "\n".join(BUDGET)]
        served = sem.model()
        assert isinstance(served, ServedEncoder)
        np.testing.assert_array_equal(served(texts), BagOfWords()(texts))
        assert served.process.submit(os.getpid).result() != os.getpid()
        rows = [_article("a", "\n".join(FLOOD)), _article("b", _noisy(FLOOD, 0.2, 1))]
        got = dedup_articles(rows, BAND, seed=0, semantic=sem)
        assert got.stats["band_pairs_accepted"] == 1
        process = served.process
    finally:
        sem.close()
    with pytest.raises(RuntimeError, match="shutdown"):
        process.submit(int)
    assert len(sem.vectors) == 2 and sem._model is None  # vectors stay; the model reloads


def test_a_model_that_cannot_move_to_another_process_loads_in_a_thread() -> None:
    import threading

    loads: list[str] = []

    def load() -> BagOfWords:  # a closure: it does not pickle
        loads.append(threading.current_thread().name)
        return BagOfWords()

    sem = Semantic(load, max_texts=10)
    sem.preload(process=True)
    assert isinstance(sem.model(), BagOfWords) and loads[0].startswith("replica-semantic")
    sem.close()  # nothing to end
    assert sem._model is not None


def _broken() -> BagOfWords:
    raise RuntimeError("no weights here")


def test_a_model_that_fails_to_load_says_so_every_time() -> None:
    later, early = Semantic(_broken, max_texts=10), Semantic(_broken, max_texts=10)
    early.preload()  # the failure surfaces when the model is needed, not in the thread
    elsewhere = Semantic(_broken, max_texts=10)
    elsewhere.preload(process=True)  # nor in the model's process
    try:
        for sem in (later, early, elsewhere):
            for _ in range(2):
                with pytest.raises(RuntimeError, match="no weights here"):
                    sem.model()
    finally:
        elsewhere.close()


@pytest.mark.filterwarnings("ignore")
def test_bfloat16_embeddings_stay_unit_length_and_within_a_few_thousandths() -> None:
    from replica.dedup.semantic import PACKAGED, load_encoder, native_bf16

    if not native_bf16():
        pytest.skip("this CPU has no native bfloat16: the encoder stays float32")
    texts = ["\n".join(FLOOD), _noisy(FLOOD, 0.2, 2), "\n".join(BUDGET), "\n".join(BUDGET[:2])]
    full = load_encoder(PACKAGED, 96, 8)(texts)
    low = load_encoder(PACKAGED, 96, 8, bf16=True)(texts)
    assert low.dtype == np.float32 and not np.array_equal(full, low)  # it did run in bfloat16
    assert np.allclose(np.linalg.norm(low, axis=1), 1.0, atol=1e-5)
    assert np.abs(full @ full.T - low @ low.T).max() < 0.004


def _sentence_candidates_numpy(index, first: np.ndarray) -> np.ndarray:
    """The definition of ``sentence_candidates``: sort by (key, text), drop a text's repeats,
    and pair the texts of every key found in 2 to SENTENCE_MAX_TEXTS texts."""
    from replica.dedup import lsh
    from replica.dedup.tables import SENTENCE_MAX_TEXTS

    is_first = np.zeros(len(index), dtype=bool)
    is_first[first] = True
    keep = is_first[index.sentence_pos]
    key, pos = index.sentence_key[keep], index.sentence_pos[keep]
    if not len(key):
        return np.zeros((0, 2), np.int64)
    order = np.lexsort((pos, key))
    key, pos = key[order], pos[order]
    once = np.concatenate([[True], (key[1:] != key[:-1]) | (pos[1:] != pos[:-1])])
    key, pos = key[once], pos[once]
    head = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    size = np.diff(np.append(head, len(key)))
    small = np.repeat((size >= 2) & (size <= SENTENCE_MAX_TEXTS), size)
    return lsh.unique_pairs(lsh.bucket_pairs(key[small], pos[small]))


def _index(n: int, sentence_key: np.ndarray, sentence_pos: np.ndarray, seed: int = 0):
    """A TextIndex of ``n`` texts with few distinct signature values (many band collisions)
    and a few exact copies, with the given sentences."""
    from replica.dedup.tables import TextIndex

    rng = np.random.default_rng(seed)
    exact = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    exact[1::7] = exact[0::7][: len(exact[1::7])]  # copies: only their first row counts
    return TextIndex(
        row=np.arange(n, dtype=np.int64),
        article_id=[f"a{i}" for i in range(n)],
        published=[None] * n,
        length=np.full(n, 100, np.int64),
        exact=exact,
        signature=rng.integers(0, 2, size=(n, 128)).astype(np.uint32),
        sentence_key=sentence_key.astype(np.uint64),
        sentence_pos=sentence_pos.astype(np.int64),
    )


def _sentences(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random sentences (few keys, so keys in 2 to 40 texts) plus edge cases: a key in exactly
    16 texts, one in 17, a text repeating a key (in 16 texts, 17 entries)."""
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.integers(0, n, 6 * n))
    key = rng.integers(0, n // 4, len(pos)).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    texts = np.arange(0, 7 * 17, 7)  # first copies
    edge_pos = np.concatenate([texts[:16], texts[:17], texts[:16], [texts[3]]])
    edge_key = np.repeat([1, 2, 3], [16, 17, 17]).astype(np.uint64)
    order = np.argsort(np.concatenate([pos, edge_pos]), kind="stable")
    return np.concatenate([key, edge_key])[order], np.concatenate([pos, edge_pos])[order]


@pytest.mark.parametrize("n", [0, 1, 200, 3000])
def test_sentence_candidates_follow_the_sorted_definition(n: int) -> None:
    from replica.dedup.tables import first_copies, sentence_candidates

    key, pos = _sentences(max(n, 7 * 17), n)
    if n < 7 * 17:
        keep = pos < n
        key, pos = key[keep], pos[keep]
    index = _index(n, key, pos, seed=n)
    first = first_copies(index.exact)
    got = sentence_candidates(index, first)
    assert np.array_equal(got, _sentence_candidates_numpy(index, first))
    assert got.dtype == np.int64 and got.shape[1:] == (2,)
    if n >= 7 * 17:
        pairs = {tuple(p) for p in got.tolist()}
        assert (0, 7 * 15) in pairs  # key 1: 16 texts; key 3: 16 texts, one of them twice
        shuffled = np.random.default_rng(1).permutation(len(pos))  # texts out of order
        index = _index(n, key[shuffled], pos[shuffled], seed=n)
        assert np.array_equal(sentence_candidates(index, first), got)


@pytest.mark.parametrize("n", [0, 1, 500, 3000])
def test_near_candidates_are_the_distinct_band_and_sentence_pairs(n: int) -> None:
    from replica.dedup import lsh
    from replica.dedup.tables import first_copies, near_candidates

    key, pos = _sentences(max(n, 7 * 17), n + 1)
    keep = pos < n
    index = _index(n, key[keep], pos[keep], seed=n + 1)
    cfg = DedupConfig()
    bands, rows = lsh.optimal_params(
        cfg.band_threshold, cfg.num_perm, cfg.lsh_fp_weight, cfg.lsh_fn_weight
    )
    first = first_copies(index.exact)
    keys = lsh.band_keys(index.signature[first], bands, rows)
    parts = [lsh.bucket_pairs(keys[:, b], first) for b in range(bands)]
    expected = lsh.unique_pairs(np.concatenate([*parts, _sentence_candidates_numpy(index, first)]))
    got = near_candidates(index, cfg)
    assert got.dtype == np.int64 and got.shape == expected.shape
    assert np.array_equal(got, expected)
    assert n < 500 or len(got) > 100


def _evidence_in_python(
    index: TextIndex,
    clusters: Clusters,
    links: near.Links,
    agreement: np.ndarray,
    size: np.ndarray,
    cfg: DedupConfig,
) -> tuple[list[str], np.ndarray, list[str]]:
    """``tables._evidence`` as a loop over removed rows before it was vectorized (commit
    7776ec6): (methods, scores, evidence strings)."""
    removed = clusters.removed
    kept = clusters.kept_of[removed]
    sc = near.score_pairs(index.signature, size, np.stack([removed, kept], axis=1))
    same = index.exact[removed] == index.exact[kept]
    cos = {tuple(sorted(k)): v for k, v in links.cosine.items()}
    methods, scores, evidence = [], [], []
    for i, (r, k) in enumerate(zip(removed.tolist(), kept.tolist(), strict=True)):
        j, c = float(sc.jaccard[i]), float(sc.containment[i])
        pair = (min(r, k), max(r, k))
        if same[i]:
            m, s, what = "exact_text", 1.0, "same normalized text"
        elif j >= cfg.threshold:
            m, s, what = "minhash", j, f"Jaccard {j:.2f}"
        elif c >= cfg.containment:
            m, s, what = "containment", c, f"containment {c:.2f} (Jaccard {j:.2f})"
        elif pair in cos:
            m, s = "semantic", cos[pair]
            what = f"embedding cosine {cos[pair]:.2f}, containment {c:.2f} (Jaccard {j:.2f})"
        else:
            m, s, what = "minhash_chain", j, f"joined through other copies (Jaccard {j:.2f})"
        methods.append(m)
        scores.append(s)
        evidence.append(
            f"{what}; kept: {_why_kept_in_python(index, links.concat, agreement, k, r)}"
        )
    return methods, np.array(scores, dtype=np.float64), evidence


def _why_kept_in_python(
    index: TextIndex, concat: np.ndarray, agreement: np.ndarray, k: int, r: int
) -> str:
    if concat[r] and not concat[k]:
        return "the removed page holds two stories, the kept one does not"
    dk, dr = index.published[k], index.published[r]
    if dk and not dr:
        return f"dated {dk}, the removed copy is undated"
    if dk and dr and dk < dr:
        return f"published earlier ({dk} before {dr})"
    bk, br = round(float(index.boilerplate[k]), 2), round(float(index.boilerplate[r]), 2)
    if bk < br:
        return f"less boilerplate ({bk:.0%} of its words, the removed copy {br:.0%})"
    ak, ar = float(agreement[k]), float(agreement[r])
    if round(ak, 3) > round(ar, 3):
        return f"closest to the cluster's consensus (mean Jaccard {ak:.2f}, removed {ar:.2f})"
    if index.length[k] < index.length[r]:
        return "the plainer text (fewer bytes for the same words), otherwise tied"
    return "smallest id, otherwise tied"


@pytest.mark.parametrize("seed", range(6))
def test_the_evidence_of_removals_is_that_of_its_python_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, width = 600, 16
    sig = rng.integers(0, 3, size=(n, width)).astype(np.uint32)
    # shares that round to ties (and halves, which round to even)
    shares = np.array([0.0, 0.005, 0.125, 0.13, 0.135, 0.25, 0.375], np.float32)
    boilerplate = rng.choice(shares, size=n)
    agreement = rng.choice(np.array([1.0, 0.8, 0.8004, 0.8006, 0.4445, 0.125], np.float32), n)
    published = [
        [None, "", "2024-01-02", "2024-01-03", "2023-12-31"][i] for i in rng.integers(0, 5, n)
    ]
    label = rng.integers(0, 80, size=n)
    _, head = np.unique(label, return_index=True)
    kept_of = head[np.searchsorted(np.unique(label), label)]
    clusters = Clusters(kept_of=kept_of.astype(np.int64))
    exact = np.arange(n, dtype=np.uint64)
    copy = rng.random(n) < 0.1  # exact copies of their kept row
    exact[copy] = exact[kept_of[copy]]
    close = rng.random(n) < 0.15  # near copies of their kept row: Jaccard 0.875 or more
    sig[close, :14] = sig[kept_of[close], :14]
    index = TextIndex(
        row=np.arange(n),
        article_id=[f"a{i}" for i in range(n)],
        published=published,
        length=rng.choice(np.array([100, 120]), size=n),
        exact=exact,
        signature=sig,
        boilerplate=boilerplate.astype(np.float32),
    )
    removed = clusters.removed
    some = rng.choice(len(removed), size=40, replace=False)
    cosine = {  # in either order, as the second pass may have met the pair
        (int(a), int(b)) if i % 2 else (int(b), int(a)): float(v)
        for i, (a, b, v) in enumerate(
            zip(removed[some], kept_of[removed[some]], rng.uniform(0.8, 1.0, 40), strict=True)
        )
    }
    links = near.Links(np.zeros((0, 2), np.int64), np.zeros(0, object), cosine, rng.random(n) < 0.1)
    size = rng.choice(np.array([4, 8, 30], np.float32), size=n)
    # thresholds just above a score that occurs: in float32 they would equal it
    c = near.score_pairs(sig, size, np.stack([removed, kept_of[removed]], 1)).containment
    mid = float(np.sort(c)[len(c) // 2])
    above = float(np.nextafter(mid, 1.0))
    cfg = DedupConfig(threshold=float(np.nextafter(0.875, 1.0)), containment=above)
    assert np.float32(above) == mid < above
    got = _evidence(index, clusters, links, agreement, size, cfg)
    methods, scores, evidence = _evidence_in_python(index, clusters, links, agreement, size, cfg)
    assert got.method == methods and got.evidence == evidence
    assert got.score.dtype == np.float64 and np.array_equal(got.score, scores)
    assert set(methods) == {"exact_text", "minhash", "containment", "semantic", "minhash_chain"}
    whys = [e.split("; kept: ")[1] for e in evidence]
    rules = ("the removed", "dated", "published", "less", "closest", "the plainer", "smallest")
    assert all(any(w.startswith(r) for w in whys) for r in rules)  # each rule decides a pair
