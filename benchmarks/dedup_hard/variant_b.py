"""Variant B: edits from real page chrome and a character-level noise model.

Written separately from variant A, so that defaults chosen on A are tested on edits they were
not tuned to. The differences:

* chrome is real: the non-body text of the corpus's own HTML pages (navigation, cookie notices,
  "most read" lists, comment boxes, footers, in the site's language), placed above and below the
  body and, for part of it, between paragraphs; each page keeps a random 70-100 % of it;
* noise is character-level (OCR and keyboard confusions, merged and split words, hyphenation
  at line ends, case flips) at 1-4 % of the characters;
* rewrites work on sentence order and attribution ("X said" / "according to X"), parentheticals
  and lead-in sentences; truncation keeps whole paragraphs, or loses the lead instead of the end;
* concatenations are infinite-scroll pages (no separator) or a related story's lead placed in
  the middle of the main story; the main story is the longer part;
* clusters are larger (up to ten copies) and dates are missing more often;
* hard negatives: first and last thirds of one story (same topic), live updates quoting a few
  sentences of an earlier story inside new text, pages of the same real site (same chrome),
  and the second story of a concatenation.
"""

from __future__ import annotations

import random
import unicodedata

from dedup_hard.common import Bench, Doc, day, headline, sentences
from dedup_hard.corpus import Story

OCR = {"m": "rn", "rn": "m", "l": "1", "O": "0", "e": "c", "i": "í", "cl": "d", "h": "b"}
KEYS = "qwertyuiopasdfghjklzxcvbnm"
NEAR = {
    k: "".join(KEYS[j] for j in (i - 1, i + 1) if 0 <= j < len(KEYS)) for i, k in enumerate(KEYS)
}
LEADS = ["Here is what we know so far.", "This story has been updated.", "UPDATE:",
         "Developing story.", "Exclusive:", "Analysis:"]  # fmt: skip
ENDINGS = [
    "Reporting by staff; editing by the desk.",
    "This report was first published elsewhere.",
    "(Agencies)",
    "\u2014 With wire services",
]
KINDS = [("exact", 5), ("encoding", 6), ("chrome", 15), ("truncate", 9), ("drop", 7),
         ("shuffle", 6), ("noise", 12), ("rewrite", 10), ("stacked", 18),
         ("concat", 12)]  # fmt: skip


def _char_noise(text: str, rate: float, rng: random.Random) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if rng.random() >= rate:
            out.append(ch)
            i += 1
            continue
        r = rng.random()
        pair = text[i : i + 2]
        if pair in OCR and r < 0.2:
            out.append(OCR[pair])
            i += 2
            continue
        if ch == " " and r < 0.5:
            i += 1  # two words merge
            continue
        if ch.lower() in NEAR and r < 0.6:
            out.append(rng.choice(NEAR[ch.lower()]))
        elif ch in OCR and r < 0.7:
            out.append(OCR[ch])
        elif ch.isalpha() and r < 0.8:
            out.append(ch + " ")  # a word splits
        elif ch.isalpha() and r < 0.9:
            out.append(ch.swapcase())
        elif r < 0.95:
            out.append(ch + "-\n")  # hyphenation at a line end
        i += 1
    return "".join(out)


def _encoding(text: str, rng: random.Random) -> str:
    """Decomposed accents, entities, invisible and no-break characters."""
    text = unicodedata.normalize("NFD", text) if rng.random() < 0.5 else text
    table = {"'": "&#39;", "\u2019": "&#x2019;", "\u201c": "&#8220;", "\u201d": "&#8221;",
             "\u2013": "&ndash;", "\u2014": "&mdash;", "\u00e9": "&eacute;", "\u00fc": "&uuml;",
             "&": "&amp;"}  # fmt: skip
    out = []
    for ch in text:
        if ch in table and rng.random() < 0.7:
            out.append(table[ch])
        elif ch == " " and rng.random() < 0.04:
            out.append(rng.choice(["&nbsp;", "\u202f", "\u00a0", " \u200b"]))
        elif ch.isalpha() and rng.random() < 0.01:
            out.append(ch + rng.choice(["\u00ad", "\u200c", "\ufeff"]))
        else:
            out.append(ch)
    return "".join(out)


def _attribution(s: str) -> str:
    for verb in (" said.", " says."):
        if s.endswith(verb) and ", " in s:
            quote, who = s[: -len(verb)].rsplit(", ", 1)
            return f"According to {who}, {quote[:1].lower()}{quote[1:]}."
    return s


class Generator:
    def __init__(self, stories: list[Story], seed: int) -> None:
        self.rng = random.Random(seed * 7919 + 17)
        self.stories = stories
        # sites whose pages have real chrome to lend (at least 25 lines of it)
        self.chromed = [s for s in stories if len(s.chrome_head) + len(s.chrome_tail) >= 25]

    def build(self) -> Bench:
        rng = self.rng
        bench = Bench("B")
        pool = list(self.stories)
        rng.shuffle(pool)
        fresh = pool[: len(pool) // 6]
        main = pool[len(pool) // 6 :]
        stories: list[tuple[Story, list[str]]] = []
        thirds: list[tuple[int, int]] = []
        for s in main:
            if len(s.paragraphs) >= 9 and rng.random() < 0.55:
                k = len(s.paragraphs) // 3
                thirds.append((len(stories), len(stories) + 1))
                stories += [(s, s.paragraphs[:k]), (s, s.paragraphs[-k:])]
            else:
                stories.append((s, s.paragraphs))
        hosts = rng.sample(self.chromed, min(len(self.chromed), 36))
        heavy, tiny = hosts[:28], hosts[28:]
        clusters: list[list[int]] = []
        for c, (s, paras) in enumerate(stories):
            first = bench.add(Doc("\n".join(paras), s.site, c, "original", s.published or
                                  day(None, rng, 0), s.lang))  # fmt: skip
            members = [first]
            n = min(10, int(rng.expovariate(1 / 3.5)))
            for _ in range(n):
                kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
                host = rng.choice(tiny) if rng.random() < 0.12 else rng.choice(heavy)
                members.append(self._copy(bench, c, s, paras, kind, host, stories))
            clusters.append(members)
        for d in bench.docs:
            if rng.random() < 0.4:
                d.published = None
        # hard negatives
        for a, b in thirds:
            bench.hard_negatives += [(x, y, "same_topic_split") for x in clusters[a]
                                     for y in clusters[b]]  # fmt: skip
        for f in fresh:
            c = rng.randrange(len(stories))
            s, paras = stories[c]
            quoted = [x for p in paras for x in sentences(p)]
            k = min(len(quoted), rng.randint(2, 4))
            start = rng.randrange(max(1, len(quoted) - k))
            lines = [f"Earlier: {headline(paras, s.title)}"]
            new = list(f.paragraphs)
            for j, q in enumerate(quoted[start : start + k]):
                at = min(len(new), 1 + j * 2)
                new.insert(at, f"As reported before, {q[:1].lower()}{q[1:]}")
            doc = bench.add(Doc("\n".join(lines + new), f.site, len(stories) + len(bench.docs),
                                "follow_up", None, f.lang))  # fmt: skip
            bench.hard_negatives += [(doc, m, "same_topic_follow_up") for m in clusters[c]]
        sites: dict[str, list[int]] = {}
        for i, d in enumerate(bench.docs):
            if d.edit != "original":
                sites.setdefault(d.site, []).append(i)
        for docs in sites.values():
            bench.hard_negatives += [
                (x, y, "same_outlet")
                for j, x in enumerate(docs)
                for y in docs[j + 1 :]
                if bench.docs[x].cluster != bench.docs[y].cluster
            ]
        for i, d in enumerate(bench.docs):
            if d.edit.startswith("concat:"):
                other = int(d.edit.split(":")[1])
                bench.hard_negatives += [(i, m, "concat_second_story") for m in clusters[other]]
                d.edit = "concat"
        return bench

    def _copy(self, bench: Bench, c: int, s: Story, paras: list[str], kind: str,
              host: Story, stories: list) -> int:  # fmt: skip
        rng = self.rng
        steps = (
            rng.sample(["chrome", "truncate", "drop", "shuffle", "noise", "rewrite", "encoding"],
                       rng.randint(2, 5))
            if kind == "stacked"
            else [kind]
        )  # fmt: skip
        p = list(paras)
        edit = kind
        if "rewrite" in steps:
            p = self._rewrite(p)
        if "shuffle" in steps:
            p = self._reflow(p)
        if "drop" in steps and len(p) > 2:
            keep = [x for j, x in enumerate(p) if j == 0 or rng.random() > 0.35]
            p = keep if len(keep) < len(p) else p[:-1]
        if "truncate" in steps:
            k = max(1, int(len(p) * rng.uniform(0.3, 0.8)))
            p = p[-k:] if rng.random() < 0.3 else [*p[:k], "[\u2026]"]
        if kind == "concat":
            other = rng.randrange(len(stories))
            while stories[other][0] is s:
                other = rng.randrange(len(stories))
            second = stories[other][1]
            budget = int(sum(len(x.split()) for x in p) * rng.uniform(0.25, 0.75))
            take, n = [], 0
            for x in second:  # the main story is the longer part
                words = x.split()[: budget - n]
                if not words:
                    break
                take.append(" ".join(words))
                n += len(words)
            if rng.random() < 0.5 or len(p) < 4:
                p = p + take  # infinite scroll: the next story follows without a separator
            else:
                mid = len(p) // 2
                p = p[:mid] + take + p[mid:]
            edit = f"concat:{other}"
        body = "\n".join(p)
        if "noise" in steps:
            body = _char_noise(body, rng.uniform(0.01, 0.04 if kind == "noise" else 0.02), rng)
        if "encoding" in steps:
            body = _encoding(body, rng)
        site = s.site
        if "chrome" in steps:
            body, site = self._chrome(body, host), host.site
        elif rng.random() < 0.5:
            site = host.site
            if rng.random() < 0.5:
                body = f"{rng.choice(LEADS)}\n{body}\n{rng.choice(ENDINGS)}"
        date = day(s.published, rng, 10) if s.published else None
        return bench.add(Doc(body, site, c, edit, date, s.lang))

    def _chrome(self, body: str, host: Story) -> str:
        rng = self.rng
        head = [x for x in host.chrome_head if rng.random() < rng.uniform(0.7, 1.0)]
        tail = [x for x in host.chrome_tail if rng.random() < rng.uniform(0.7, 1.0)]
        paras = body.split("\n")
        if len(paras) > 4 and tail and rng.random() < 0.5:
            k = rng.randint(2, min(8, len(tail)))
            box = tail[:k]
            tail = tail[k:]
            at = rng.randint(2, len(paras) - 1)
            paras = paras[:at] + box + paras[at:]
        lines = []
        for x in head:  # navigation items often arrive joined on one line
            if lines and len(x.split()) <= 2 and len(lines[-1].split()) < 12 and rng.random() < 0.6:
                lines[-1] += " " + x
            else:
                lines.append(x)
        return "\n".join([*lines, *paras, *tail])

    def _rewrite(self, paras: list[str]) -> list[str]:
        rng = self.rng
        out = []
        for p in paras:
            sents = [_attribution(x) for x in sentences(p)]
            if len(sents) > 2 and rng.random() < 0.4:
                i = rng.randrange(len(sents) - 1)
                sents[i], sents[i + 1] = sents[i + 1], sents[i]
            sents = [x for x in sents if not (x.startswith("(") or rng.random() < 0.08)]
            for i, x in enumerate(sents):
                if "(" in x and ")" in x and rng.random() < 0.7:
                    a, rest = x.split("(", 1)
                    sents[i] = a.rstrip() + rest.split(")", 1)[-1]
            if sents:
                out.append(" ".join(sents))
        if rng.random() < 0.5:
            out.insert(0, rng.choice(LEADS))
        return out or paras

    def _reflow(self, paras: list[str]) -> list[str]:
        """Paragraph order changed: blocks moved, or every sentence on its own line."""
        rng = self.rng
        if rng.random() < 0.4:
            return [x for p in paras for x in sentences(p)]
        blocks = [paras[i : i + 2] for i in range(1, len(paras), 2)]
        rng.shuffle(blocks)
        return [paras[0]] + [x for b in blocks for x in b]


def build(stories: list[Story], seed: int = 0) -> Bench:
    return Generator(stories, seed).build()
