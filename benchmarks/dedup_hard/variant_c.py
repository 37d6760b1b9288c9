"""Variant C: aggregator and archive pages, written after the defaults were fixed.

A third construction, so that one figure comes from edits no choice was made on (variant B
was looked at while the method was developed). What differs from A and B:

* boilerplate is page furniture that mentions other stories and people: "Read also" teasers
  made of other stories' first sentences between paragraphs, author bio boxes, tag lines, and
  reader comment threads at the end; it varies from page to page of one site;
* noise is transcription-like: homophones and contractions swapped, numbers spelled out or
  reformatted, words dropped, sentences lower-cased, double-encoded entities (``&amp;amp;``);
* rewrites keep the first sentence of each paragraph (an aggregator's summary) or remove
  quoted speech; truncation cuts out the middle of a story and keeps its end;
* concatenations are digests: the main story followed by teasers of two other stories;
* hard negatives: the odd and even paragraphs of one story published as two stories, morning
  round-ups made of the first paragraphs of four stories, pages of one aggregator, and the
  teased stories of a digest.
"""

from __future__ import annotations

import random
import re

from dedup_hard.common import Bench, Doc, day, sentences
from dedup_hard.corpus import Story

SWAPS = {
    "their": "there", "there": "their", "its": "it's", "it's": "its", "then": "than",
    "than": "then", "your": "you're", "who's": "whose", "affect": "effect", "lose": "loose",
    "don't": "do not", "isn't": "is not", "won't": "will not", "percent": "%",
}  # fmt: skip
SPELLED = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
           "7": "seven", "8": "eight", "9": "nine", "10": "ten"}  # fmt: skip
FIRST = ["Maria", "John", "Aisha", "Peter", "Yuki", "Carlos", "Emma", "Omar", "Sofia", "Liam"]
LAST = ["Keller", "Novak", "Haddad", "Brown", "Sato", "Rossi", "Okoye", "Larsen", "Silva"]
BEATS = ["politics", "the economy", "science", "local affairs", "sport", "culture", "health"]
REMARKS = ["Great piece, thanks.", "I don't buy this at all.", "Where is the source for this?",
           "Finally someone says it.", "This is old news.", "Well written, but one-sided.",
           "Can anyone explain the second paragraph?", "Shared with my family."]  # fmt: skip
KINDS = {"exact": 5, "encoding": 7, "chrome": 16, "truncate": 8, "drop": 7, "shuffle": 6,
         "noise": 12, "rewrite": 11, "stacked": 16, "concat": 12}  # fmt: skip


class Aggregator:
    """A site re-publishing stories with teasers, bios, tags and comments around them."""

    def __init__(self, i: int, rng: random.Random) -> None:
        self.site = f"agg{i}-{rng.choice(['daily', 'wire', 'hub', 'now'])}.example"
        self.authors = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(3, 6))]
        self.beats = {a: rng.choice(BEATS) for a in self.authors}

    def page(self, paras: list[str], teasers: list[str], rng: random.Random) -> list[str]:
        out: list[str] = []
        for j, p in enumerate(paras):
            out.append(p)
            if j % 3 == 2 and teasers and rng.random() < 0.8:
                out.append(f"Read also: {rng.choice(teasers)}")
        author = rng.choice(self.authors)
        words = sorted({w.strip(".,").lower() for w in " ".join(paras).split() if len(w) > 7})
        tags = rng.sample(words, min(4, len(words)))
        out.append("Tags: " + ", ".join(tags))
        out.append(f"{author} covers {self.beats[author]} for {self.site}. Write to "
                   f"{author.split()[0].lower()}@{self.site}")  # fmt: skip
        n = rng.randint(0, 5)
        if n:
            out.append(f"{n} comments")
            for _ in range(n):
                name = f"{rng.choice(FIRST).lower()}{rng.randint(1, 99)}"
                out.append(f"{name} {rng.randint(1, 23)}h ago: {rng.choice(REMARKS)}")
        return out


def _transcribe(text: str, rate: float, rng: random.Random) -> str:
    out = []
    for sent in sentences(text):
        words = sent.split(" ")
        kept = []
        for w in words:
            low = w.lower()
            r = rng.random()
            if low in SWAPS and r < 0.6:
                kept.append(SWAPS[low])
            elif w in SPELLED and r < 0.7:
                kept.append(SPELLED[w])
            elif r < rate:
                continue  # dropped word
            elif r < rate * 1.5:
                kept.append(w.replace(",", "").replace(".", ""))
            else:
                kept.append(w)
        sent = " ".join(kept)
        out.append(sent.lower() if rng.random() < 0.15 else sent)
    return " ".join(out).replace("&", "&amp;amp;" if rng.random() < 0.5 else "&")


class Generator:
    def __init__(self, stories: list[Story], seed: int) -> None:
        self.rng = random.Random(1_000_003 * seed + 4242)
        self.stories = stories

    def build(self) -> Bench:
        rng = self.rng
        bench = Bench("C")
        order = list(range(len(self.stories)))
        rng.shuffle(order)
        units: list[tuple[Story, list[str]]] = []
        twins: list[tuple[int, int]] = []
        for i in order:
            s = self.stories[i]
            if len(s.paragraphs) >= 10 and rng.random() < 0.5:
                twins.append((len(units), len(units) + 1))
                units += [(s, s.paragraphs[0::2]), (s, s.paragraphs[1::2])]
            else:
                units.append((s, s.paragraphs))
        leads = [sentences(p[0])[0] for _, p in units if p and sentences(p[0])]
        sites = [Aggregator(i, rng) for i in range(26)]
        groups: list[list[int]] = []
        for c, (s, paras) in enumerate(units):
            dated = rng.random() < 0.6
            date = (s.published or day(None, rng, 0)) if dated else None
            ids = [bench.add(Doc("\n".join(paras), s.site, c, "original", date, s.lang))]
            for _ in range(rng.choices(range(8), [18, 18, 16, 14, 12, 10, 7, 5])[0]):
                kind = rng.choices(list(KINDS), list(KINDS.values()))[0]
                ids.append(self._copy(bench, c, s, paras, kind, units, leads, sites, date))
            groups.append(ids)
        # hard negatives
        for a, b in twins:
            bench.hard_negatives += [(x, y, "same_topic_interleave") for x in groups[a]
                                     for y in groups[b]]  # fmt: skip
        for k in range(len(units) // 6):
            picked = rng.sample(range(len(units)), 4)
            text = "\n".join(["Your morning briefing"] + [units[u][1][0] for u in picked])
            doc = bench.add(Doc(text, rng.choice(sites).site, 10**6 + k, "roundup", None))
            bench.hard_negatives += [(doc, m, "roundup") for u in picked for m in groups[u]]
        by_site: dict[str, list[int]] = {}
        for i, d in enumerate(bench.docs):
            if d.edit not in ("original", "roundup"):
                by_site.setdefault(d.site, []).append(i)
        for docs in by_site.values():
            bench.hard_negatives += [(x, y, "same_outlet") for j, x in enumerate(docs)
                                     for y in docs[j + 1 :]
                                     if bench.docs[x].cluster != bench.docs[y].cluster]  # fmt: skip
        for i, d in enumerate(bench.docs):
            if d.edit.startswith("concat:"):
                for other in map(int, d.edit.split(":")[1].split(",")):
                    bench.hard_negatives += [(i, m, "concat_second_story") for m in groups[other]]
                d.edit = "concat"
        return bench

    def _copy(self, bench: Bench, c: int, s: Story, paras: list[str], kind: str, units: list,
              leads: list[str], sites: list[Aggregator], date: str | None) -> int:  # fmt: skip
        rng = self.rng
        edits = ["chrome", "truncate", "drop", "shuffle", "noise", "rewrite", "encoding"]
        steps = rng.sample(edits, rng.randint(2, 4)) if kind == "stacked" else [kind]
        p = list(paras)
        edit = kind
        if "rewrite" in steps:
            if rng.random() < 0.5:  # the aggregator's summary: each paragraph's first sentence
                p = [sentences(x)[0] if sentences(x) else x for x in p]
            else:  # quoted speech removed
                p = [re.sub(r"[\"“][^\"”]{3,200}[\"”],?\s*", "", x).strip() or x for x in p]
        if "drop" in steps and len(p) > 3:
            p = [x for j, x in enumerate(p) if j % rng.randint(3, 5) != 1]
        if "shuffle" in steps and len(p) > 2:
            p = p[1:] + p[:1] if rng.random() < 0.5 else p[::-1]
        if "truncate" in steps and len(p) > 3:
            head, tail = max(1, int(len(p) * 0.4)), max(1, int(len(p) * 0.2))
            p = [*p[:head], "[...]", *p[-tail:]]
        if kind == "concat":
            others = rng.sample([u for u in range(len(units)) if units[u][0] is not s], 2)
            main_words = sum(len(x.split()) for x in p)
            for u in others:
                teaser = units[u][1][0].split()[: max(10, main_words // 5)]
                p += [f"Next: {' '.join(teaser[:8])}", " ".join(teaser)]
            edit = "concat:" + ",".join(map(str, others))
        if "noise" in steps:
            rate = rng.uniform(0.03, 0.1 if kind == "noise" else 0.05)
            p = [_transcribe(x, rate, rng) for x in p]
        site = s.site
        if "chrome" in steps:
            agg = rng.choice(sites)
            p, site = agg.page(p, leads, rng), agg.site
        elif rng.random() < 0.4:
            site = rng.choice(sites).site
        body = "\n".join(p)
        if "encoding" in steps:
            body = (body.replace("'", "&#39;").replace("\u2019", "&rsquo;")
                    .replace(" - ", " &ndash; ").replace("\u00e9", "&eacute;"))  # fmt: skip
            body = body.replace(". ", ".\u200b ") if rng.random() < 0.5 else body
        published = day(date, rng, 3) if date else None
        return bench.add(Doc(body, site, c, edit, published, s.lang))


def build(stories: list[Story], seed: int = 0) -> Bench:
    return Generator(stories, seed).build()
