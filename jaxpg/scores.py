"""What a "score" is, wherever jaxpg ranks or compares runs: one metric, chosen and named.

- ``eval``: a seed's evaluation returns after training, mean − std (``jaxpg.evaluate.summarize``);
  the default of ``sweep`` and ``compare``, and the ``score`` column of ``train``.
- ``final``: the mean training return over the last tenth of the updates.
- ``auc``: the mean training return over every update (rewards learning fast).
- ``steps-to:T``: the valid env steps until the mean training return over 10 updates first
  reaches ``T``; the score is minus that count, so higher is better everywhere. A run that never
  reaches ``T`` scores −inf in a ranking; where scores are averaged or bootstrapped
  (``compare``) it counts as the most steps any compared seed ran (``censor``: below every seed
  that reached T; a lower bound on its own count), and the count of such seeds is shown.

The training metrics read the per-update curves (``metrics.csv``), so they need no evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["METRICS", "TRAINING_METRICS", "check_metric", "metric_threshold", "describe", "score", "seed_scores",
           "censor"]

METRICS = ("eval", "final", "auc", "steps-to:T")
TRAINING_METRICS = ("final", "auc", "steps-to:T")


def metric_threshold(metric: str) -> float | None:
    """``T`` of ``steps-to:T``; None for the other metrics. Raises ValueError for an unknown metric."""
    if metric in ("eval", "final", "auc"):
        return None
    if isinstance(metric, str) and metric.startswith("steps-to:"):
        try:
            t = float(metric.split(":", 1)[1])
        except ValueError:
            t = math.nan
        if math.isfinite(t):
            return t
    raise ValueError(f"`metric` must be {', '.join(METRICS)} (T a number), got {metric!r}")


def check_metric(metric: str, training_only: bool = False) -> str:
    """``metric``, checked (``training_only``: ``eval`` refused, as in a search, which does not evaluate)."""
    metric_threshold(metric)
    if training_only and metric == "eval":
        raise ValueError(f"`metric` must be {', '.join(TRAINING_METRICS)} (T a number) here: a search ranks "
                         "by its training returns, got 'eval'")
    return metric


def describe(metric: str) -> str:
    """The metric in words, for every place that prints a score."""
    t = metric_threshold(metric)
    if t is not None:
        return f"minus the valid env steps until the 10-update mean training return reached {t:g}"
    return {"eval": "mean - std of the evaluation returns",
            "final": "mean training return over the last tenth of the updates",
            "auc": "mean training return over every update"}[metric]


def score(returns: Sequence[float], env_steps: Sequence[float], metric: str) -> float:
    """One curve's score by a training ``metric`` (higher is better: ``steps-to`` is negated; never: -inf).

    ``returns``: training return per update (a seed's, or the mean over seeds); ``env_steps``: the
    cumulative valid env steps at each update (only ``steps-to`` uses them).
    """
    r = np.asarray(returns, np.float64)
    if r.size == 0 or not np.isfinite(r).any():
        return -math.inf
    if metric == "final":
        return float(np.nanmean(r[-max(1, r.size // 10):]))
    if metric == "auc":
        return float(np.nanmean(r))
    threshold = metric_threshold(metric)
    if threshold is None:
        raise ValueError(f"`metric` {metric!r} is not a training metric ({', '.join(TRAINING_METRICS)})")
    window = np.convolve(np.nan_to_num(r, nan=-np.inf), np.ones(10) / 10, mode="full")[: r.size]
    hit = np.nonzero(window >= threshold)[0]
    return -float(np.asarray(env_steps, np.float64)[hit[0]]) if hit.size else -math.inf


def seed_scores(returns, env_steps, metric: str) -> tuple[np.ndarray, int]:
    """Per-seed scores of [S, U] training ``returns`` and cumulative ``env_steps``, and how many
    seeds never reached a ``steps-to`` threshold (they score -inf; see ``censor``)."""
    r, s = np.asarray(returns, np.float64), np.asarray(env_steps, np.float64)
    if r.ndim != 2 or r.shape != s.shape:
        raise ValueError(f"returns and env_steps must both be [seeds, updates], got {r.shape} and {s.shape}")
    out = np.array([score(r[i], s[i], metric) for i in range(r.shape[0])])
    never = (out == -np.inf) if metric_threshold(metric) is not None else np.zeros(out.shape, bool)
    return out, int(never.sum())


def censor(columns: Sequence[np.ndarray], ran: Sequence[np.ndarray]) -> float:
    """Replaces, in place, the -inf ``steps-to`` scores of ``columns`` by minus the most env steps
    any compared seed ran (``ran``): never reaching T then ranks below every seed that reached it,
    and averages stay finite (a lower bound on the steps it would take). Returns that count."""
    cap = max((float(np.max(r)) for r in ran if r is not None and np.size(r)), default=0.0)
    for c in columns:
        c[c == -np.inf] = -cap
    return cap
