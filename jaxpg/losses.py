"""The REINFORCE loss (a negative surrogate, minimised) and the entropy term.

Masked means divide by the number of valid steps.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from jaxpg import policies
from jaxpg.returns import chunked_prefix, masked_mean

__all__ = [
    "policy_gradient_loss",
    "entropy_loss",
    "reinforce_loss",
    "reinforce_value_and_grad",
    "value_loss_and_grad",
    "predict_prefix",
]


def policy_gradient_loss(log_probs: jax.Array, advantages: jax.Array, valid: jax.Array) -> jax.Array:
    """``−(1/#valid) Σ_valid log π(a_t|s_t) · A_t``, with the gradient of A stopped.

    Its gradient is the REINFORCE estimate of −∇J(θ).

    Args:
      log_probs: [T, N] (or [T]) float, log π_θ of the taken actions.
      advantages: same shape, the weights A_t (treated as constants).
      valid: same shape, bool mask.

    Returns:
      Scalar loss.
    """
    chex.assert_equal_shape((log_probs, advantages, valid))
    return -masked_mean(log_probs * jax.lax.stop_gradient(advantages), valid)


def entropy_loss(entropies: jax.Array, valid: jax.Array) -> jax.Array:
    """``−(1/#valid) Σ_valid H(π(·|s_t))``: minimising it raises the entropy."""
    chex.assert_equal_shape((entropies, valid))
    return -masked_mean(entropies, valid)


def reinforce_loss(params, apply_fn, obs, actions, advantages, valid, entropy_coef,
                   dist=policies.CATEGORICAL):
    """The full loss of one update, for ``jax.value_and_grad(..., has_aux=True)``.

    ``loss = policy_gradient_loss + entropy_coef · entropy_loss``.

    Args:
      params: policy parameters.
      apply_fn: ``apply(params, obs) -> out`` (logits, or a Gaussian's mean/log-std).
      obs: [T, N, *obs_shape].
      actions: [T, N] int, or [T, N, D] float for a Gaussian head.
      advantages: [T, N] float.
      valid: [T, N] bool.
      entropy_coef: scalar >= 0 (may be traced).
      dist: the policy's head (``policy.dist``; categorical by default).

    Returns:
      ``(loss, (pg_loss, mean_entropy))``.
    """
    chex.assert_equal_shape((advantages, valid))
    chex.assert_equal_shape_prefix((actions, valid), valid.ndim)
    out = apply_fn(params, obs)
    logp = dist.log_prob(out, actions)
    ent = dist.entropy(out)
    pg = policy_gradient_loss(logp, advantages, valid)
    ent_loss = entropy_loss(ent, valid)
    return pg + entropy_coef * ent_loss, (pg, -ent_loss)


def reinforce_value_and_grad(params, apply_fn, obs, actions, advantages, valid, entropy_coef,
                             length, chunk: int = 64, dist=policies.CATEGORICAL):
    """``value_and_grad`` of ``reinforce_loss`` computed over the first ``length`` steps only.

    The loss is a sum over steps divided by the number of valid steps, so its
    gradient is the sum of per-chunk gradients of the chunk sums. This runs a
    loop over the ``ceil(length / chunk)`` used chunks (a data-dependent trip
    count), so a batch of 20-step episodes in a 10,000-step buffer costs one
    chunk of policy evaluations, not 10,000 rows. Steps at and after
    ``length`` must be invalid.

    Args:
      params, apply_fn, obs, actions, advantages, valid, entropy_coef: as in
        ``reinforce_loss`` (time-major, [T, N, ...]).
      length: int scalar (may be traced): steps that may be valid.
      chunk: steps per loop iteration (static).
      dist: the policy's head (``policy.dist``; categorical by default).

    Returns:
      ``((loss, (pg_loss, mean_entropy)), grads)``, equal to
      ``jax.value_and_grad(reinforce_loss, has_aux=True)(...)`` up to float
      summation order.
    """
    chex.assert_equal_shape((advantages, valid))
    chex.assert_equal_shape_prefix((actions, valid), valid.ndim)
    (obs, actions, advantages, valid), chunk, used = chunked_prefix(
        (obs, actions, advantages, valid), length, chunk
    )
    count = jnp.maximum(valid.sum(), 1).astype(jnp.float32)

    def chunk_sums(p, o, a, adv, v):
        out = apply_fn(p, o)
        vf = v.astype(out.dtype)
        pg = -jnp.sum(dist.log_prob(out, a) * jax.lax.stop_gradient(adv) * vf)
        ent = jnp.sum(dist.entropy(out) * vf)
        return pg - entropy_coef * ent, (pg, ent)

    grad_fn = jax.value_and_grad(chunk_sums, has_aux=True)

    def body(i, acc):
        sl = [jax.lax.dynamic_slice_in_dim(x, i * chunk, chunk) for x in (obs, actions, advantages, valid)]
        out = grad_fn(params, *sl)
        return jax.tree.map(jnp.add, acc, out)

    shapes = jax.eval_shape(grad_fn, params, *[x[:chunk] for x in (obs, actions, advantages, valid)])
    zeros = jax.tree.map(lambda z: jnp.zeros(z.shape, z.dtype), shapes)
    (total, (pg, ent)), grads = jax.lax.fori_loop(0, used, body, zeros)
    grads = jax.tree.map(lambda g: g / count, grads)
    return (total / count, (pg / count, ent / count)), grads


def predict_prefix(apply_fn, params, obs, length, chunk: int = 64) -> jax.Array:
    """``apply_fn(params, obs)`` over the first ``length`` steps only (chunked); 0 after.

    Args:
      apply_fn: ``apply(params, obs[C, N, ...]) -> [C, N]`` (e.g. a value network).
      params: its parameters.
      obs: [T, N, *obs_shape].
      length: int scalar (may be traced).
      chunk: steps per loop iteration (static).

    Returns:
      [T, N] predictions, 0 beyond the chunks that cover ``length``.
    """
    num_steps = obs.shape[0]
    (obs_p,), chunk, used = chunked_prefix((obs,), length, chunk)
    out_shape = jax.eval_shape(apply_fn, params, obs_p[:chunk])

    def body(i, acc):
        o = jax.lax.dynamic_slice_in_dim(obs_p, i * chunk, chunk)
        return jax.lax.dynamic_update_slice_in_dim(acc, apply_fn(params, o), i * chunk, axis=0)

    acc = jnp.zeros((obs_p.shape[0], *out_shape.shape[1:]), out_shape.dtype)
    return jax.lax.fori_loop(0, used, body, acc)[:num_steps]


def value_loss_and_grad(params, apply_fn, obs, targets, valid, length, chunk: int = 64):
    """Mean squared error ``(1/#valid) Σ_valid (V(s_t) − y_t)²`` and its gradient.

    Computed over the first ``length`` steps only, chunk by chunk (as
    ``reinforce_value_and_grad``).

    Args:
      params: value-network parameters (the gradient is taken w.r.t. them).
      apply_fn: ``apply(params, obs) -> [*batch]``.
      obs: [T, N, *obs_shape].
      targets: [T, N] float regression targets (constants).
      valid: [T, N] bool.
      length: int scalar (may be traced).
      chunk: static.

    Returns:
      ``(loss, grads)``.
    """
    chex.assert_equal_shape((targets, valid))
    (obs, targets, valid), chunk, used = chunked_prefix((obs, targets, valid), length, chunk)
    count = jnp.maximum(valid.sum(), 1).astype(jnp.float32)

    def chunk_sum(p, o, y, v):
        err = apply_fn(p, o) - jax.lax.stop_gradient(y)
        return jnp.sum(jnp.where(v, jnp.square(err), 0.0))

    grad_fn = jax.value_and_grad(chunk_sum)

    def body(i, acc):
        sl = [jax.lax.dynamic_slice_in_dim(x, i * chunk, chunk) for x in (obs, targets, valid)]
        return jax.tree.map(jnp.add, acc, grad_fn(params, *sl))

    zeros = (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params))
    total, grads = jax.lax.fori_loop(0, used, body, zeros)
    return total / count, jax.tree.map(lambda g: g / count, grads)
