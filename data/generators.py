"""Synthetic Criteo-style and MovieLens-style data with a planted, known ground truth.

Both generators are deterministic for a seed and vectorised with numpy, so that 100k rows take
well under a second or two.  Every data set comes with an "oracle" summary: the scores that the
true (planted) model reaches on the generated rows.  A trained model can be judged against it.

Criteo (``generate_criteo``)
    Columns ``label, I1..I13, C1..C26`` like DeepCTR's ``criteo_sample.txt``.  ``I*`` are
    heavy-tailed integer counts (``I2`` may be -1..-3), each with 5-40% missing cells.  ``C*`` are
    8-hex-digit tokens from per-field vocabularies (3 to 6,000 values) with Zipf-like
    frequencies; some fields have missing cells.  The label is Bernoulli(p) with

        logit p = bias + sum_f w_f[C_f] + sum_(a,b) <u_a[C_a], u_b[C_b]> + sum_j g_j(log1p I_j)

    A missing categorical is its own category (it has its own weight and embedding); a missing
    dense value has its own constant effect.  The planted model depends only on ``model_seed``
    (by default the data seed), so data "spans" (``span=k``) are new rows of the same model.

MovieLens (``generate_movielens``)
    Columns ``user_id, movie_id, rating, timestamp, title, genres, gender, age, occupation, zip``
    like DeepCTR's ``movielens_sample.txt``.  Ratings come from user/movie latent factors, movie
    and user biases and genre effects (overall and by gender/age), plus Gaussian noise, rounded
    to 1..5.  Users pick movies by popularity and taste, so a user's history is informative.
    Rows are ordered by timestamp (per user strictly increasing).

In the data frames, missing values are ``NaN`` (categoricals) or ``pd.NA`` (the nullable
``Int64`` dense columns); in the CSV files they are empty cells.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy.special import ndtr
from sklearn.metrics import log_loss, roc_auc_score

from data.writing import (RECORD_SUFFIX, write_csv, write_data_set, write_in_folder,
                          write_oracle)

logger = logging.getLogger(__name__)

__all__ = [
    "CRITEO_COLUMNS", "CRITEO_DENSE", "CRITEO_SPARSE", "MOVIELENS_COLUMNS", "MOVIELENS_GENRES",
    "CriteoModel", "criteo_model", "generate_criteo", "criteo_probability", "write_criteo",
    "write_criteo_span", "span_path", "read_criteo", "generate_movielens", "write_movielens",
    "movie_history", "write_csv", "write_oracle", "write_samples", "SAMPLES_DIR",
    "random_stream", "sigmoid",
]

CRITEO_DENSE = [f"I{i}" for i in range(1, 14)]
CRITEO_SPARSE = [f"C{i}" for i in range(1, 27)]
CRITEO_COLUMNS = ["label"] + CRITEO_DENSE + CRITEO_SPARSE

MOVIELENS_COLUMNS = ["user_id", "movie_id", "rating", "timestamp", "title", "genres", "gender",
                     "age", "occupation", "zip"]
MOVIELENS_GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
                    "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]

# Stream tags: every random stream is keyed by (tag, seed[, span]) so streams never overlap.
_TAG_MODEL, _TAG_CAL, _TAG_ROWS, _TAG_DRIFT = 0x4D0D, 0xCA1, 0x5EED, 0xD81F
_TAG_ML_MODEL, _TAG_ML_ROWS = 0x3141, 0x2718
_TAG_SHUFFLE = 0x5A1F

# ----------------------------------------------------------------------------------------------
# Criteo
# ----------------------------------------------------------------------------------------------

# Per categorical field: vocabulary size, Zipf exponent, missing rate.  Sizes mimic the spread
# of the real data (a few tiny fields, many hundreds-sized, several thousands-sized).
CRITEO_VOCAB_SIZES = [540, 480, 6000, 4500, 120, 12, 3500, 250, 3, 2800, 2600, 5500, 2300, 26,
                      2600, 5800, 10, 1800, 900, 4, 5200, 12, 15, 3200, 60, 2500]
_C_ZIPF = [1.10, 1.05, 1.15, 1.10, 1.20, 1.00, 1.10, 1.20, 0.80, 1.05, 1.10, 1.15, 1.05, 1.10,
           1.10, 1.15, 0.90, 1.10, 1.20, 0.70, 1.15, 1.30, 1.00, 1.10, 1.20, 1.10]
_C_MISSING = {"C3": 0.03, "C4": 0.03, "C12": 0.03, "C16": 0.03, "C21": 0.03, "C24": 0.03,
              "C22": 0.55}
# These four are missing together (one shared draw per row), as in the real data.
_C_MISSING_GROUP = (("C19", "C20", "C25", "C26"), 0.40)
# Field pairs with planted latent interactions (FM-style, one embedding per field value).
_C_PAIRS = [("C6", "C14"), ("C9", "C17"), ("C6", "C23"), ("C5", "C20"), ("C14", "C22")]
_LATENT_DIM = 4

# Per dense column: log-normal location and scale of the count, extra mass at zero, missing rate.
_I_MU = [0.3, 1.0, 1.8, 1.4, 7.8, 3.2, 1.0, 2.0, 3.6, -0.5, 0.2, -1.0, 1.3]
_I_SIGMA = [1.2, 1.4, 1.5, 0.9, 1.6, 1.5, 1.5, 1.0, 1.3, 0.8, 1.0, 1.3, 1.2]
_I_ZERO = [0.30, 0.10, 0.05, 0.05, 0.02, 0.10, 0.15, 0.02, 0.02, 0.45, 0.10, 0.50, 0.05]
_I_MISSING = [0.38, 0.05, 0.20, 0.21, 0.06, 0.22, 0.07, 0.05, 0.07, 0.36, 0.07, 0.40, 0.21]
_I2_NEGATIVE = 0.15  # share of I2 values that are -1, -2 or -3
_I_EFFECT_COLUMNS = ["I1", "I3", "I6", "I11", "I13"]

# Share of the logit variance per component (first-order, interactions, dense).
_SHARES = (0.55, 0.25, 0.20)
# Logit standard deviation: gives an oracle AUC of about 0.81-0.82 at a CTR of 25%.
_LOGIT_STD = 1.45
_TARGET_CTR = 0.25


@dataclass(frozen=True)
class CriteoModel:
    """The planted click model (all arrays read-only).  Index ``K_f`` of a field is "missing"."""

    model_seed: int
    vocab: Tuple[np.ndarray, ...]        # per field: object array of K_f tokens + NaN
    probs: Tuple[np.ndarray, ...]        # per field: frequencies of the K_f tokens
    drift_dir: Tuple[np.ndarray, ...]    # per field: fixed direction of log-frequency drift
    first_order: Tuple[np.ndarray, ...]  # per field: (K_f + 1,) weights, already scaled
    latent: Dict[int, np.ndarray]        # field index -> (K_f + 1, dim) embeddings, scaled
    pairs: Tuple[Tuple[int, int], ...]
    dense_columns: Tuple[int, ...]       # indices of I columns with an effect
    dense_weight: np.ndarray             # weight per standardised log1p(I) (scaled)
    dense_center: np.ndarray
    dense_scale: np.ndarray
    dense_missing: np.ndarray            # effect of a missing value (scaled)
    bias: float
    target_ctr: float
    logit_std: float


def random_stream(*keys: int) -> np.random.Generator:
    """The random generator keyed by ``keys`` (a stream tag, a seed, a span): distinct keys give
    independent streams, the same keys the same draws."""
    for k in keys:
        if not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"seeds and spans must be non-negative integers, got {k!r}")
    return np.random.default_rng([int(k) for k in keys])


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _hex_tokens(rng: np.random.Generator, k: int) -> np.ndarray:
    """``k`` distinct random 8-hex-digit tokens, followed by NaN (the missing slot)."""
    values = np.empty(0, dtype=np.int64)
    while values.size < k:
        draw = np.concatenate([values, rng.integers(0, 2 ** 32, size=k + 16, dtype=np.int64)])
        _, first = np.unique(draw, return_index=True)
        values = draw[np.sort(first)]
    tokens = np.empty(k + 1, dtype=object)
    tokens[:k] = [format(int(v), "08x") for v in values[:k]]
    tokens[k] = np.nan
    return tokens


def _sample_categorical(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(probs)
    idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return np.minimum(idx, probs.size - 1).astype(np.int32)


def _sample_criteo_features(rng: np.random.Generator, vocab_probs: Sequence[np.ndarray], n: int):
    """Draw (dense values, dense missing mask, categorical indices) for ``n`` rows."""
    # Dense counts: correlated log-normal floors with extra zeros (a shared "activity" factor).
    activity = rng.standard_normal(n)
    dense = np.empty((n, 13), dtype=np.int64)
    for j in range(13):
        z = 0.5 * activity + math.sqrt(0.75) * rng.standard_normal(n)
        v = np.floor(np.exp(_I_MU[j] + _I_SIGMA[j] * z)).astype(np.int64)
        v[rng.random(n) < _I_ZERO[j]] = 0
        dense[:, j] = v
    neg = rng.random(n) < _I2_NEGATIVE
    dense[neg, 1] = -1 - _sample_categorical(rng, np.array([0.8, 0.15, 0.05]), int(neg.sum()))
    missing = rng.random((n, 13)) < np.asarray(_I_MISSING)

    cats = np.empty((n, 26), dtype=np.int32)
    for f, p in enumerate(vocab_probs):
        cats[:, f] = _sample_categorical(rng, p, n)
    for name, rate in _C_MISSING.items():
        f = CRITEO_SPARSE.index(name)
        cats[rng.random(n) < rate, f] = len(vocab_probs[f])
    group, rate = _C_MISSING_GROUP
    gone = rng.random(n) < rate
    for name in group:
        f = CRITEO_SPARSE.index(name)
        cats[gone, f] = len(vocab_probs[f])
    return dense, missing, cats


def _logit_parts(first_order, latent, pairs, dense_columns, dense_weight, dense_center,
                 dense_scale, dense_missing, dense, missing, cats):
    n = cats.shape[0]
    fo = np.zeros(n)
    for f, w in enumerate(first_order):
        fo += w[cats[:, f]]
    inter = np.zeros(n)
    for a, b in pairs:
        inter += np.einsum("ij,ij->i", latent[a][cats[:, a]], latent[b][cats[:, b]])
    dn = np.zeros(n)
    for k, j in enumerate(dense_columns):
        x = (np.log1p(np.maximum(dense[:, j], 0)) - dense_center[k]) / dense_scale[k]
        dn += np.where(missing[:, j], dense_missing[k], dense_weight[k] * x)
    return fo, inter, dn


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, written with tanh so that large |x| does not overflow exp."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@lru_cache(maxsize=16)
def criteo_model(model_seed: int = 0, target_ctr: float = _TARGET_CTR,
                 logit_std: float = _LOGIT_STD,
                 vocab_sizes: Optional[Tuple[int, ...]] = None) -> CriteoModel:
    """Build (and cache) the planted click model for ``model_seed``.

    The component scales are calibrated on a fixed 40k-row sample so that the logit has standard
    deviation ``logit_std`` (split by ``_SHARES``) and the mean click probability is
    ``target_ctr``; both hold for every seed, which keeps the oracle AUC near 0.8.
    """
    rng = random_stream(_TAG_MODEL, model_seed)
    sizes = CRITEO_VOCAB_SIZES if vocab_sizes is None else [int(k) for k in vocab_sizes]
    if len(sizes) != len(CRITEO_VOCAB_SIZES) or min(sizes) < 1:
        raise ValueError(f"vocab_sizes needs {len(CRITEO_VOCAB_SIZES)} positive sizes, got {vocab_sizes}")
    vocab, probs, drift_dir, first_order = [], [], [], []
    for k, a in zip(sizes, _C_ZIPF):
        vocab.append(_readonly(_hex_tokens(rng, k)))
        p = (np.arange(k) + 2.0) ** -a
        probs.append(_readonly(p / p.sum()))
        drift_dir.append(_readonly(rng.standard_normal(k)))
        # Small fields carry most of the learnable signal; huge fields have weak effects.
        hi = 1.0 if k <= 30 else (0.7 if k <= 1000 else 0.25)
        strength = rng.uniform(0.4, 1.0) * hi * (rng.random() < 0.85)
        first_order.append(rng.standard_normal(k + 1) * strength)
    pairs = tuple((CRITEO_SPARSE.index(a), CRITEO_SPARSE.index(b)) for a, b in _C_PAIRS)
    latent = {f: rng.standard_normal((sizes[f] + 1, _LATENT_DIM)) / _LATENT_DIM ** 0.25
              for f in sorted({f for pair in pairs for f in pair})}
    dense_columns = tuple(CRITEO_DENSE.index(c) for c in _I_EFFECT_COLUMNS)
    dense_weight = rng.choice([-1.0, 1.0], size=len(dense_columns)) * rng.uniform(
        0.5, 1.0, size=len(dense_columns))
    dense_missing = rng.standard_normal(len(dense_columns)) * 0.5

    # Calibration on a fixed sample: standardise log1p(I), scale components, then fit the bias.
    dense, missing, cats = _sample_criteo_features(random_stream(_TAG_CAL, model_seed), probs, 40_000)
    center, scale = np.empty(len(dense_columns)), np.empty(len(dense_columns))
    for k, j in enumerate(dense_columns):
        x = np.log1p(np.maximum(dense[~missing[:, j], j], 0))
        center[k], scale[k] = x.mean(), max(x.std(), 1e-6)
    parts = _logit_parts(first_order, latent, pairs, dense_columns, dense_weight, center, scale,
                         dense_missing, dense, missing, cats)
    factors = [logit_std * math.sqrt(s) / max(p.std(), 1e-9) for s, p in zip(_SHARES, parts)]
    first_order = tuple(_readonly(w * factors[0]) for w in first_order)
    latent = {f: _readonly(u * math.sqrt(factors[1])) for f, u in latent.items()}
    dense_weight = _readonly(dense_weight * factors[2])
    dense_missing = _readonly(dense_missing * factors[2])
    raw = sum(p * c for p, c in zip(parts, factors))
    lo, hi = -10.0, 10.0
    for _ in range(60):  # bisection: mean sigmoid is increasing in the bias
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if sigmoid(raw + mid).mean() < target_ctr else (lo, mid)
    return CriteoModel(
        model_seed=model_seed, vocab=tuple(vocab), probs=tuple(probs),
        drift_dir=tuple(drift_dir), first_order=first_order, latent=latent, pairs=pairs,
        dense_columns=dense_columns, dense_weight=dense_weight,
        dense_center=_readonly(center), dense_scale=_readonly(scale),
        dense_missing=dense_missing, bias=0.5 * (lo + hi), target_ctr=target_ctr,
        logit_std=logit_std)


def _model_logit(model: CriteoModel, dense, missing, cats) -> np.ndarray:
    parts = _logit_parts(model.first_order, model.latent, model.pairs, model.dense_columns,
                         model.dense_weight, model.dense_center, model.dense_scale,
                         model.dense_missing, dense, missing, cats)
    return model.bias + parts[0] + parts[1] + parts[2]


def _oracle_scores(label: np.ndarray, p: np.ndarray) -> Dict[str, float]:
    ctr = float(label.mean())
    two_classes = 0 < label.sum() < label.size
    return {
        "oracle_auc": float(roc_auc_score(label, p)) if two_classes else float("nan"),
        "oracle_logloss": float(log_loss(label, p, labels=[0, 1])),
        "constant_logloss": float(log_loss(label, np.full(label.size, min(max(ctr, 1e-6),
                                                                          1 - 1e-6)),
                                           labels=[0, 1])),
        "ctr": ctr,
        "mean_probability": float(p.mean()),
    }


def generate_criteo(rows: int, seed: int = 0, *, span: Optional[int] = None,
                    drift: float = 0.0, model_seed: Optional[int] = None,
                    target_ctr: float = _TARGET_CTR, logit_std: float = _LOGIT_STD,
                    return_probability: bool = False, shuffle_labels: bool = False,
                    vocab_sizes: Optional[Sequence[int]] = None):
    """Generate ``rows`` Criteo-style rows; returns ``(df, info)``.

    ``seed`` picks the rows and (unless ``model_seed`` is given) the planted model.  With
    ``span=k`` the rows come from a stream derived from ``(seed, k)`` while the model stays
    that of ``model_seed`` (= ``seed``), so spans are fresh data of one click model.
    ``drift`` shifts category frequencies along a fixed random direction per field: span ``k``
    uses log-frequencies ``log p + drift * k * d`` (``span=None`` counts as 0), so later spans
    drift further.  With ``return_probability`` the true click probability is added as
    column ``p`` (not part of the Criteo layout; ``write_criteo`` never writes it).
    ``shuffle_labels`` permutes the labels across rows (same CTR, no signal left: a broken
    span that a retraining gate must reject); the oracle scores then describe the shuffled
    labels.  ``vocab_sizes`` (26 ints) replaces the fields' vocabulary sizes (default 3 to 6,000
    values; benchmarks use larger ones); it is part of the planted model.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    t0 = time.perf_counter()
    model_seed = seed if model_seed is None else model_seed
    model = criteo_model(int(model_seed), float(target_ctr), float(logit_std),
                         None if vocab_sizes is None else tuple(int(k) for k in vocab_sizes))
    rng = random_stream(_TAG_ROWS, seed) if span is None else random_stream(_TAG_ROWS, seed, span)
    shift = drift * (span or 0)
    probs = model.probs
    if shift:
        probs = [p * np.exp(shift * d) for p, d in zip(model.probs, model.drift_dir)]
        probs = [p / p.sum() for p in probs]
    dense, missing, cats = _sample_criteo_features(rng, probs, rows)
    p = sigmoid(_model_logit(model, dense, missing, cats))
    label = (rng.random(rows) < p).astype(np.int64)
    if shuffle_labels:
        label = random_stream(_TAG_SHUFFLE, seed, span or 0).permutation(label)

    data = {"label": label}
    for j, name in enumerate(CRITEO_DENSE):
        data[name] = pd.arrays.IntegerArray(dense[:, j], missing[:, j].copy())
    for f, name in enumerate(CRITEO_SPARSE):
        data[name] = model.vocab[f][cats[:, f]]
    df = pd.DataFrame(data, columns=CRITEO_COLUMNS)
    if return_probability:
        df["p"] = p
    info = {"dataset": "criteo", "rows": int(rows), "seed": int(seed),
            "model_seed": int(model_seed), "span": span, "drift": float(drift),
            "shuffled_labels": bool(shuffle_labels)}
    info.update(_oracle_scores(label, p) if rows else {})
    logger.info("generated %d criteo rows (seed %d, span %s) in %.2fs: oracle AUC %.4f, CTR %.4f",
                rows, seed, span, time.perf_counter() - t0, info.get("oracle_auc", float("nan")),
                info.get("ctr", float("nan")))
    return df, info


def criteo_probability(df: pd.DataFrame, model_seed: int = 0, target_ctr: float = _TARGET_CTR,
                       logit_std: float = _LOGIT_STD) -> np.ndarray:
    """The planted click probability of each row of a Criteo frame (e.g. read back from CSV).

    Unknown tokens (not in the model's vocabulary) are treated like missing values.  Dense values
    may be ints or integer-valued floats; NaN/NA means missing.
    """
    model = criteo_model(int(model_seed), float(target_ctr), float(logit_std))
    n = len(df)
    dense_f = np.column_stack([pd.to_numeric(df[c], errors="coerce").to_numpy(
        dtype=float, na_value=np.nan) for c in CRITEO_DENSE]) if n else np.zeros((0, 13))
    missing = np.isnan(dense_f)
    dense = np.where(missing, 0, dense_f).astype(np.int64)
    cats = np.empty((n, 26), dtype=np.int32)
    for f, name in enumerate(CRITEO_SPARSE):
        k = len(model.probs[f])
        codes = pd.Categorical(df[name], categories=model.vocab[f][:k]).codes
        cats[:, f] = np.where(codes < 0, k, codes)
    return sigmoid(_model_logit(model, dense, missing, cats))


def read_criteo(path: str) -> pd.DataFrame:
    """Read a Criteo CSV (ours or DeepCTR's): I columns may be written as ``260`` or ``260.0``.

    Returns the same dtypes as ``generate_criteo``: ``Int64`` dense columns, object categoricals
    with NaN for missing cells.
    """
    df = pd.read_csv(path, dtype={c: str for c in CRITEO_SPARSE})
    for c in CRITEO_DENSE:
        x = pd.to_numeric(df[c], errors="raise").astype(float)
        ok = x.isna() | (x == np.floor(x))
        if not ok.all():
            raise ValueError(f"{path}: column {c} has non-integer values")
        df[c] = x.astype("Int64")
    df["label"] = df["label"].astype(np.int64)
    return df


def span_path(out_dir: str, span: int) -> str:
    """Where span ``span`` lives: ``out_dir/span-{span}/data.csv``."""
    return os.path.join(out_dir, f"span-{span}", "data.csv")


def write_criteo(out_dir: str, rows: int, seed: int = 0, *, file_name: str = "train.csv",
                 span: Optional[int] = None, drift: float = 0.0,
                 oracle_name: Optional[str] = None, reuse: bool = False, **kwargs) -> dict:
    """Write Criteo rows as CSV plus the oracle summary; returns the info dict.

    Without ``span``: ``out_dir/<file_name>`` and ``out_dir/oracle.json`` (or ``oracle_name``).
    With ``span=k``: ``out_dir/span-{k}/data.csv`` and ``out_dir/span-{k}.oracle.json`` -- the
    oracle file sits outside the span folder so a ``span-{SPAN}/*`` input glob only sees CSV.
    ``reuse=True`` keeps a CSV written before with the same rows, seed and options (see
    ``data.writing.write_data_set``; for a span the record sits beside its oracle file).
    Extra keyword arguments go to ``generate_criteo``.
    """
    if span is None:
        csv_path = os.path.join(out_dir, file_name)
        oracle_path = os.path.join(out_dir, oracle_name or "oracle.json")
        record_path = None
    else:
        csv_path = span_path(out_dir, span)
        oracle_path = os.path.join(out_dir, oracle_name or f"span-{span}.oracle.json")
        record_path = os.path.join(out_dir, f"span-{span}{RECORD_SUFFIX}")
    rel = os.path.relpath(csv_path, os.path.dirname(oracle_path) or ".")
    params = dict(kwargs, dataset="criteo", rows=rows, seed=seed, span=span, drift=drift)
    return write_data_set(
        lambda: generate_criteo(rows, seed, span=span, drift=drift, **kwargs), csv_path,
        oracle_path, oracle_entry=rel.replace(os.sep, "/"), params=params, reuse=reuse,
        record_path=record_path)


def write_criteo_span(out_dir: str, span: int, rows: int, seed: int = 0, drift: float = 0.0,
                      **kwargs) -> dict:
    """``write_criteo(out_dir, rows, seed, span=span, drift=drift)``: one new span of data."""
    return write_criteo(out_dir, rows, seed, span=span, drift=drift, **kwargs)


# ----------------------------------------------------------------------------------------------
# MovieLens
# ----------------------------------------------------------------------------------------------

_ML_AGES = np.array([1, 18, 25, 35, 45, 50, 56])
_ML_AGE_P = np.array([222, 1103, 2096, 1193, 550, 496, 380], dtype=float)
_ML_GENRE_P = np.array([0.09, 0.05, 0.02, 0.03, 0.16, 0.03, 0.02, 0.20, 0.01, 0.01, 0.04, 0.01,
                        0.02, 0.07, 0.04, 0.07, 0.02, 0.01])
_ML_OCC_P = np.array([711, 528, 267, 173, 759, 112, 236, 679, 17, 92, 195, 129, 388, 142, 302,
                      144, 241, 502, 70, 72, 281], dtype=float)
_ML_THRESHOLDS = np.array([1.5, 2.5, 3.5, 4.5])
_ML_NOISE = 0.8
# Spread of user/movie rating biases and of user taste vectors (vs. movie vectors ~0.4).
_ML_BIAS_STD = 0.5
_ML_TASTE_STD = 0.3
_ML_T0 = 956_703_932  # first timestamp of MovieLens-1M
_TITLE_WORDS = [
    "Amber", "Arrow", "Autumn", "Blue", "Bridge", "Broken", "Call", "City", "Clockwork", "Cold",
    "Crown", "Dark", "Dawn", "Desert", "Distant", "Dream", "Echo", "Empire", "Fall", "Fire",
    "Forest", "Ghost", "Glass", "Golden", "Harbor", "Heart", "Hidden", "Highway", "Hollow", "Iron",
    "Island", "Journey", "King", "Lake", "Last", "Light", "Lonely", "Lost", "Midnight", "Mirror",
    "Moon", "Mountain", "Night", "North", "Ocean", "Paper", "Quiet", "Rain", "Red", "Return",
    "River", "Road", "Run", "Secret", "Shadow", "Silent", "Silver", "Sky", "Small", "Song",
    "Star", "Stone", "Storm", "Street", "Summer", "Sun", "Thunder", "Time", "Tower", "Train",
    "Valley", "Voice", "Wall", "War", "Water", "West", "White", "Wild", "Wind", "Winter",
    "Wolf", "World", "Yellow", "Young",
]
_ROMAN = ["", " II", " III", " IV", " V", " VI", " VII", " VIII", " IX", " X"]


def _gumbel_top(rng: np.random.Generator, logits: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Per row of ``logits``: a boolean mask of ``ks[i]`` columns drawn without replacement."""
    keys = logits + rng.gumbel(size=logits.shape)
    rank = np.argsort(np.argsort(-keys, axis=1, kind="stable"), axis=1, kind="stable")
    return rank < ks[:, None]


def _titles(rng: np.random.Generator, n: int) -> np.ndarray:
    words = np.asarray(_TITLE_WORDS, dtype=object)
    n_words = _sample_categorical(rng, np.array([0.2, 0.45, 0.25, 0.1]), n) + 1
    picks = rng.integers(0, len(words), size=(n, 4))
    years = _sample_categorical(rng, np.linspace(0.2, 3.0, 82), n) + 1919
    seen: Dict[str, int] = {}
    out = np.empty(n, dtype=object)
    for i in range(n):  # one loop over movies (not rows)
        base = " ".join(words[picks[i, :n_words[i]]])
        if n_words[i] >= 2 and picks[i, 0] % 3 == 0:
            base = "The " + base
        count = seen.get(base, 0)
        seen[base] = count + 1
        suffix = _ROMAN[count] if count < len(_ROMAN) else f" {count + 1}"
        out[i] = f"{base}{suffix} ({years[i]})"
    return out


def _ml_sizes(rows: int, n_users: Optional[int], n_movies: Optional[int]) -> Tuple[int, int]:
    u = n_users if n_users is not None else int(min(max(40, round(rows / 50)), 20_000))
    m = n_movies if n_movies is not None else int(min(max(100, round(rows / 30)), 4_000))
    return u, m


def generate_movielens(rows: int, seed: int = 0, *, n_users: Optional[int] = None,
                       n_movies: Optional[int] = None, with_history: bool = False,
                       maxlen: int = 50, return_expected: bool = False):
    """Generate ``rows`` MovieLens-style ratings; returns ``(df, info)``.

    Users and movies scale with ``rows`` (about 50 ratings per user and 30 per movie) unless
    given.  Each (user, movie) pair appears at most once.  Rows are sorted by timestamp (ties by
    user, movie); per user the timestamps are strictly increasing.  ``info`` holds the oracle
    AUC of P(rating >= 4) for the label ``rating >= 4`` and the oracle RMSE of the expected
    rating.  ``with_history`` adds ``hist_movie_id`` (see ``movie_history``);
    ``return_expected`` adds the true ``expected_rating`` and ``p_like`` = P(rating >= 4).
    """
    if rows < 1:
        raise ValueError("rows must be >= 1")
    t0 = time.perf_counter()
    U, M = _ml_sizes(rows, n_users, n_movies)
    if rows > U * (M // 2):
        raise ValueError(f"{rows} rows need more users/movies than {U} x {M}")
    rng = random_stream(_TAG_ML_MODEL, seed)
    dim = 6

    # Movies: genres (1-3, fixed), title, popularity, bias, taste vector linked to genres.
    n_genres = _sample_categorical(rng, np.array([0.5, 0.35, 0.15]), M) + 1
    genre_mask = _gumbel_top(rng, np.tile(np.log(_ML_GENRE_P), (M, 1)), n_genres)
    genre_w = genre_mask / genre_mask.sum(axis=1, keepdims=True)
    genre_vec = rng.standard_normal((len(MOVIELENS_GENRES), dim)) * 0.35
    q = genre_w @ genre_vec + rng.standard_normal((M, dim)) * 0.3
    movie_bias = rng.standard_normal(M) * _ML_BIAS_STD
    popularity = np.log(rng.permutation((np.arange(M) + 3.0) ** -0.9))
    titles = _titles(rng, M)
    genres = np.array(["|".join(g for g, on in zip(MOVIELENS_GENRES, row) if on)
                       for row in genre_mask], dtype=object)

    # Users: demographics, bias, taste, activity.
    gender = np.where(rng.random(U) < 0.72, "M", "F").astype(object)
    age_idx = _sample_categorical(rng, _ML_AGE_P / _ML_AGE_P.sum(), U)
    occupation = _sample_categorical(rng, _ML_OCC_P / _ML_OCC_P.sum(), U)
    zips = np.char.zfill(rng.integers(0, 100_000, size=U).astype(str), 5).astype(object)
    user_bias = rng.standard_normal(U) * _ML_BIAS_STD
    p = rng.standard_normal((U, dim)) * _ML_TASTE_STD
    activity = rng.lognormal(0.0, 0.8, size=U)
    genre_bias = rng.standard_normal(len(MOVIELENS_GENRES)) * 0.25
    gender_genre = rng.standard_normal((2, len(MOVIELENS_GENRES))) * 0.25
    age_genre = rng.standard_normal((len(_ML_AGES), len(MOVIELENS_GENRES))) * 0.2

    # Ratings per user (capped at half the catalogue), then which movies (popularity + taste).
    rows_rng = random_stream(_TAG_ML_ROWS, seed)
    cap = M // 2
    counts = np.minimum(np.floor(rows * activity / activity.sum()).astype(np.int64), cap)
    while counts.sum() < rows:
        room = np.where(counts < cap, activity, 0.0)
        extra = rows_rng.multinomial(rows - counts.sum(), room / room.sum())
        counts = np.minimum(counts + extra, cap)
    users, movies = [], []
    chunk = max(1, 2_000_000 // M)
    for s in range(0, U, chunk):
        idx = np.arange(s, min(U, s + chunk))
        logits = popularity[None, :] + 1.5 * (p[idx] @ q.T)
        mask = _gumbel_top(rows_rng, logits, counts[idx])
        ui, mi = np.nonzero(mask)
        users.append(idx[ui])
        movies.append(mi)
    users, movies = np.concatenate(users), np.concatenate(movies)

    # Timestamps: random order within a user, strictly increasing from a per-user start.
    order = np.lexsort((rows_rng.random(users.size), users))
    users, movies = users[order], movies[order]
    starts = _ML_T0 + rows_rng.integers(0, 3 * 365 * 86400, size=U)
    gaps = 1 + np.floor(rows_rng.exponential(3 * 86400.0 / (1 + activity[users]))).astype(np.int64)
    first = np.r_[True, users[1:] != users[:-1]]
    cum = np.cumsum(gaps)
    group_start = np.maximum.accumulate(np.where(first, np.arange(users.size), 0))
    ts = starts[users] + cum - cum[group_start] + gaps[group_start] - 1
    order = np.lexsort((movies, users, ts))
    users, movies, ts = users[order], movies[order], ts[order]

    # Planted rating model.
    gw = genre_w[movies]
    mean = (3.65 + user_bias[users] + movie_bias[movies]
            + np.einsum("ij,ij->i", p[users], q[movies])
            + gw @ genre_bias
            + np.einsum("ij,ij->i", gw, gender_genre[(gender[users] == "F").astype(int)])
            + np.einsum("ij,ij->i", gw, age_genre[age_idx[users]]))
    latent = mean + rows_rng.standard_normal(users.size) * _ML_NOISE
    rating = 1 + (latent[:, None] > _ML_THRESHOLDS[None, :]).sum(axis=1)
    tail = ndtr((mean[:, None] - _ML_THRESHOLDS[None, :]) / _ML_NOISE)
    expected = 1 + tail.sum(axis=1)
    p_like = tail[:, 2]

    df = pd.DataFrame({
        "user_id": users + 1, "movie_id": movies + 1, "rating": rating.astype(np.int64),
        "timestamp": ts.astype(np.int64), "title": titles[movies], "genres": genres[movies],
        "gender": gender[users], "age": _ML_AGES[age_idx[users]],
        "occupation": occupation[users].astype(np.int64), "zip": zips[users],
    }, columns=MOVIELENS_COLUMNS)
    if with_history:
        df["hist_movie_id"] = movie_history(df, maxlen)
    if return_expected:
        df["expected_rating"] = expected
        df["p_like"] = p_like
    like = (rating >= 4).astype(int)
    info = {"dataset": "movielens", "rows": int(rows), "seed": int(seed), "n_users": int(U),
            "n_movies": int(M), "positive_rate": float(like.mean()),
            "mean_rating": float(rating.mean()),
            "oracle_auc": float(roc_auc_score(like, p_like)) if 0 < like.sum() < rows else
            float("nan"),
            "oracle_logloss": float(log_loss(like, p_like, labels=[0, 1])),
            "oracle_rmse": float(np.sqrt(np.mean((rating - expected) ** 2))),
            "constant_rmse": float(rating.std())}
    logger.info("generated %d movielens rows (seed %d) in %.2fs: oracle AUC %.4f, RMSE %.4f",
                rows, seed, time.perf_counter() - t0, info["oracle_auc"], info["oracle_rmse"])
    return df, info


def movie_history(df: pd.DataFrame, maxlen: int = 50, *, user_col: str = "user_id",
                  item_col: str = "movie_id", time_col: str = "timestamp") -> pd.Series:
    """For each row, the ``|``-joined items the same user had before it (most recent last).

    At most ``maxlen`` items; "before" is by ``time_col`` then row order.  Rows without history
    get an empty string.  The result is aligned with ``df.index``.
    """
    if maxlen < 1:
        raise ValueError("maxlen must be >= 1")
    n = len(df)
    users = df[user_col].to_numpy()
    order = np.lexsort((np.arange(n), df[time_col].to_numpy(), users))
    items = df[item_col].astype(str).to_numpy()[order]
    su = users[order]
    out = np.empty(n, dtype=object)
    start = 0
    for i in range(n):  # one string per row; the slice keeps it O(rows * maxlen)
        if i and su[i] != su[i - 1]:
            start = i
        out[i] = "|".join(items[max(start, i - maxlen):i])
    result = np.empty(n, dtype=object)
    result[order] = out
    return pd.Series(result, index=df.index, name="hist_movie_id")


def write_movielens(out_dir: str, rows: int, seed: int = 0, *, file_name: str = "train.csv",
                    oracle_name: str = "oracle.json", reuse: bool = False, **kwargs) -> dict:
    """Write MovieLens rows to ``out_dir/<file_name>`` and ``out_dir/<oracle_name>``; with
    ``reuse=True`` a CSV written before with the same rows, seed and options is kept."""
    return write_in_folder(generate_movielens, "movielens", out_dir, rows, seed,
                           file_name=file_name, oracle_name=oracle_name, reuse=reuse, **kwargs)


# ----------------------------------------------------------------------------------------------
# Committed samples
# ----------------------------------------------------------------------------------------------

SAMPLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples")


def write_samples(out_dir: str = SAMPLES_DIR) -> Dict[str, dict]:
    """(Re)write the small committed samples: ``criteo_2k.csv`` (2,000 rows, seed 0) and
    ``movielens_1k.csv`` (1,000 rows, seed 0), each with ``<name>.oracle.json`` next to it."""
    return {
        "criteo_2k": write_criteo(out_dir, 2000, 0, file_name="criteo_2k.csv",
                                  oracle_name="criteo_2k.oracle.json"),
        "movielens_1k": write_movielens(out_dir, 1000, 0, file_name="movielens_1k.csv",
                                        oracle_name="movielens_1k.oracle.json"),
    }
