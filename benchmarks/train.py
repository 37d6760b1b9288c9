"""Training and inference speed of the copy detector, each against a baseline from the same run.

1. **Loader**: training images/s of the generic loop fed by the real loader (pairs decoded from
   JPEG files, kept decoded in the worker up to ``copy.decode_cache_mb``, augmented on the fly
   in DataLoader workers) vs the same loop fed synthetic in-memory tensors, over ``--epochs``
   passes as a training run makes them (default 10; the demo trains ~19 passes; the first pass
   decodes, so fewer passes weigh it more: 3 passes gave 77.7 % on this 2-core machine); the
   loader without its decoded cache is printed beside.
   Target: real >= 90 % of synthetic (the loader keeps the model busy).
2. **Inference** (CPU, one thread): pairs/s of ``predict``'s scoring (query decoded and
   described, verified against a cached reference, fused) vs pHash's (query decoded and hashed,
   Hamming distance to a cached reference hash), on the same pairs; per edit family, because
   verification costs differ, plus ms/pair amortised.
3. ``--gpu``: the same loader comparison for ViT-B/16 at 224 (random init from its config, bf16
   autocast) on a CUDA device, with synthetic pairs written to a temp folder; about 2,500 img/s
   on an H100 with synthetic input is the reference. One self-contained command, which needs
   only torch, transformers, opencv, pyarrow, pillow and pyyaml (a CUDA image's stock Python
   will do; no corpus, no network):

       PYTHONPATH=src python3 benchmarks/train.py --gpu

Usage (CPU): ``python benchmarks/train.py [--pairs DIR] [--steps 30]``; without ``--pairs`` the
pairs are built from ``../shared/corpus/gallery`` with ``benchmarks/graded_pairs.py`` (or from
generated pictures when the corpus is absent). Report the load average with the figures: the
machine may be shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "gallery" / "images"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _pictures(out: Path, n: int, size: int) -> list[Path]:
    """Generated photographs-like pictures (smooth colour fields with shapes), as JPEGs."""
    import cv2

    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        base = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
        img = cv2.resize(base, (size, size * 3 // 4), interpolation=cv2.INTER_CUBIC)
        for _ in range(30):
            x, y = (int(v) for v in rng.integers(0, size, 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.rectangle(img, (x, y), (x + int(rng.integers(5, size // 4)), y + 12), colour, -1)
        path = out / f"p{i}.jpg"
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def pairs_dir(args: argparse.Namespace, scratch: Path) -> Path:
    """``--pairs``, or graded pairs built into ``scratch`` from the corpus (or pictures)."""
    import graded_pairs

    if args.pairs is not None:
        return args.pairs
    sources = sorted(CORPUS.rglob("*.jpg"))[: args.sources] if CORPUS.is_dir() else []
    if len(sources) < 12:
        sources = _pictures(scratch / "pictures", args.sources, 384)
    graded_pairs.build(sources, scratch / "pairs", args.per_level, seed=1)
    return scratch / "pairs"


def _rows(pairs: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(pairs / "pairs.parquet").to_pylist()


class InMemory(torch.utils.data.Dataset):
    """Synthetic pairs already in memory: what the loop reaches with a free loader."""

    def __init__(self, n: int, size: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(64, 3, size, size, generator=g)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        _, i = key
        return {
            "query": self.images[i % 64],
            "reference": self.images[(i * 7 + 1) % 64],
            "level": torch.tensor(i % 6),
            "index": torch.tensor(i),
        }


def loader_benchmark(
    rows: list[dict], root: Path, copy_cfg: object, loop: object, steps: int, label: str
) -> None:
    """Training images/s: real loader vs synthetic in-memory input, same model and schedule."""
    from replica.train.copy import schedule, task
    from replica.train.loop import fit

    real = task(copy_cfg, rows, [], root, seed=0)  # type: ignore[arg-type]
    uncached = task(
        dataclasses.replace(copy_cfg, decode_cache_mb=0.0),  # type: ignore[type-var]
        rows,
        [],
        root,
        seed=0,
    )
    size = real.train_data.size  # type: ignore[attr-defined]
    synthetic = dataclasses.replace(real, train_data=InMemory(len(rows), size))
    sched = schedule(copy_cfg)  # type: ignore[arg-type]
    warm = dataclasses.replace(sched, steps=2, warmup_steps=0)
    fit(synthetic, warm, loop, seed=0)  # type: ignore[arg-type]  # allocator and kernels warm
    results = {}
    runs = (
        ("synthetic in-memory", synthetic),
        ("real, decode each draw", uncached),
        ("real loader", real),
    )
    for name, spec in runs:
        started = time.perf_counter()
        timed = dataclasses.replace(sched, steps=steps, warmup_steps=min(sched.warmup_steps, steps))
        out = fit(spec, timed, loop, seed=0)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        # steady state: the loop's log windows after the first (worker start-up excluded)
        windows = [h["samples_per_s"] for h in out.history[1:]] or [
            steps * sched.batch_size / seconds
        ]
        results[name] = rate = 2 * float(np.mean(windows))  # query + reference per pair
        print(
            f"  {name:24s} {rate:8.1f} train images/s ({out.steps} steps, {seconds:.1f} s in all)"
        )
    ratio = results["real loader"] / results["synthetic in-memory"]
    verdict = "meets" if ratio >= 0.9 else "misses"
    plain = results["real, decode each draw"] / results["synthetic in-memory"]
    print(
        f"  {label}: real/synthetic = {ratio:.1%} ({verdict} the 90 % target; "
        f"decoding every draw: {plain:.1%})"
    )


def inference_benchmark(rows: list[dict], root: Path, model_dir: Path | None) -> None:
    """Pairs/s of predict's scoring vs pHash on one thread, cached references, per family."""
    import cv2
    from PIL import Image

    from replica.dedup.images import hamming, phash_from_gray
    from replica.models.copy import CopyDetector
    from replica.scoring.features import Featurizer, ImageRef
    from replica.scoring.score import score_pairs
    from replica.train.copy import detector_config

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # pragma: no cover - faiss is a dependency
        pass
    if model_dir is not None:
        detector = CopyDetector.load(model_dir)
    else:  # an untrained detector costs the same to run
        from replica.config import CopyConfig
        from replica.models.copy import FusionHead
        from replica.scoring.features import features_of

        detector = CopyDetector.from_config(detector_config(CopyConfig())).eval()
        names = features_of(("embedding", "verify", "global"))
        detector.with_fusion(
            FusionHead(len(names), 16, 5).eval(), names, ("embedding", "verify", "global")
        )
    fz = Featurizer(detector)
    refs = [ImageRef(root / r["source_uri"], r["source_sha256"]) for r in rows]
    queries = [ImageRef(root / r["replica_uri"], r["replica_sha256"]) for r in rows]
    fz.images(refs, mirror=True)  # the gallery's features: computed once, cached

    def phash(path: Path) -> np.ndarray:
        with Image.open(path) as im:
            im.draft("L", (64, 64))
            g = np.asarray(im.convert("L").resize((32, 32), Image.Resampling.LANCZOS), np.float64)
        return phash_from_gray(g[None])[0]

    ref_hash = {r.path: phash(r.path) for r in refs}  # cached, like the detector's references
    by_family: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_family.setdefault(r["family"], []).append(i)
    print(f"  {'family':14s} {'pairs':>5s} {'model ms/pair':>14s} {'pHash ms/pair':>14s}")
    total_model = total_phash = 0.0
    for family, idx in sorted(by_family.items()):
        started = time.perf_counter()
        score_pairs(fz, [queries[i] for i in idx], [refs[i] for i in idx], chunk=64)
        model_s = time.perf_counter() - started
        started = time.perf_counter()
        for i in idx:
            hamming(phash(queries[i].path), ref_hash[refs[i].path])
        phash_s = time.perf_counter() - started
        total_model += model_s
        total_phash += phash_s
        model_ms, phash_ms = 1000 * model_s / len(idx), 1000 * phash_s / len(idx)
        print(f"  {family:14s} {len(idx):5d} {model_ms:14.1f} {phash_ms:14.2f}")
    n = len(rows)
    print(
        f"  all: model {n / total_model:.1f} pairs/s ({1000 * total_model / n:.1f} ms/pair), "
        f"pHash {n / total_phash:.1f} pairs/s ({1000 * total_phash / n:.2f} ms/pair); "
        f"model/pHash = {total_phash / total_model:.3f}; target <= 25 ms/pair: "
        f"{'met' if 1000 * total_model / n <= 25 else 'missed'}"
    )


def main(argv: list[str] | None = None) -> None:
    from replica.config import CopyConfig, TrainConfig, TrainDevice

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, default=None, help="a pairs dir (pairs.parquet)")
    parser.add_argument("--model", type=Path, default=None, help="a trained model dir")
    parser.add_argument("--steps", type=int, default=40, help="timed steps (logged every 5)")
    parser.add_argument("--batch", type=int, default=32, help="pairs per step")
    parser.add_argument(
        "--epochs",
        type=int,
        default=10,
        help="CPU: passes over the pairs (the demo trains ~19, the gallery acceptance run ~36)",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sources", type=int, default=60)
    parser.add_argument("--per-level", type=int, default=20)
    parser.add_argument("--gpu", action="store_true", help="ViT-B/16 at 224 on CUDA, bf16")
    parser.add_argument("--backbone", default=None, help="override the backbone config name")
    parser.add_argument(
        "--device", default="cuda", help="with --gpu: the device (cpu: a smoke run of the path)"
    )
    args = parser.parse_args(argv)
    print(f"# benchmarks/train.py  load average: {os.getloadavg()}  torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if args.gpu:
            if args.device == "cuda":
                if not torch.cuda.is_available():
                    sys.exit("--gpu needs a CUDA device")
                torch.backends.cuda.matmul.allow_tf32 = True
                print(f"# {torch.cuda.get_device_name()}")
            args.sources, args.per_level = max(args.sources, 120), max(args.per_level, 60)
            root = pairs_dir(args, scratch)
            rows = _rows(root)
            copy_cfg = dataclasses.replace(
                CopyConfig(), backbone=args.backbone or "vit-b16-224", batch_size=args.batch * 4
            )
            loop = TrainConfig(
                device=TrainDevice(args.device),
                workers=max(args.workers, 12),
                prefetch=4,
                log_every=5,
                eval_every=10**6,
            )
            rows = rows * max(1, (copy_cfg.batch_size * (args.steps + 2)) // len(rows) + 1)
            print(f"## training, {copy_cfg.backbone}, batch {copy_cfg.batch_size} pairs, bf16")
            loader_benchmark(rows, root, copy_cfg, loop, args.steps, "GPU")
            return
        root = pairs_dir(args, scratch)
        rows = _rows(root)
        copy_cfg = dataclasses.replace(
            CopyConfig(), backbone=args.backbone or CopyConfig().backbone, batch_size=args.batch
        )
        loop = TrainConfig(workers=args.workers, log_every=5, eval_every=10**6)
        # the timed run covers --epochs passes, as training does (the acceptance run: ~36)
        train_rows = rows[: max(args.batch, args.steps * args.batch // args.epochs)]
        print(
            f"## training on CPU, {copy_cfg.backbone}, batch {args.batch} pairs, "
            f"{len(train_rows)} pairs x {args.epochs} epochs"
        )
        loader_benchmark(train_rows, root, copy_cfg, loop, args.steps, "CPU")
        print("## inference on one CPU thread, cached references")
        inference_benchmark(rows, root, args.model)


if __name__ == "__main__":
    main()
