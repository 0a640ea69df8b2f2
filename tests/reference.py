"""Plain-numpy loop versions of jaxpg's building blocks, to compare against."""

from __future__ import annotations

import numpy as np


def discounted_returns(rewards, discounts):
    """G_t = r_t + d_t * G_{t+1}, one explicit loop per stream. rewards: [T] or [T, N]."""
    r = np.asarray(rewards, np.float64)
    d = np.asarray(discounts, np.float64)
    g = np.zeros_like(r)
    nxt = np.zeros_like(r[0])
    for t in reversed(range(r.shape[0])):
        nxt = r[t] + d[t] * nxt
        g[t] = nxt
    return g


def episode_discounts(gamma, terminated, truncated):
    done = np.logical_or(terminated, truncated)
    return np.where(done, 0.0, gamma)


def normalize(returns, valid, eps=1e-8):
    g = np.asarray(returns, np.float64)
    v = np.asarray(valid, bool)
    vals = g[v]
    if vals.size == 0:
        return np.zeros_like(g)
    mean, std = vals.mean(), vals.std()
    out = np.zeros_like(g)
    out[v] = (g[v] - mean) / (std + eps)
    return out


def mean_baseline(returns, valid):
    g = np.asarray(returns, np.float64)
    v = np.asarray(valid, bool)
    out = np.zeros_like(g)
    for t in range(g.shape[0]):
        running = [n for n in range(g.shape[1]) if v[t, n]]
        if running:
            b = np.mean([g[t, n] for n in running])
            for n in running:
                out[t, n] = g[t, n] - b
    return out


def log_softmax(logits):
    z = np.asarray(logits, np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def pg_loss(log_probs, advantages, valid):
    lp = np.asarray(log_probs, np.float64)
    a = np.asarray(advantages, np.float64)
    v = np.asarray(valid, bool)
    total, count = 0.0, 0
    for idx in zip(*np.nonzero(v), strict=True):
        total += lp[idx] * a[idx]
        count += 1
    return -total / max(count, 1)


def gae_advantages(rewards, values, discounts, lam):
    """A_t = δ_t + d_t·λ·A_{t+1}, δ_t = r_t + d_t·V_{t+1} − V_t, one explicit loop. [T, N]."""
    r = np.asarray(rewards, np.float64)
    v = np.asarray(values, np.float64)
    d = np.asarray(discounts, np.float64)
    a = np.zeros_like(r)
    nxt_a = np.zeros_like(r[0])
    for t in reversed(range(r.shape[0])):
        nxt_v = v[t + 1] if t + 1 < r.shape[0] else np.zeros_like(r[0])
        delta = r[t] + d[t] * nxt_v - v[t]
        nxt_a = delta + d[t] * lam * nxt_a
        a[t] = nxt_a
    return a
