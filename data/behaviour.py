"""Synthetic behaviour log with a planted effect that only the user's history can explain.

Columns ``user_id, item_id, cate_id, timestamp, label``: one row per impression, ordered by
time.  Every item belongs to one category; every user has three interest categories.  A user's
activity comes in sessions (events a few minutes apart, sessions hours to days apart) and in
each session the user pursues ONE of their interests (the "current interest"): it stays the
same as in the previous session with probability ``_STAY`` and otherwise moves to another of
the user's interests.  Impressions are drawn from the current interest (40%), the user's other
interests (30%) or any category (30%).  The click model is

    logit p = bias + quality[item] + user_bias[user] + 0.6 * [cate in the user's interests]
              + 2.2 * [cate == current interest]

The current interest is not a column: it changes over time, so ``user_id`` x ``cate_id``
cannot know it, but the user's recent clicks (concentrated in the current interest, more so
within the session) reveal it.  The oracle JSON reports

- ``oracle_auc``: AUC of the true p;
- ``no_history_oracle_auc``: AUC of the best score that knows the user, their interests and
  the candidate but not the history: E[p | user, candidate] with the current interest averaged
  over its posterior given the candidate's category (stationary prior, uniform over the three
  interests).  The gap between the two is what a sequence model can gain over one without
  history.

Deterministic for a seed; ids are ints from 1 (0 is the padding id downstream).
"""
from __future__ import annotations

import logging
import time
from typing import Optional

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from data.generators import random_stream, sigmoid
from data.writing import write_in_folder

logger = logging.getLogger(__name__)

__all__ = ["BEHAVIOUR_COLUMNS", "generate_behaviour", "write_behaviour", "write_sample",
           "SAMPLE_ROWS"]

BEHAVIOUR_COLUMNS = ["user_id", "item_id", "cate_id", "timestamp", "label"]
SAMPLE_ROWS = 3000

_TAG_BEHAVIOUR = 0xB5EC
_INTERESTS = 3
_STAY = 0.6                    # P(same current interest as the previous session)
_FROM_CURRENT, _FROM_OTHER = 0.4, 0.3  # impression sources (the rest: any category)
_W_INTEREST, _W_CURRENT = 0.6, 2.2
_MEAN_SESSION_EVENTS = 6
_T0 = 1_600_000_000


def _sizes(rows: int, n_users: Optional[int], n_items: Optional[int], n_cates: Optional[int]):
    users = n_users or int(min(max(20, round(rows / 50)), 50_000))
    cates = n_cates or int(min(max(8, round(rows / 2000)), 40))
    items = n_items or int(min(max(10 * cates, round(rows / 20)), 20_000))
    return users, items, cates


def generate_behaviour(rows: int, seed: int = 0, *, n_users: Optional[int] = None,
                       n_items: Optional[int] = None, n_cates: Optional[int] = None,
                       return_probability: bool = False):
    """``rows`` impressions; returns ``(df, info)``.  Sizes scale with ``rows`` unless given
    (about 50 events per user, 20 per item).  With ``return_probability`` the frame also holds
    ``p`` (true click probability), ``p_no_history`` and ``current_interest``."""
    if rows < 1:
        raise ValueError("rows must be >= 1")
    t0 = time.perf_counter()
    U, M, C = _sizes(rows, n_users, n_items, n_cates)
    if C < _INTERESTS + 1:
        raise ValueError(f"need at least {_INTERESTS + 1} categories, got {C}")
    rng = random_stream(_TAG_BEHAVIOUR, seed)

    # Items: category (every category has items), popularity within it, quality.
    item_cate = np.concatenate([np.arange(C), rng.integers(0, C, size=M - C)])
    item_pop = (rng.permutation(M) + 3.0) ** -0.8
    quality = rng.standard_normal(M) * 0.5
    cate_pop = np.bincount(item_cate, weights=item_pop, minlength=C)
    cate_pop = cate_pop / cate_pop.sum()
    by_cate = [np.flatnonzero(item_cate == c) for c in range(C)]
    in_cate_p = [item_pop[idx] / item_pop[idx].sum() for idx in by_cate]

    # Users: interests, bias, activity -> events per user.
    interests = np.stack([rng.choice(C, size=_INTERESTS, replace=False, p=cate_pop)
                          for _ in range(U)])
    user_bias = rng.standard_normal(U) * 0.4
    activity = rng.lognormal(0.0, 0.6, size=U)
    counts = np.maximum(1, np.floor(rows * activity / activity.sum())).astype(np.int64)
    while counts.sum() > rows:
        counts[np.argmax(counts)] -= 1
    counts += rng.multinomial(rows - counts.sum(), activity / activity.sum())

    users, items, stamps, current = [], [], [], []
    for u in range(U):  # one loop over users, vectorised within a user
        n = int(counts[u])
        new_session = np.r_[True, rng.random(n - 1) < 1.0 / _MEAN_SESSION_EVENTS]
        sessions = int(new_session.sum())
        state = np.empty(sessions, dtype=np.int64)
        state[0] = rng.integers(_INTERESTS)
        moves = rng.integers(1, _INTERESTS, size=sessions)
        stay = rng.random(sessions) < _STAY
        for s in range(1, sessions):
            state[s] = state[s - 1] if stay[s] else (state[s - 1] + moves[s]) % _INTERESTS
        session_of = np.cumsum(new_session) - 1
        now = interests[u][state[session_of]]
        # Gaps: 10-300 s within a session, 1 h to a few days between sessions.
        gaps = np.where(new_session, 3600 + rng.exponential(86_400.0, size=n),
                        rng.uniform(10, 300, size=n)).astype(np.int64)
        ts = _T0 + rng.integers(0, 30 * 86_400) + np.cumsum(gaps)
        source = rng.random(n)
        other = interests[u][(state[session_of] + rng.integers(1, _INTERESTS, size=n))
                             % _INTERESTS]
        anywhere = rng.choice(C, size=n, p=cate_pop)
        cate = np.where(source < _FROM_CURRENT, now,
                        np.where(source < _FROM_CURRENT + _FROM_OTHER, other, anywhere))
        item = np.array([rng.choice(by_cate[c], p=in_cate_p[c]) for c in cate], dtype=np.int64)
        users.append(np.full(n, u))
        items.append(item)
        stamps.append(ts)
        current.append(now)
    users, items = np.concatenate(users), np.concatenate(items)
    stamps, current = np.concatenate(stamps), np.concatenate(current)
    cates = item_cate[items]

    base = quality[items] + user_bias[users]
    in_interest = (interests[users] == cates[:, None]).any(axis=1)
    logit = base + _W_INTEREST * in_interest + _W_CURRENT * (cates == current)
    bias = _calibrate(logit, 0.3)
    p = sigmoid(logit + bias)
    label = (rng.random(p.size) < p).astype(np.int64)

    # Best score without history: average over the current interest's posterior given the
    # candidate's category (prior uniform over the user's interests).
    lik = np.empty((p.size, _INTERESTS))
    p_if = np.empty((p.size, _INTERESTS))
    for k in range(_INTERESTS):
        cur = interests[users, k]
        others = in_interest & (cates != cur)
        lik[:, k] = (_FROM_CURRENT * (cates == cur) + _FROM_OTHER / (_INTERESTS - 1) * others
                     + (1 - _FROM_CURRENT - _FROM_OTHER) * cate_pop[cates])
        p_if[:, k] = sigmoid(base + _W_INTEREST * in_interest + _W_CURRENT * (cates == cur)
                              + bias)
    p_no_history = (lik * p_if).sum(axis=1) / lik.sum(axis=1)

    order = np.lexsort((items, users, stamps))
    df = pd.DataFrame({"user_id": users[order] + 1, "item_id": items[order] + 1,
                       "cate_id": cates[order] + 1, "timestamp": stamps[order],
                       "label": label[order]}, columns=BEHAVIOUR_COLUMNS)
    if return_probability:
        df["p"] = p[order]
        df["p_no_history"] = p_no_history[order]
        df["current_interest"] = current[order] + 1
    two = 0 < label.sum() < label.size
    info = {"dataset": "behaviour", "rows": int(rows), "seed": int(seed), "n_users": int(U),
            "n_items": int(M), "n_cates": int(C), "ctr": float(label.mean()),
            "oracle_auc": float(roc_auc_score(label, p)) if two else float("nan"),
            "oracle_logloss": float(log_loss(label, p, labels=[0, 1])),
            "no_history_oracle_auc": float(roc_auc_score(label, p_no_history)) if two
            else float("nan")}
    logger.info("generated %d behaviour rows (seed %d) in %.2fs: oracle AUC %.4f, without "
                "history %.4f", rows, seed, time.perf_counter() - t0, info["oracle_auc"],
                info["no_history_oracle_auc"])
    return df, info


def _calibrate(logit: np.ndarray, target: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(60):  # mean sigmoid is increasing in the bias
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if sigmoid(logit + mid).mean() < target else (lo, mid)
    return 0.5 * (lo + hi)


def write_behaviour(out_dir: str, rows: int, seed: int = 0, *, file_name: str = "train.csv",
                    oracle_name: str = "oracle.json", reuse: bool = False, **kwargs) -> dict:
    """Write the log to ``out_dir/<file_name>`` and its oracle to ``out_dir/<oracle_name>``.
    With ``reuse=True`` a CSV written before with the same rows, seed and options is kept."""
    return write_in_folder(generate_behaviour, "behaviour", out_dir, rows, seed,
                           file_name=file_name, oracle_name=oracle_name, reuse=reuse, **kwargs)


def write_sample(out_dir: str) -> dict:
    """The committed sample: ``behaviour_3k.csv`` (3,000 rows, seed 0) and its oracle JSON."""
    return {"behaviour_3k": write_behaviour(out_dir, SAMPLE_ROWS, 0, file_name="behaviour_3k.csv",
                                            oracle_name="behaviour_3k.oracle.json")}
