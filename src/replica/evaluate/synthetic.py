"""Evaluate a synthetic-image detector the way users meet generated images: unseen generators,
content-matched reals, calibrated probabilities, degraded files.

Metrics (fake = positive class): average precision ``ap``, ``auroc``, balanced accuracy ``acc``
at the threshold chosen on the validation split, expected calibration error of the
probability of "generated" before (``ece_raw``) and after (``ece``) the calibration fitted on the
validation split (``synthetic.calibration``: temperature scaling, or Platt scaling = temperature
and bias; the detectors train class-balanced, so their raw logits assume a 50 % prior that only a
bias can undo), and the ``consistency`` view when consistency calibration is on (the
mean calibrated probability over the clean image and random mild views of it, each view brought
back to the training encoding as ``predict`` would; for the test split and every held-out
generator).

Protocols, each computed for every model (the candidate and the baselines, same rows):
- ``test``: the candidate as trained (baselines trained on the same train split) on the test
  split; with ``fakes.test_generators`` its fakes are generators no model saw;
- ``logo``: leave one generator out, for every generator (>= 2): train on the train split
  (plus the other generators' test-split fakes) without that generator's fakes, calibrate on
  the val split, test on all of its fakes against the test-split reals;
- reals ``plain`` (every test-split real) beside ``matched`` (each fake's nearest real, the
  ``match_id`` of the fakes table, counted once per fake: a balanced, content-matched set);
- views ``clean`` and the robustness views (JPEG re-compression, down-scaling) of test images.
Each result is one record (model, protocol, generator, reals, view, metric, value, n).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from replica.evaluate.views import apply_view, random_view

METRICS = ("ap", "auroc", "acc", "ece", "ece_raw")
LOGIT_CLIP = 30.0


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -LOGIT_CLIP, LOGIT_CLIP)))


def ece(labels: np.ndarray, prob: np.ndarray, bins: int) -> float:
    """Expected calibration error of P(generated): the count-weighted mean gap between the
    mean predicted probability and the share of generated images in ``bins`` equal bins."""
    labels, prob = np.asarray(labels, np.float64), np.asarray(prob, np.float64)
    if len(prob) == 0:
        return math.nan
    idx = np.clip(np.digitize(prob, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(prob[mask].mean() - labels[mask].mean())
    return float(total / len(prob))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimising the NLL of sigmoid(logits / T) (Guo et al. 2017)."""
    from scipy.optimize import minimize_scalar

    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def nll(log_t: float) -> float:
        p = np.clip(sigmoid(z / math.exp(log_t)), 1e-12, 1 - 1e-12)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

    res = minimize_scalar(nll, bounds=(math.log(1e-2), math.log(1e3)), method="bounded")
    return float(math.exp(res.x))


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The T > 0 and bias b minimising the NLL of sigmoid(logits / T + b) (Platt 1999)."""
    from scipy.optimize import minimize

    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def nll(params: np.ndarray) -> float:
        p = np.clip(sigmoid(z * math.exp(-params[0]) + params[1]), 1e-12, 1 - 1e-12)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

    bounds = [(math.log(1e-2), math.log(1e3)), (-LOGIT_CLIP, LOGIT_CLIP)]
    res = minimize(nll, np.array([math.log(fit_temperature(z, y)), 0.0]), method="L-BFGS-B",
                   bounds=bounds)  # fmt: skip
    return float(math.exp(res.x[0])), float(res.x[1])


def probability(logits: np.ndarray, temperature: float, bias: float = 0.0) -> np.ndarray:
    """Calibrated P(generated): sigmoid(logits / temperature + bias)."""
    return sigmoid(np.asarray(logits, np.float64) / temperature + bias)


def balanced_accuracy(labels: np.ndarray, prob: np.ndarray, threshold: float) -> float:
    """Mean of the true-positive and true-negative rates at ``prob >= threshold``."""
    y = np.asarray(labels, bool)
    pred = np.asarray(prob) >= threshold
    rates = [float((pred[y == c] == c).mean()) for c in (True, False) if (y == c).any()]
    return float(np.mean(rates)) if rates else math.nan


def fit_threshold(prob: np.ndarray, labels: np.ndarray) -> float:
    """The threshold on ``prob`` with the best balanced accuracy (midpoints between sorted
    scores; ties go to the one nearest 0.5)."""
    cuts = np.unique(np.asarray(prob, np.float64))
    candidates = np.concatenate([[0.5], (cuts[:-1] + cuts[1:]) / 2]) if len(cuts) > 1 else [0.5]
    return float(max(candidates, key=lambda t: (balanced_accuracy(labels, prob, t), -abs(t - 0.5))))


def detection_metrics(
    labels: np.ndarray,
    logits: np.ndarray,
    temperature: float,
    threshold: float,
    bins: int,
    bias: float = 0.0,
) -> dict[str, float]:
    """The metrics of one scored set (NaN where undefined, e.g. AUROC with one class)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(labels, int)
    prob = probability(logits, temperature, bias)
    both = len(set(y.tolist())) == 2
    return {
        "ap": float(average_precision_score(y, prob)) if both else math.nan,
        "auroc": float(roc_auc_score(y, prob)) if both else math.nan,
        "acc": balanced_accuracy(y, prob, threshold),
        "ece": ece(y, prob, bins),
        "ece_raw": ece(y, sigmoid(logits), bins),
    }


# ---------------------------------------------------------------- models under evaluation


class Fitted(Protocol):
    def logits(self, x: Any) -> np.ndarray: ...


class Adapter(Protocol):
    """How the evaluation drives one kind of detector: inputs from pixels, training, scoring.

    ``featurize`` gets the images of a view (uint8 RGB arrays) with their row indices and
    returns the model's inputs, indexable by a numpy index array (a feature matrix, a tensor).
    """

    name: str
    uses_views: bool  # False: the inputs do not depend on pixels (scored on clean only)

    def featurize(self, images: Sequence[np.ndarray], rows: np.ndarray, view: str) -> Any: ...

    def fit(self, x: Any, labels: np.ndarray, seed: int) -> Fitted: ...


@dataclass
class Calibrated:
    """A fitted detector with the temperature, bias and threshold chosen on the validation
    split."""

    model: Fitted
    temperature: float
    threshold: float
    bias: float = 0.0


def calibrate(model: Fitted, x_val: Any, y_val: np.ndarray, method: str = "platt") -> Calibrated:
    """Fit the calibration (``temperature`` or ``platt``), then the threshold, on validation
    inputs (both classes needed)."""
    if len(set(np.asarray(y_val).tolist())) != 2:
        raise ValueError("calibration needs real and generated images in the validation split")
    if method not in ("temperature", "platt"):
        raise ValueError(f"synthetic.calibration must be temperature or platt, got {method!r}")
    z = model.logits(x_val)
    t, b = fit_platt(z, y_val) if method == "platt" else (fit_temperature(z, y_val), 0.0)
    return Calibrated(model, t, fit_threshold(probability(z, t, b), y_val), b)


def train_calibrated(
    adapter: Adapter,
    x: Any,
    labels: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    seed: int,
    method: str = "platt",
) -> Calibrated:
    """Fit on the ``train`` rows of ``x``, calibrate on the ``val`` rows."""
    return calibrate(adapter.fit(x[train], labels[train], seed), x[val], labels[val], method)


# ---------------------------------------------------------------- the evaluation run


@dataclass(frozen=True)
class Table:
    """The rows of the fakes dataset as arrays."""

    image_id: np.ndarray
    label: np.ndarray  # 1 = generated
    generator: np.ndarray  # "" for reals
    split: np.ndarray
    match: np.ndarray  # row index of the matched real, -1 for reals

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> Table:
        ids = [r["image_id"] for r in rows]
        pos = {i: k for k, i in enumerate(ids)}
        return cls(
            image_id=np.array(ids),
            label=np.array([r["label"] == "fake" for r in rows], dtype=np.int64),
            generator=np.array([r["generator"] or "" for r in rows]),
            split=np.array([r["split"] for r in rows]),
            match=np.array([pos.get(r.get("match_id") or "", -1) for r in rows]),
        )

    @property
    def generators(self) -> list[str]:
        return sorted(set(self.generator[self.label == 1].tolist()))


@dataclass
class Result:
    records: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    plots: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, model: str, protocol: str, generator: str, reals: str, view: str,
              metric: str) -> float:  # fmt: skip
        for r in self.records:
            key = (r["model"], r["protocol"], r["generator"], r["reals"], r["view"], r["metric"])
            if key == (model, protocol, generator, reals, view, metric):
                return float(r["value"])
        return math.nan


@dataclass(frozen=True)
class Settings:
    views: tuple[str, ...] = ("clean",)
    logo: bool = True
    consistency_views: int = 0
    bins: int = 15
    seed: int = 0
    calibration: str = "platt"  # how baselines and leave-one-out folds are calibrated


def test_sets(table: Table, fakes: np.ndarray, reals: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of the ``plain`` (fakes + the given reals) and ``matched`` (fakes + each
    one's matched real, repeated per fake) test sets."""
    matched = table.match[fakes]
    matched = matched[matched >= 0]
    return {
        "plain": np.concatenate([fakes, reals]),
        "matched": np.concatenate([fakes, matched]),
    }


def _score_sets(
    result: Result,
    model_name: str,
    protocol: str,
    table: Table,
    cal: Calibrated,
    inputs: Mapping[str, Any],
    fakes: np.ndarray,
    reals: np.ndarray,
    settings: Settings,
    per_generator: bool,
) -> None:
    """Records for every view x reals protocol x generator (``all`` and, when asked, each)."""
    for view, x in inputs.items():
        logits = np.full(len(table.label), np.nan)
        needed = np.unique(
            np.concatenate([fakes, reals, table.match[fakes][table.match[fakes] >= 0]])
        )
        logits[needed] = cal.model.logits(x[needed])
        groups = {"all": fakes}
        if per_generator:
            groups |= {g: fakes[table.generator[fakes] == g] for g in table.generators}
        for gen, gf in groups.items():
            if len(gf) == 0:
                continue
            for reals_name, idx in test_sets(table, gf, reals).items():
                values = detection_metrics(
                    table.label[idx],
                    logits[idx],
                    cal.temperature,
                    cal.threshold,
                    settings.bins,
                    cal.bias,
                )
                for metric, value in values.items():
                    result.records.append(
                        {"model": model_name, "protocol": protocol, "generator": gen,
                         "reals": reals_name, "view": view, "metric": metric,
                         "value": value, "n": len(idx)}
                    )  # fmt: skip
        if view == "clean":
            for i in np.concatenate([fakes, reals]):
                result.predictions.append(
                    {"model": model_name, "protocol": protocol, "image_id": table.image_id[i],
                     "label": int(table.label[i]), "generator": table.generator[i] or None,
                     "logit": float(logits[i]),
                     "probability": float(probability(logits[i], cal.temperature, cal.bias))}
                )  # fmt: skip


def evaluate(
    table: Table,
    pixels: Callable[[int], np.ndarray],
    candidate: tuple[Adapter, Calibrated],
    baselines: Sequence[Adapter],
    settings: Settings,
    progress: Callable[[str], None] = lambda _: None,
    prepare: Callable[[np.ndarray], np.ndarray] = lambda im: im,
) -> Result:
    """Every model, protocol, reals set and view (see the module docstring).

    ``pixels(i)`` gives row i's image as uint8 RGB. The candidate comes trained and calibrated;
    each baseline (and the candidate's kind, for leave-one-generator-out) is trained here on
    the same splits. ``prepare`` brings a consistency view back to the training encoding.
    """
    result = Result()
    test = np.flatnonzero(table.split == "test")
    test_fakes, test_reals = test[table.label[test] == 1], test[table.label[test] == 0]
    if len(test_fakes) == 0 or len(test_reals) == 0:
        raise ValueError("the test split needs real and generated images")
    train, val = np.flatnonzero(table.split == "train"), np.flatnonzero(table.split == "val")
    # Phase 1: the images each view needs (all rows for clean; test rows and every fake for
    # the others: leave-one-generator-out tests on fakes from any split).
    everything = np.arange(len(table.label))
    scored = np.unique(np.concatenate([test, np.flatnonzero(table.label == 1)]))
    clean = [pixels(int(i)) for i in everything]
    images = {
        v: clean if v == "clean" else [apply_view(clean[int(i)], v) for i in scored]
        for v in settings.views
    }

    def inputs_of(adapter: Adapter) -> dict[str, Any]:
        out = {}
        for view in settings.views if adapter.uses_views else ("clean",):
            rows = everything if view == "clean" else scored
            progress(f"{adapter.name}: features of {len(rows)} images ({view})")
            x = adapter.featurize(images[view], rows, view)
            out[view] = _Scattered(x, rows, len(everything)) if view != "clean" else x
        return out

    # Phase 2: the candidate as trained, and each baseline trained on the same split.
    models: list[tuple[str, Adapter, Calibrated, dict[str, Any]]] = []
    cand_adapter, cand = candidate
    cand_inputs = inputs_of(cand_adapter)
    models.append(("candidate", cand_adapter, cand, cand_inputs))
    consistency: list[Any] = []
    if settings.consistency_views > 0:
        rng = np.random.default_rng(settings.seed)
        progress(f"{cand_adapter.name}: {settings.consistency_views} consistency views")
        for k in range(settings.consistency_views):
            views = [prepare(random_view(clean[int(i)], rng)) for i in scored]
            x = cand_adapter.featurize(views, scored, f"consistency{k}")
            consistency.append(_Scattered(x, scored, len(everything)))
    for adapter in baselines:
        x = inputs_of(adapter)
        progress(f"{adapter.name}: training on {len(train)} images")
        models.append(
            (adapter.name, adapter, train_calibrated(adapter, x["clean"], table.label, train, val,
                                                     settings.seed, settings.calibration), x)
        )  # fmt: skip
    for name, _, cal, x in models:
        _score_sets(result, name, "test", table, cal, x, test_fakes, test_reals, settings, True)
    if consistency:
        _consistency(result, "test", table, cand, cand_inputs["clean"], consistency,
                     test_fakes, test_reals, settings)  # fmt: skip
    # Phase 3: leave one generator out, every model kind retrained per held-out generator: it
    # trains on the train split plus the other generators' test-split fakes (a generator held
    # out of the test split is a training generator here), never on a test-split real.
    gens = table.generators
    if settings.logo and len(gens) >= 2:
        for name, adapter, _, x in models:
            for g in gens:
                is_g = (table.label == 1) & (table.generator == g)
                held = np.flatnonzero(is_g)
                tr = np.union1d(train, test_fakes)
                tr, va = tr[~is_g[tr]], val[~is_g[val]]
                if len(set(table.label[tr].tolist())) < 2:
                    result.notes.append(f"logo {g}: no other generator's fakes to train on")
                    continue
                if len(set(table.label[va].tolist())) < 2:
                    result.notes.append(f"logo {g}: no val fakes left; calibrated on train")
                    va = tr
                progress(f"{name}: leave out {g} ({len(held)} fakes)")
                cal = train_calibrated(adapter, x["clean"], table.label, tr, va, settings.seed,
                                       settings.calibration)  # fmt: skip
                _score_sets(result, name, f"logo:{g}", table, cal, x, held, test_reals,
                            settings, False)  # fmt: skip
                if name == "candidate" and consistency:
                    _consistency(result, f"logo:{g}", table, cal, x["clean"], consistency,
                                 held, test_reals, settings)  # fmt: skip
    elif settings.logo:
        result.notes.append(f"leave-one-generator-out needs >= 2 generators, got {gens}")
    return result


class _Scattered:
    """Inputs computed for a subset of rows, indexable by global row index."""

    def __init__(self, x: Any, rows: np.ndarray, n: int) -> None:
        self.x, self.pos = x, np.full(n, -1)
        self.pos[rows] = np.arange(len(rows))

    def __getitem__(self, idx: np.ndarray) -> Any:
        local = self.pos[np.asarray(idx)]
        if (local < 0).any():
            raise IndexError("rows outside the scored subset")
        return self.x[local]


def _consistency(
    result: Result,
    protocol: str,
    table: Table,
    cal: Calibrated,
    clean: Any,
    views: Sequence[Any],
    fakes: np.ndarray,
    reals: np.ndarray,
    settings: Settings,
) -> None:
    """Metrics of the calibrated probability averaged over the clean image and its random
    mild views (view ``consistency``): a prediction that a re-save would flip loses weight."""
    for reals_name, idx in test_sets(table, fakes, reals).items():
        probs = [probability(cal.model.logits(x[idx]), cal.temperature, cal.bias)
                 for x in (clean, *views)]  # fmt: skip
        p = np.mean(probs, axis=0)
        logit = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1))
        values = detection_metrics(table.label[idx], logit, 1.0, cal.threshold, settings.bins)
        for metric in ("ap", "auroc", "acc", "ece"):
            result.records.append(
                {"model": "candidate", "protocol": protocol, "generator": "all",
                 "reals": reals_name, "view": "consistency", "metric": metric,
                 "value": values[metric], "n": len(idx)}
            )  # fmt: skip


# ---------------------------------------------------------------- what the step writes


def flat_metrics(result: Result, models: Sequence[str], views: Sequence[str]) -> dict[str, float]:
    """The numbers the gate and DVC read (candidate unless prefixed with a baseline's name):
    test-split metrics (plain reals), ``*_matched``, ``logo_*_mean``/``logo_*_min`` over held-out
    generators, ``<view>_ap``/``<view>_auroc``/``<view>_acc``, ``consistency_*`` and, per
    baseline trained in the same run, ``baseline.<name>.<metric>`` and ``ap_over_<name>`` (the
    candidate's AP minus the baseline's: the gate's guards require it above 0)."""
    out: dict[str, float] = {}

    def get(model: str, protocol: str, reals: str, view: str, metric: str) -> float:
        return result.value(model, protocol, "all", reals, view, metric)

    for metric in METRICS:
        out[metric] = get("candidate", "test", "plain", "clean", metric)
        out[f"{metric}_matched"] = get("candidate", "test", "matched", "clean", metric)
    logo = sorted({r["protocol"] for r in result.records if r["protocol"].startswith("logo:")})
    for metric in ("ap", "auroc", "acc", "ece", "ece_raw"):
        values = [get("candidate", p, "plain", "clean", metric) for p in logo]
        if values:
            out[f"logo_{metric}_mean"] = float(np.mean(values))
            worst_is_max = metric.startswith("ece")
            out[f"logo_{metric}_{'max' if worst_is_max else 'min'}"] = float(
                np.max(values) if worst_is_max else np.min(values)
            )
    for view in views:
        if view != "clean":
            for metric in ("ap", "auroc", "acc"):
                out[f"{view}_{metric}"] = get("candidate", "test", "plain", view, metric)
    for metric in ("ap", "auroc", "acc", "ece"):
        value = get("candidate", "test", "plain", "consistency", metric)
        if not math.isnan(value):
            out[f"consistency_{metric}"] = value
        values = [get("candidate", p, "plain", "consistency", metric) for p in logo]
        if values and not any(math.isnan(v) for v in values):
            out[f"logo_consistency_{metric}_mean"] = float(np.mean(values))
    for model in models:
        for metric in ("ap", "auroc", "acc"):
            out[f"baseline.{model}.{metric}"] = get(model, "test", "plain", "clean", metric)
            logo_values = [get(model, p, "plain", "clean", metric) for p in logo]
            if logo_values:
                out[f"baseline.{model}.logo_{metric}_mean"] = float(np.mean(logo_values))
        out[f"ap_over_{model}"] = out["ap"] - out[f"baseline.{model}.ap"]
    return {k: round(v, 6) for k, v in out.items() if not math.isnan(v)}


def markdown_tables(result: Result, table: Table, models: Sequence[str]) -> str:
    """The evaluation as Markdown: the test split per model and protocol, the
    leave-one-generator-out table per model (plain and matched reals) and the views."""
    lines: list[str] = []

    def cells(model: str, protocol: str, gen: str, reals: str, view: str) -> str:
        vals = [result.value(model, protocol, gen, reals, view, m) for m in METRICS]
        n = next(
            (r["n"] for r in result.records if (r["model"], r["protocol"], r["generator"],
             r["reals"], r["view"]) == (model, protocol, gen, reals, view)), 0,
        )  # fmt: skip
        return " | ".join(f"{v:.3f}" for v in vals) + f" | {n}"

    head = "| " + " | ".join(METRICS) + " | n |"
    lines += ["### Test split (generators as configured)", "",
              f"| model | reals {head}", "|---|---|" + "---|" * (len(METRICS) + 1)]  # fmt: skip
    for model in ("candidate", *models):
        for reals in ("plain", "matched"):
            lines.append(f"| {model} | {reals} | {cells(model, 'test', 'all', reals, 'clean')} |")
    gens = table.generators
    if any(r["protocol"].startswith("logo:") for r in result.records):
        for model in ("candidate", *models):
            for reals in ("plain", "matched"):
                lines += ["", f"### Leave one generator out: {model}, {reals} reals", "",
                          f"| held-out generator {head}",
                          "|---|" + "---|" * (len(METRICS) + 1)]  # fmt: skip
                for g in gens:
                    lines.append(f"| {g} | {cells(model, f'logo:{g}', 'all', reals, 'clean')} |")
                means = [
                    np.nanmean([result.value(model, f"logo:{g}", "all", reals, "clean", m)
                                for g in gens])
                    for m in METRICS
                ]  # fmt: skip
                lines.append("| **mean** | " + " | ".join(f"{v:.3f}" for v in means) + " | |")
    logo_gens = [g for g in gens if any(r["protocol"] == f"logo:{g}" for r in result.records)]
    if logo_gens:
        lines += ["", "### Calibration per held-out generator (candidate, plain reals): ECE", "",
                  "| held-out generator | raw | calibrated | consistency | n |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for g in logo_gens:
            vals = [result.value("candidate", f"logo:{g}", "all", "plain", view, metric)
                    for view, metric in (("clean", "ece_raw"), ("clean", "ece"),
                                         ("consistency", "ece"))]  # fmt: skip
            n = next(r["n"] for r in result.records if r["protocol"] == f"logo:{g}"
                     and r["model"] == "candidate" and r["reals"] == "plain")  # fmt: skip
            lines.append(f"| {g} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {n} |")
    views = sorted({r["view"] for r in result.records} - {"clean"})
    if views:
        lines += ["", "### Views of the test images (candidate)", "",
                  f"| view | reals {head}", "|---|---|" + "---|" * (len(METRICS) + 1)]  # fmt: skip
        for view in ["clean", *views]:
            for reals in ("plain", "matched"):
                lines.append(
                    f"| {view} | {reals} | {cells('candidate', 'test', 'all', reals, view)} |"
                )
    for note in result.notes:
        lines.append(f"\n_note: {note}_")
    return "\n".join(lines) + "\n"


def reliability_plots(result: Result, bins: int) -> dict[str, bytes]:
    """Reliability diagrams of the candidate: the test split, and all held-out generators of
    leave-one-generator-out pooled; raw probabilities beside calibrated ones."""
    from replica.evaluate.reliability import reliability_diagram

    plots = {}
    for name, match in (("test", "test"), ("logo", "logo:")):
        preds = [p for p in result.predictions
                 if p["model"] == "candidate" and p["protocol"].startswith(match)]  # fmt: skip
        if preds:
            y = np.array([p["label"] for p in preds], np.float64)
            curves = {
                "raw": sigmoid(np.array([p["logit"] for p in preds])),
                "calibrated": np.array([p["probability"] for p in preds]),
            }
            plots[f"plots/reliability_{name}.png"] = reliability_diagram(
                y, curves, bins, f"candidate, {name}: P(generated)"
            )
    return plots
