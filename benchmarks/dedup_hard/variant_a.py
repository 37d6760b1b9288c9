"""Variant A: edits from hand-written templates and a word-level noise model.

Stories are the real bodies; copies are what syndication, scraping and rewriting do to them:

* ``exact`` / ``encoding``: the same body with a new byline; HTML entities, soft hyphens,
  zero-width and no-break characters, fullwidth digits.
* ``chrome``: the page of a syndicating outlet whose extractor kept its template: navigation,
  cookie banner, a related-stories list (headlines of the outlet's other stories), newsletter
  box and footer, above and below the body. Outlets host many stories (their template repeats)
  except a few small ones with one to three pages.
* ``truncate`` (35-85 % of the words, cut mid-sentence, a paywall line), ``drop`` (20-45 % of
  the paragraphs), ``shuffle`` (paragraphs reordered, some merged).
* ``noise``: 5-15 % of the words substituted, dropped, doubled or given a typo.
* ``rewrite``: clauses swapped around commas, sentences dropped or merged, numbers rewritten,
  connectives inserted.
* ``stacked``: three or four of the above on one copy.
* ``concat``: the story followed by a second, shorter story after a "read next" separator.

Hard negatives: halves of one long story published as two stories (same topic), follow-up
stories that reuse one or two background paragraphs of an earlier story inside new text,
stories of the same outlet (same template), and the second story of a concatenation.
"""

from __future__ import annotations

import random
import string

from dedup_hard.common import Bench, Doc, day, headline, sentences
from dedup_hard.corpus import Story

SECTIONS = [
    "Home", "News", "World", "Politics", "Business", "Markets", "Tech", "Science", "Health",
    "Sport", "Football", "Culture", "Opinion", "Lifestyle", "Travel", "Weather", "Video",
    "Podcasts", "Local", "Education", "Climate", "Money", "Cars", "Food",
]  # fmt: skip
COOKIES = [
    "We use cookies to personalise content and ads, to provide social media features and to "
    "analyse our traffic. We also share information about your use of our site with our "
    "partners. Accept all cookies Manage preferences",
    "This website uses cookies to ensure you get the best experience on our website. By "
    "continuing to browse you agree to our use of cookies. Learn more Got it",
    "Your privacy matters to {o}. We and our partners store and access information on your "
    "device for personalised ads and content, measurement and audience insights. Agree "
    "Disagree Show purposes",
    "{o} uses cookies and similar technologies. Some are essential, others help us improve "
    "the site. You can change your choice at any time in the privacy settings. OK",
]
NEWSLETTER = [
    "Get the morning briefing from {o} in your inbox every weekday. Enter your email address "
    "Sign up You can unsubscribe at any time.",
    "Never miss a story: subscribe to the {o} newsletter. Email Subscribe",
    "Support independent journalism. Subscribe to {o} for unlimited access from $1 a week.",
]
SOCIAL = ["Share on Facebook Share on Twitter Share via Email", "Follow {o} on X, Instagram and "
          "YouTube", "Share Tweet Email Print", "Comments (0) Add a comment"]  # fmt: skip
FOOTER = [
    "© {y} {o}. All rights reserved.",
    "About us Contact Careers Advertise Terms of use Privacy policy Cookie settings",
    "{o} is part of {g} Media Group. Registered office: {n} {s} Street, {c}.",
    "Help Accessibility Corrections Site map Newsletters RSS",
    "Back to top",
]
GROUPS = ["Northgate", "Harbor", "Summit", "Riverside", "Crown", "Meridian", "Atlas", "Beacon"]
CITIES = ["London", "Leeds", "Dublin", "Boston", "Denver", "Toronto", "Sydney", "Cape Town"]
BYLINES = ["By {n}, {o}", "{n} | {o}", "Written by {n}", "By {n} and {m}"]
NAMES = ["Alex Morgan", "Priya Shah", "Tom Becker", "Lena Fischer", "Sam Okafor", "Mei Lin"]
PAYWALL = ["Continue reading", "Subscribe to read the full story.", "... Read more",
           "This article is for subscribers only."]  # fmt: skip
READ_NEXT = ["Read next", "Next story", "More from {o}", "Up next:"]
CONNECTIVES = ["Meanwhile,", "However,", "In addition,", "Separately,", "At the same time,"]
EDITS = {
    "exact": 0.06, "encoding": 0.07, "chrome": 0.14, "truncate": 0.09, "drop": 0.08,
    "shuffle": 0.07, "noise": 0.12, "rewrite": 0.10, "stacked": 0.17, "concat": 0.10,
}  # fmt: skip
STACKABLE = ["chrome", "truncate", "drop", "shuffle", "noise", "rewrite", "encoding"]


class Outlet:
    """A syndicating site with a fixed template (its chrome) and a pool of headlines."""

    def __init__(self, i: int, rng: random.Random, small: bool) -> None:
        stem = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))
        self.name = stem.capitalize() + rng.choice([" Herald", " Post", " Daily", " Times", ""])
        self.site = f"{stem}{i}.{rng.choice(['com', 'co.uk', 'news', 'net'])}"
        self.small = small
        fmt = {
            "o": self.name,
            "y": str(rng.randint(2019, 2025)),
            "g": rng.choice(GROUPS),
            "n": str(rng.randint(1, 200)),
            "s": rng.choice(["High", "Mill", "Station", "Church", "Park"]),
            "c": rng.choice(CITIES),
        }
        nav = rng.sample(SECTIONS, rng.randint(8, 16))
        self.top = [" ".join(nav[: len(nav) // 2]), " ".join(nav[len(nav) // 2 :])]
        self.top.append(rng.choice(COOKIES).format(**fmt))
        self.box = rng.choice(NEWSLETTER).format(**fmt)
        self.social = rng.choice(SOCIAL).format(**fmt)
        self.footer = [f.format(**fmt) for f in FOOTER if rng.random() < 0.8]
        self.related_title = rng.choice(["Related", "Most read", "More stories", "Trending now"])
        self.headlines: list[str] = []

    def page(self, body: str, rng: random.Random) -> str:
        related = rng.sample(self.headlines, min(len(self.headlines), rng.randint(4, 8)))
        head = [*self.top, self.social] if rng.random() < 0.5 else self.top
        tail = [self.box, self.related_title, *related, *self.footer]
        return "\n".join([*head, body, *tail])


def _byline(rng: random.Random, outlet: str) -> str:
    n, m = rng.sample(NAMES, 2)
    return rng.choice(BYLINES).format(n=n, m=m, o=outlet)


_FULLWIDTH_DIGITS = {ord("0") + i: 0xFF10 + i for i in range(10)}


def _encode(text: str, rng: random.Random) -> str:
    """Entities for quotes and ampersands, soft hyphens in long words, invisible characters."""
    if rng.random() < 0.5:
        text = text.translate(_FULLWIDTH_DIGITS)
    ents = {"'": ["&#8217;", "&rsquo;", "&#x2019;"], '"': ["&quot;", "&#8220;", "&ldquo;"],
            "&": ["&amp;"], " ": ["&nbsp;", "\u00a0"]}  # fmt: skip
    out = []
    for w in text.split(" "):
        r = rng.random()
        if len(w) > 7 and r < 0.15:
            cut = rng.randint(3, len(w) - 3)
            w = w[:cut] + "\u00ad" + w[cut:]
        elif r < 0.2:
            w = w + rng.choice(["\u200b", "\u200d", "\ufeff", "\u2060"])
        out.append(
            "".join(rng.choice(ents[c]) if c in ents and rng.random() < 0.6 else c for c in w)
        )
    sep = [" "] * (len(out) - 1)
    for i in range(len(sep)):
        if rng.random() < 0.05:
            sep[i] = rng.choice(["&nbsp;", "\u00a0"])
    return out[0] + "".join(s + w for s, w in zip(sep, out[1:], strict=True))


def _typo(w: str, rng: random.Random) -> str:
    if len(w) < 3:
        return w + w[-1:]
    i = rng.randrange(len(w) - 1)
    op = rng.randrange(4)
    if op == 0:
        return w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    if op == 1:
        return w[:i] + w[i + 1 :]
    if op == 2:
        return w[:i] + w[i] + w[i:]
    return w[:i] + rng.choice(string.ascii_lowercase) + w[i + 1 :]


def _noise(paras: list[str], rate: float, vocab: list[str], rng: random.Random) -> list[str]:
    out = []
    for p in paras:
        words = []
        for w in p.split(" "):
            if rng.random() >= rate:
                words.append(w)
                continue
            op = rng.random()
            if op < 0.35:
                words.append(rng.choice(vocab))
            elif op < 0.5:
                continue
            elif op < 0.6:
                words += [w, w]
            else:
                words.append(_typo(w, rng))
        out.append(" ".join(words))
    return out


def _rewrite(paras: list[str], rng: random.Random) -> list[str]:
    numbers = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "10": "ten"}
    out = []
    for p in paras:
        sents = []
        for s in sentences(p):
            r = rng.random()
            if r < 0.12:
                continue  # sentence dropped
            if r < 0.35 and ", " in s:
                a, b = s.rstrip(".").split(", ", 1)
                s = f"{b[:1].upper()}{b[1:]}, {a[:1].lower()}{a[1:]}."
            elif r < 0.45:
                s = f"{rng.choice(CONNECTIVES)} {s[:1].lower()}{s[1:]}"
            s = " ".join(numbers.get(w, w) for w in s.split(" "))
            if sents and rng.random() < 0.15:
                sents[-1] = sents[-1].rstrip(".") + ", and " + s[:1].lower() + s[1:]
            else:
                sents.append(s)
        if sents:
            out.append(" ".join(sents))
    return out or paras[:1]


def _truncate(paras: list[str], rng: random.Random) -> list[str]:
    words = "\n".join(paras).split(" ")
    cut = " ".join(words[: max(20, int(len(words) * rng.uniform(0.35, 0.85)))])
    return [*cut.split("\n"), rng.choice(PAYWALL)]


def _drop(paras: list[str], rng: random.Random) -> list[str]:
    if len(paras) < 3:
        return paras
    k = max(1, int(len(paras) * rng.uniform(0.2, 0.45)))
    gone = set(rng.sample(range(1, len(paras)), min(k, len(paras) - 1)))
    return [p for i, p in enumerate(paras) if i not in gone]


def _shuffle(paras: list[str], rng: random.Random) -> list[str]:
    rest = paras[1:]
    rng.shuffle(rest)
    out = [paras[0]]
    for p in rest:
        if rng.random() < 0.25:
            out[-1] = out[-1] + " " + p
        else:
            out.append(p)
    return out


class Generator:
    def __init__(self, stories: list[Story], seed: int, max_outlet_pairs: int | None) -> None:
        self.rng = random.Random(seed)
        self.max_outlet_pairs = max_outlet_pairs
        self.stories = stories
        self.vocab = sorted({w for s in stories for p in s.paragraphs for w in p.split(" ") if w})

    def build(self) -> Bench:
        rng = self.rng
        bench = Bench("A")
        order = list(range(len(self.stories)))
        rng.shuffle(order)
        n_fresh = len(order) // 7  # stories kept back as the new text of follow-ups
        fresh, used = order[:n_fresh], order[n_fresh:]
        # 1. originals: each story, long ones sometimes split into two stories (same topic)
        originals: list[tuple[Story, list[str], int | None]] = []  # story, paragraphs, twin
        for i in used:
            s = self.stories[i]
            if s.words >= 900 and len(s.paragraphs) >= 6 and rng.random() < 0.5:
                cut = len(s.paragraphs) // 2
                originals.append((s, s.paragraphs[:cut], len(originals) + 1))
                originals.append((s, s.paragraphs[cut:], len(originals) - 1))
            else:
                originals.append((s, s.paragraphs, None))
        outlets = [Outlet(i, rng, small=i >= 20) for i in range(30)]
        titles = [headline(p, s.title if p is s.paragraphs else "") for s, p, _ in originals]
        for o in outlets:
            o.headlines = rng.sample(titles, 40)
        # 2. each original, then its copies
        members: list[list[int]] = []
        orig_doc: list[int] = []
        for c, (s, paras, _) in enumerate(originals):
            date = s.published or day(None, rng, 0)
            first = bench.add(Doc("\n".join(paras), s.site, c, "original", date, s.lang))
            ids = [first]
            n_copies = rng.choices(range(9), [15, 15, 15, 13, 12, 10, 8, 7, 5])[0]
            for _ in range(n_copies):
                kind = rng.choices(list(EDITS), list(EDITS.values()))[0]
                ids.append(self._copy(bench, c, s, paras, kind, originals, outlets))
            members.append(ids)
            orig_doc.append(first)
        for docs in members:  # missing dates, as extraction often leaves them
            for d in docs:
                if rng.random() < 0.3:
                    bench.docs[d].published = None
        # 3. hard negatives
        for c, (_, _, twin) in enumerate(originals):
            if twin is not None and twin > c:
                bench.hard_negatives += [(a, b, "same_topic_split") for a in members[c]
                                         for b in members[twin]]  # fmt: skip
        for f in fresh:
            c = rng.randrange(len(originals))
            s, paras, _ = originals[c]
            new = self.stories[f].paragraphs
            k = rng.randint(1, 2)
            background = paras[1 : 1 + k] if len(paras) > k + 1 else paras[:1]
            at = rng.randint(1, max(1, len(new) - 1))
            text = "\n".join([*new[:at], *background, *new[at:]])
            doc = bench.add(Doc(text, self.stories[f].site, len(originals) + f, "follow_up",
                                day(bench.docs[orig_doc[c]].published, rng, 30),
                                self.stories[f].lang))  # fmt: skip
            bench.hard_negatives += [(doc, m, "same_topic_follow_up") for m in members[c]]
        by_site: dict[str, list[int]] = {}
        for i, d in enumerate(bench.docs):
            if d.edit != "original":
                by_site.setdefault(d.site, []).append(i)
        for docs in by_site.values():
            if self.max_outlet_pairs is None:
                pairs = [(a, b) for a_i, a in enumerate(docs) for b in docs[a_i + 1 :]]
            else:
                pairs = sorted({tuple(sorted(rng.sample(docs, 2))) for _ in range(
                    self.max_outlet_pairs)}) if len(docs) > 1 else []  # fmt: skip
            pairs = [(a, b) for a, b in pairs if bench.docs[a].cluster != bench.docs[b].cluster]
            bench.hard_negatives += [(a, b, "same_outlet") for a, b in pairs]
        for i, d in enumerate(bench.docs):
            if d.edit.startswith("concat"):
                second = int(d.edit.split(":")[1])
                bench.hard_negatives += [(i, m, "concat_second_story") for m in members[second]]
                d.edit = "concat"
        return bench

    def _copy(self, bench: Bench, c: int, s: Story, paras: list[str], kind: str,
              originals: list, outlets: list[Outlet]) -> int:  # fmt: skip
        rng = self.rng
        date = day(s.published, rng, 5) if s.published else None
        kinds = rng.sample(STACKABLE, rng.randint(3, 4)) if kind == "stacked" else [kind]
        outlet = rng.choice(outlets[20:]) if rng.random() < 0.15 else rng.choice(outlets[:20])
        p = list(paras)
        edit = kind
        for k in kinds:  # body edits first, in a fixed order; page-level edits below
            if k == "truncate":
                p = _truncate(p, rng)
            elif k == "drop":
                p = _drop(p, rng)
            elif k == "shuffle":
                p = _shuffle(p, rng)
            elif k == "noise":
                p = _noise(p, rng.uniform(0.05, 0.15 if kind == "noise" else 0.08), self.vocab, rng)
            elif k == "rewrite":
                p = _rewrite(p, rng)
        if kind == "concat":
            other = rng.randrange(len(originals))
            while other == c or originals[other][0] is s:
                other = rng.randrange(len(originals))
            second = originals[other][1]
            budget = int(sum(len(x.split()) for x in p) * rng.uniform(0.3, 0.9))
            tail, n = [], 0
            for x in second:  # the second story stays shorter than the first
                words = x.split()[: budget - n]
                if not words:
                    break
                tail.append(" ".join(words))
                n += len(words)
            sep = rng.choice(READ_NEXT).format(o=outlet.name)
            p = [*p, sep, headline(second, ""), *tail]
            edit = f"concat:{other}"
        body = "\n".join(p)
        if "encoding" in kinds:
            body = _encode(body, rng)
        if "chrome" in kinds:
            text = outlet.page(body, rng)
            site = outlet.site
        else:
            text = "\n".join([_byline(rng, outlet.name), body]) if kind != "concat" else body
            site = outlet.site if rng.random() < 0.5 else s.site
        return bench.add(Doc(text, site, c, edit, date, s.lang))


def build(stories: list[Story], seed: int = 0, max_outlet_pairs: int | None = None) -> Bench:
    """Variant A over ``stories``; ``max_outlet_pairs`` samples the same-outlet pairs of a
    site (all of them by default; big synthetic sites would have millions)."""
    return Generator(stories, seed, max_outlet_pairs).build()
