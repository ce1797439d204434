"""Synthetic multi-task log: clicks and purchases with a planted, known ground truth.

Each row is one impression.  ``click`` is Bernoulli(p_click); a purchase can only follow a click,
so ``purchase`` is ``click`` AND Bernoulli(p_cvr), i.e. P(purchase) = p_click * p_cvr (the
"CTCVR" of ESMM).  The two tasks are correlated and each has its own drivers:

    logit p_click = b_c + w_segment[s] + w_category[c] + w_device[d] + w_position[k]
                    + w_hour[h] + <u_segment[s], v_category[c]> + a * z(log1p activity)
    logit p_cvr   = b_v + w'_segment[s] + w'_category[c] + w_brand[b] + w_region[r]
                    + beta * z(log price) + gamma * z(age)

where ``w'_segment`` and ``w'_category`` are correlated with the click weights (rho = 0.6), and
brand, region, price and age drive purchases only (device, position, hour and activity drive
clicks only).  Component scales are calibrated on a fixed sample (seed-independent targets:
CTR ~ 0.30, CVR ~ 0.30, logit standard deviation ~ 1.5), so the oracle AUCs are near 0.8.

Columns: ``click, purchase, age, activity, price, segment, category, brand, device, hour,
region, position``; ``region`` is missing (empty cell) in ~3% of rows, a value of its own.
The oracle summary (``oracle.json``) has per task the planted probability's AUC, log loss and
positive rate (``tasks.click``, ``tasks.purchase`` scored with p_click * p_cvr), and the CVR
oracle AUC among clicked rows.  Deterministic for a seed; ``span=k`` draws fresh rows of the
same planted model (that of ``model_seed``, default ``seed``), like ``data.generators``.
"""
from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from typing import Dict, Optional

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from data.writing import write_in_folder

__all__ = ["MULTITASK_COLUMNS", "MULTITASK_LABELS", "MultitaskModel", "multitask_model",
           "generate_multitask", "multitask_probability", "write_multitask"]

MULTITASK_LABELS = ["click", "purchase"]
MULTITASK_COLUMNS = MULTITASK_LABELS + ["age", "activity", "price", "segment", "category",
                                        "brand", "device", "hour", "region", "position"]

_TAG_MODEL, _TAG_CAL, _TAG_ROWS = 0x3A7C, 0x3A7D, 0x3A7E
_SIZES = {"segment": 8, "category": 20, "brand": 150, "device": 4, "hour": 24, "region": 25,
          "position": 5}
_DEVICES = np.array(["ios", "android", "web", "tablet"], dtype=object)
_REGION_MISSING = 0.03
_RHO = 0.6  # correlation of the shared (segment, category) effects between the two tasks
_TARGET_CTR, _TARGET_CVR, _LOGIT_STD = 0.30, 0.30, 1.5


@dataclasses.dataclass(frozen=True)
class MultitaskModel:
    """The planted click and conversion models (arrays indexed by category code)."""
    model_seed: int
    probs: Dict[str, np.ndarray]       # per categorical field: value frequencies
    click_weights: Dict[str, np.ndarray]
    cvr_weights: Dict[str, np.ndarray]
    segment_latent: np.ndarray         # (segments, 3)
    category_latent: np.ndarray        # (categories, 3)
    activity_weight: float
    price_weight: float
    age_weight: float
    click_bias: float
    cvr_bias: float


def _rng(*keys):
    return np.random.default_rng([int(k) for k in keys])


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _zipf(k, a):
    p = (np.arange(k) + 2.0) ** -a
    return p / p.sum()


def _features(rng, probs, n):
    """(codes per categorical field, age, activity, price) for n rows; region code
    _SIZES['region'] means missing."""
    codes = {f: np.minimum(np.searchsorted(np.cumsum(p), rng.random(n) * p.sum(),
                                           side="right"), p.size - 1)
             for f, p in probs.items()}
    codes["region"] = np.where(rng.random(n) < _REGION_MISSING, _SIZES["region"],
                               codes["region"])
    age = np.clip(np.round(rng.normal(40, 12, n)), 18, 75).astype(np.int64)
    activity = np.floor(np.exp(rng.normal(1.5, 1.0, n))).astype(np.int64)
    price = np.round(np.exp(rng.normal(3.5, 0.8, n)), 2)
    return codes, age, activity, price


def _standard(x, mean, std):
    return (x - mean) / std


# Standardisation constants of the planted dense effects (from the sampling distributions).
_ACTIVITY_Z, _PRICE_Z, _AGE_Z = (1.75, 1.0), (3.5, 0.8), (40.0, 12.0)


def _logits(model, codes, age, activity, price, click_bias=0.0, cvr_bias=0.0):
    click = click_bias + sum(model.click_weights[f][codes[f]] for f in model.click_weights)
    click = click + np.einsum("ij,ij->i", model.segment_latent[codes["segment"]],
                              model.category_latent[codes["category"]])
    click = click + model.activity_weight * _standard(np.log1p(activity), *_ACTIVITY_Z)
    cvr = cvr_bias + sum(model.cvr_weights[f][codes[f]] for f in model.cvr_weights)
    cvr = cvr + model.price_weight * _standard(np.log(price), *_PRICE_Z)
    cvr = cvr + model.age_weight * _standard(age, *_AGE_Z)
    return click, cvr


def _fit_bias(logit, target):
    lo, hi = -12.0, 12.0
    for _ in range(60):  # mean sigmoid increases with the bias
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _sigmoid(logit + mid).mean() < target else (lo, mid)
    return 0.5 * (lo + hi)


@lru_cache(maxsize=8)
def multitask_model(model_seed: int = 0) -> MultitaskModel:
    """The planted model for ``model_seed``, calibrated on a fixed 40k-row sample."""
    rng = _rng(_TAG_MODEL, model_seed)
    probs = {f: _zipf(k, 1.1 if k > 10 else 0.5) for f, k in _SIZES.items()}
    click_w = {f: rng.standard_normal(_SIZES[f]) for f in ("segment", "category", "device",
                                                           "hour", "position")}
    click_w["position"] = -0.4 * np.arange(_SIZES["position"])  # lower slots get fewer clicks
    cvr_w = {f: _RHO * click_w[f] + math.sqrt(1 - _RHO ** 2) * rng.standard_normal(_SIZES[f])
             for f in ("segment", "category")}
    cvr_w["brand"] = rng.standard_normal(_SIZES["brand"])
    cvr_w["region"] = np.append(rng.standard_normal(_SIZES["region"]), 0.0)  # last: missing
    segment_latent = rng.standard_normal((_SIZES["segment"], 3)) / math.sqrt(3)
    category_latent = rng.standard_normal((_SIZES["category"], 3))
    model = MultitaskModel(model_seed, probs, click_w, cvr_w, segment_latent, category_latent,
                           activity_weight=0.8, price_weight=-0.9, age_weight=0.5,
                           click_bias=0.0, cvr_bias=0.0)
    codes, age, activity, price = _features(_rng(_TAG_CAL, model_seed), probs, 40_000)
    click, cvr = _logits(model, codes, age, activity, price)
    click_scale, cvr_scale = _LOGIT_STD / click.std(), _LOGIT_STD / cvr.std()
    model = MultitaskModel(
        model_seed, probs, {f: w * click_scale for f, w in click_w.items()},
        {f: w * cvr_scale for f, w in cvr_w.items()}, segment_latent * math.sqrt(click_scale),
        category_latent * math.sqrt(click_scale), activity_weight=0.8 * click_scale,
        price_weight=-0.9 * cvr_scale, age_weight=0.5 * cvr_scale, click_bias=0.0, cvr_bias=0.0)
    click, cvr = _logits(model, codes, age, activity, price)
    return dataclasses.replace(model, click_bias=_fit_bias(click, _TARGET_CTR),
                               cvr_bias=_fit_bias(cvr, _TARGET_CVR))


def _task_scores(label, p):
    both = 0 < label.sum() < label.size
    return {"oracle_auc": float(roc_auc_score(label, p)) if both else float("nan"),
            "oracle_logloss": float(log_loss(label, p, labels=[0, 1])),
            "positive_rate": float(label.mean()), "mean_probability": float(p.mean())}


def generate_multitask(rows: int, seed: int = 0, *, span: Optional[int] = None,
                       model_seed: Optional[int] = None, return_probability: bool = False):
    """``rows`` impressions as a data frame (columns MULTITASK_COLUMNS) and the oracle info.

    With ``return_probability`` the planted ``p_click`` and ``p_cvr`` are added as columns."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    model_seed = seed if model_seed is None else model_seed
    model = multitask_model(int(model_seed))
    rng = _rng(_TAG_ROWS, seed) if span is None else _rng(_TAG_ROWS, seed, span)
    codes, age, activity, price = _features(rng, model.probs, rows)
    click_logit, cvr_logit = _logits(model, codes, age, activity, price, model.click_bias,
                                     model.cvr_bias)
    p_click, p_cvr = _sigmoid(click_logit), _sigmoid(cvr_logit)
    click = (rng.random(rows) < p_click).astype(np.int64)
    purchase = click * (rng.random(rows) < p_cvr).astype(np.int64)  # no purchase without click
    region = np.array([f"r{i:02d}" for i in range(_SIZES["region"])] + [np.nan], dtype=object)
    df = pd.DataFrame({
        "click": click, "purchase": purchase, "age": age, "activity": activity, "price": price,
        "segment": np.array([f"s{i}" for i in range(_SIZES["segment"])],
                            dtype=object)[codes["segment"]],
        "category": np.array([f"cat{i:02d}" for i in range(_SIZES["category"])],
                             dtype=object)[codes["category"]],
        "brand": np.array([f"b{i:03d}" for i in range(_SIZES["brand"])],
                          dtype=object)[codes["brand"]],
        "device": _DEVICES[codes["device"]],
        "hour": codes["hour"].astype(np.int64),
        "region": region[codes["region"]],
        "position": codes["position"].astype(np.int64) + 1,
    }, columns=MULTITASK_COLUMNS)
    if return_probability:
        df["p_click"], df["p_cvr"] = p_click, p_cvr
    info = {"dataset": "multitask", "rows": int(rows), "seed": int(seed),
            "model_seed": int(model_seed), "span": span}
    if rows:
        info["tasks"] = {"click": _task_scores(click, p_click),
                         "purchase": _task_scores(purchase, p_click * p_cvr)}
        clicked = click == 1
        info["cvr_oracle_auc_on_clicks"] = (_task_scores(purchase[clicked], p_cvr[clicked])
                                            ["oracle_auc"] if clicked.any() else float("nan"))
    return df, info


def multitask_probability(df: pd.DataFrame, model_seed: int = 0):
    """(p_click, p_cvr) of the planted model for the rows of a frame read back from CSV or
    tf.Examples (e.g. an eval split), so that its oracle AUCs can be computed on exactly those
    rows. A missing or unknown region is treated as missing."""
    model = multitask_model(int(model_seed))
    names = {"segment": [f"s{i}" for i in range(_SIZES["segment"])],
             "category": [f"cat{i:02d}" for i in range(_SIZES["category"])],
             "brand": [f"b{i:03d}" for i in range(_SIZES["brand"])],
             "device": list(_DEVICES), "region": [f"r{i:02d}" for i in range(_SIZES["region"])]}
    codes = {f: pd.Categorical(df[f], categories=values).codes.astype(np.int64)
             for f, values in names.items()}
    codes["region"] = np.where(codes["region"] < 0, _SIZES["region"], codes["region"])
    codes["hour"] = df["hour"].to_numpy(np.int64)
    codes["position"] = df["position"].to_numpy(np.int64) - 1
    click, cvr = _logits(model, codes, df["age"].to_numpy(float), df["activity"].to_numpy(float),
                         df["price"].to_numpy(float), model.click_bias, model.cvr_bias)
    return _sigmoid(click), _sigmoid(cvr)


def write_multitask(out_dir: str, rows: int, seed: int = 0, *, file_name: str = "train.csv",
                    oracle_name: str = "oracle.json", reuse: bool = False, **kwargs) -> dict:
    """Writes ``out_dir/<file_name>`` and ``out_dir/<oracle_name>``; returns the info dict.
    With ``reuse=True`` a CSV written before with the same rows, seed and options is kept."""
    return write_in_folder(generate_multitask, "multitask", out_dir, rows, seed,
                           file_name=file_name, oracle_name=oracle_name, reuse=reuse, **kwargs)
