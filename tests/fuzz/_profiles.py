"""Hypothesis profiles for the fuzz suite and the tally it reports.

Each fuzz test runs once per profile: ``fast`` (derandomized, a few dozen cases per property:
part of ``make test``) and ``slow`` (random, many more cases: ``make test-slow``, marked slow).
``REPLICA_FUZZ_EXAMPLES`` overrides the slow profile's case count. Every case is tallied by
property and outcome (``output``, ``reject:<reason>``, ``error:<type>``), and the tally is
printed at the end of the run (``conftest.py``), so a report can say what ran and what it found.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TALLY: dict[str, Counter[str]] = {}
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
FAST = settings(
    max_examples=50, deadline=None, derandomize=True, database=None, suppress_health_check=_QUIET
)
SLOW = settings(
    max_examples=int(os.environ.get("REPLICA_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    database=None,
    suppress_health_check=_QUIET,
)
PROFILES = [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="slow", marks=pytest.mark.slow)]


def fuzz(
    profile: settings, name: str, strategy: st.SearchStrategy[Any], prop: Callable[[Any], str]
) -> None:
    """Check ``prop`` on ``strategy`` under ``profile``; ``prop`` returns the outcome label."""
    tally = TALLY.setdefault(name, Counter())

    @profile
    @given(strategy)
    def run(value: Any) -> None:
        tally[prop(value)] += 1

    run()


# -- hostile building blocks -----------------------------------------------------------------
NASTY = "\r\n\x00\t \x7f\x85\u202e\u2066\u200b\ufeff\u2028:;<>&\"'%#?/\\é日"
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(NASTY), st.characters(exclude_categories=("Cs",))),
    max_size=40,
)
BASES = [
    "https://news.example/",
    "http://127.0.0.1:1/a?b=",
    "//cdn.example/x",
    "/rel/",
    "",
    "ftp://x/",
]
url_text = st.one_of(
    st.sampled_from(["https://news.example/story", "http://a.example/b?c=d#e"]),
    st.builds(
        lambda b, t: b + t,
        st.sampled_from(BASES[:2]),
        st.text(alphabet="abcXYZ019-._~%/?=&+@:é日", max_size=30),
    ),
    st.builds(lambda b, t: b + t, st.sampled_from(BASES), hostile_text),
    hostile_text,
)
