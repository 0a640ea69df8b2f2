"""Discounted reward-to-go with episode ends as discounts, and advantages.

Conventions: time-major; a single stream is ``[T]``, a batch ``[T, N]``; an
episode's end is a discount of 0 at its last step, so nothing after it can
flow back into its returns.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from jaxpg.types import ADVANTAGES

__all__ = [
    "episode_discounts",
    "discounted_returns",
    "discounted_returns_prefix",
    "normalize",
    "mean_baseline",
    "value_advantages",
    "gae_advantages",
    "bootstrap_rewards",
    "advantages",
    "masked_mean",
]


def episode_discounts(gamma, terminated: jax.Array, truncated: jax.Array) -> jax.Array:
    """``discount_t = gamma · (1 − done_t)`` with ``done_t = terminated_t ∨ truncated_t``.

    This is the only place where the rule for episode ends lives. Monte-Carlo
    REINFORCE does not bootstrap, so a truncated episode ends its return just
    like a terminated one (a learned baseline may bootstrap on ``truncated``,
    which is why ``Trajectory`` keeps the two apart).

    Args:
      gamma: scalar discount in (0, 1] (may be traced).
      terminated: [T] or [T, N] bool.
      truncated: same shape, bool.

    Returns:
      float32 discounts of the same shape.
    """
    chex.assert_equal_shape((terminated, truncated))
    done = jnp.logical_or(terminated, truncated)
    return jnp.where(done, 0.0, jnp.asarray(gamma, jnp.float32)).astype(jnp.float32)


def discounted_returns(rewards: jax.Array, discounts: jax.Array) -> jax.Array:
    """Reward-to-go ``G_t = r_t + discount_t · G_{t+1}``, with ``G_T = 0``.

    A reverse scan over time (axis 0), the carry being the return so far.

    Args:
      rewards: [T] or [T, N] float.
      discounts: same shape; ``gamma`` within an episode and 0 at its last step
        (see ``episode_discounts``).

    Returns:
      G, same shape and dtype as ``rewards``.

    Example:
      >>> discounted_returns(jnp.array([1., 0., 2.]), jnp.array([.5, .5, 0.]))
      Array([1.5, 1. , 2. ], dtype=float32)

    References:
      Williams (1992), Simple statistical gradient-following algorithms for
      connectionist reinforcement learning.
    """
    chex.assert_equal_shape((rewards, discounts))
    chex.assert_rank(rewards, {1, 2})
    rewards = jnp.asarray(rewards)
    discounts = jnp.asarray(discounts, rewards.dtype)

    def body(g_next, rd):
        r, d = rd
        g = r + d * g_next
        return g, g

    _, g = jax.lax.scan(body, jnp.zeros_like(rewards[0]), (rewards, discounts), reverse=True)
    return g


def chunked_prefix(arrays, length, chunk: int):
    """Pads time-major arrays to whole chunks and counts the chunks a prefix uses.

    Args:
      arrays: sequence of [T, ...] arrays.
      length: int scalar (may be traced), the prefix length.
      chunk: requested chunk length (static); capped at T.

    Returns:
      ``(padded_arrays, chunk, used)``: arrays padded with zeros to a multiple of
      the (capped) chunk along axis 0, the chunk, and ``ceil(length / chunk)``.
    """
    num_steps = arrays[0].shape[0]
    chunk = int(min(chunk, num_steps))
    extra = -(-num_steps // chunk) * chunk - num_steps
    padded = [jnp.pad(x, [(0, extra)] + [(0, 0)] * (x.ndim - 1)) for x in arrays]
    used = (jnp.asarray(length, jnp.int32) + chunk - 1) // chunk
    return padded, chunk, used


def discounted_returns_prefix(
    rewards: jax.Array, discounts: jax.Array, length: jax.Array, chunk: int = 64
) -> jax.Array:
    """``discounted_returns`` over the first ``length`` steps only; 0 after them.

    Equal to ``discounted_returns`` wherever every episode has ended by step
    ``length`` (what an early-exit rollout guarantees for its ``loop_steps``),
    but costs O(length) instead of O(T): a reverse loop over the used chunks of
    ``chunk`` steps with a data-dependent trip count.

    Args:
      rewards: [T, N] or [T] float.
      discounts: same shape.
      length: int scalar (may be traced), 0 <= length <= T.
      chunk: steps per loop iteration (static).

    Returns:
      [T, ...] returns, 0 at and after ``length`` rounded up to a chunk boundary
      beyond which nothing was computed.
    """
    chex.assert_equal_shape((rewards, discounts))
    num_steps = rewards.shape[0]
    (r, d), chunk, used = chunked_prefix((rewards, jnp.asarray(discounts, rewards.dtype)), length, chunk)

    def body(j, carry):
        g_next, g_all = carry
        start = (used - 1 - j) * chunk
        rc = jax.lax.dynamic_slice_in_dim(r, start, chunk)
        dc = jax.lax.dynamic_slice_in_dim(d, start, chunk)
        g_next, gc = jax.lax.scan(
            lambda g, x: (x[0] + x[1] * g, x[0] + x[1] * g), g_next, (rc, dc), reverse=True
        )
        return g_next, jax.lax.dynamic_update_slice_in_dim(g_all, gc, start, axis=0)

    _, g = jax.lax.fori_loop(0, used, body, (jnp.zeros_like(r[0]), jnp.zeros_like(r)))
    return g[:num_steps]


def masked_mean(x: jax.Array, mask: jax.Array, axis=None) -> jax.Array:
    """Mean of ``x`` over the entries where ``mask`` is true (0 where there are none)."""
    mask = mask.astype(x.dtype)
    return (x * mask).sum(axis) / jnp.maximum(mask.sum(axis), 1.0)


def normalize(returns: jax.Array, valid: jax.Array, eps: float = 1e-8) -> jax.Array:
    """``(G − mean) / (std + eps)`` over the valid steps of the whole batch; 0 elsewhere.

    Args:
      returns: [T, N] (or [T]) float.
      valid: same shape, bool.
      eps: added to the (population) standard deviation.

    Returns:
      Advantages of the same shape, 0 on invalid steps.
    """
    chex.assert_equal_shape((returns, valid))
    # Shift by one valid value first: equal returns then cancel exactly, instead of
    # float32 rounding in the mean becoming unit-variance noise after the division.
    shift = jnp.ravel(returns)[jnp.argmax(jnp.ravel(valid))]
    shifted = returns - shift
    centered = shifted - masked_mean(shifted, valid)
    var = masked_mean(jnp.square(centered), valid)
    return jnp.where(valid, centered / (jnp.sqrt(var) + eps), 0.0)


def mean_baseline(returns: jax.Array, valid: jax.Array) -> jax.Array:
    """``G_t − b_t``, ``b_t`` = mean of ``G_t`` over the episodes still running at t; 0 elsewhere.

    Args:
      returns: [T, N] float.
      valid: [T, N] bool.

    Returns:
      [T, N] advantages, 0 on invalid steps.
    """
    chex.assert_rank(returns, 2)
    chex.assert_equal_shape((returns, valid))
    baseline = masked_mean(returns, valid, axis=1)[:, None]
    return jnp.where(valid, returns - baseline, 0.0)


def bootstrap_rewards(rewards: jax.Array, truncated: jax.Array, final_values: jax.Array, gamma) -> jax.Array:
    """Rewards with ``gamma · V(s_{k+1})`` added at each truncation step ``k``.

    A truncated episode did not end in the MDP: its true return continues past
    the cut. Adding ``gamma · V(s_{k+1})`` (the value of the observation that
    followed the cut) to the last reward and then running the ordinary
    reward-to-go (with the episode's discount 0 at ``k``, as always) gives
    ``G_t = Σ_{j=t}^{k} γ^{j−t} r_j + γ^{k+1−t} V(s_{k+1})``. Terminated
    episodes are unchanged (their future is worth 0).

    Args:
      rewards: [T, N] float.
      truncated: [T, N] bool.
      final_values: [N] float, ``V`` of each episode's observation after its last step.
      gamma: scalar discount (may be traced).

    Returns:
      [T, N] rewards to feed to ``discounted_returns``.

    Example (3 steps, γ = 0.5, rewards 1, truncated at the last step, V = 4):
      G_2 = 1 + 0.5·4 = 3, G_1 = 1 + 0.5·3 = 2.5, G_0 = 1 + 0.5·2.5 = 2.25
      (terminated instead: 1, 1.5, 1.75).
    """
    chex.assert_rank(rewards, 2)
    chex.assert_equal_shape((rewards, truncated))
    chex.assert_shape(final_values, rewards.shape[1:])
    boot = jnp.asarray(gamma, rewards.dtype) * final_values.astype(rewards.dtype)
    return rewards + jnp.where(truncated, boot[None, :], 0.0)


def value_advantages(returns: jax.Array, values: jax.Array, valid: jax.Array) -> jax.Array:
    """``A_t = G_t − V(s_t)``, then standardised over the batch's valid steps; 0 elsewhere.

    Subtracting a state-value baseline removes the part of ``G_t`` the state
    already predicts (REINFORCE with baseline, Williams 1992 / Sutton & Barto
    §13.4); the standardisation (as ``normalize``) keeps the step size
    independent of the return scale.

    Args:
      returns: [T, N] float.
      values: [T, N] float, ``V(s_t)`` (treated as a constant).
      valid: [T, N] bool.
    """
    chex.assert_equal_shape((returns, values, valid))
    return normalize(returns - jax.lax.stop_gradient(values), valid)


def gae_advantages(
    rewards: jax.Array,
    values: jax.Array,
    discounts: jax.Array,
    lam,
    length: jax.Array | None = None,
    chunk: int = 512,
) -> jax.Array:
    """Generalised advantage estimates ``A_t = δ_t + discount_t · λ · A_{t+1}`` (Schulman et al. 2016).

    ``δ_t = r_t + discount_t · V(s_{t+1}) − V(s_t)``. At an episode's last step
    ``discount_t = 0``, so nothing after it flows back (a truncated episode's
    ``γ·V(s_{k+1})`` is added to its last reward beforehand, see
    ``bootstrap_rewards``). ``λ = 1`` gives ``G_t − V(s_t)`` exactly (the
    Monte-Carlo REINFORCE-with-baseline advantage): the ``V`` terms telescope.
    ``λ < 1`` trades that unbiasedness for variance: a step is credited mostly
    with what happened within about ``1/(1 − γλ)`` steps of it, the rest being
    predicted by ``V``. ``A_t + V(s_t)`` is the λ-return, the value target.

    Args:
      rewards: [T, N] float (bootstrapped at truncations if wanted).
      values: [T, N] float, ``V(s_t)`` (treated as a constant).
      discounts: [T, N] float, ``gamma`` within an episode, 0 at its last step.
      lam: scalar λ in [0, 1] (may be traced).
      length: int scalar (may be traced): work on the first ``length`` steps
        only (every episode must have ended by then); ``None``: all T.
      chunk: steps per loop iteration when ``length`` is given (static).

    Returns:
      [T, N] advantages (not standardised).

    Example (one episode of 3 steps, γ = 0.5, λ = 0.5, r = 1, V = 2, then end):
      δ = (1 + 0.5·2 − 2, 1 + 0.5·2 − 2, 1 + 0 − 2) = (0, 0, −1);
      A_2 = −1, A_1 = 0 + 0.25·(−1) = −0.25, A_0 = 0 + 0.25·(−0.25) = −0.0625.
    """
    chex.assert_rank(rewards, 2)
    chex.assert_equal_shape((rewards, values, discounts))
    values = jax.lax.stop_gradient(values).astype(rewards.dtype)
    discounts = jnp.asarray(discounts, rewards.dtype)
    next_values = jnp.concatenate([values[1:], jnp.zeros_like(values[:1])], axis=0)
    deltas = rewards + discounts * next_values - values
    traces = discounts * jnp.asarray(lam, rewards.dtype)
    if length is None:
        return discounted_returns(deltas, traces)
    return discounted_returns_prefix(deltas, traces, length, chunk)


def advantages(returns: jax.Array, valid: jax.Array, mode: str, values: jax.Array | None = None) -> jax.Array:
    """Applies the variance reduction named by ``mode`` (static).

    Args:
      returns: [T, N] float reward-to-go.
      valid: [T, N] bool.
      mode: ``"none"`` (G itself, masked), ``"normalize"``, ``"mean"`` or
        ``"value"`` (``value_advantages``; needs ``values``).
      values: [T, N] float baseline ``V(s_t)``, for ``"value"``.

    Returns:
      [T, N] advantages, 0 on invalid steps.
    """
    if mode == "value":
        if values is None:
            raise ValueError('advantage "value" needs the baseline values')
        return value_advantages(returns, values, valid)
    if mode == "none":
        chex.assert_equal_shape((returns, valid))
        return jnp.where(valid, returns, 0.0)
    if mode == "normalize":
        return normalize(returns, valid)
    if mode == "mean":
        return mean_baseline(returns, valid)
    raise ValueError(f"advantage must be one of {', '.join(ADVANTAGES)}; got {mode!r}")
