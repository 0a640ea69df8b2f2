"""The REINFORCE loss (a negative surrogate, minimised) and the entropy term.

Masked means divide by the number of valid steps.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from jaxpg import policies
from jaxpg.returns import chunked_prefix, masked_mean

__all__ = ["policy_gradient_loss", "entropy_loss", "reinforce_loss", "reinforce_value_and_grad"]


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


def reinforce_loss(params, apply_fn, obs, actions, advantages, valid, entropy_coef):
    """The full loss of one update, for ``jax.value_and_grad(..., has_aux=True)``.

    ``loss = policy_gradient_loss + entropy_coef · entropy_loss``.

    Args:
      params: policy parameters.
      apply_fn: ``apply(params, obs) -> logits``.
      obs: [T, N, *obs_shape].
      actions: [T, N] int.
      advantages: [T, N] float.
      valid: [T, N] bool.
      entropy_coef: scalar >= 0 (may be traced).

    Returns:
      ``(loss, (pg_loss, mean_entropy))``.
    """
    chex.assert_equal_shape((actions, advantages, valid))
    logits = apply_fn(params, obs)
    logp = policies.log_prob(logits, actions)
    ent = policies.entropy(logits)
    pg = policy_gradient_loss(logp, advantages, valid)
    ent_loss = entropy_loss(ent, valid)
    return pg + entropy_coef * ent_loss, (pg, -ent_loss)


def reinforce_value_and_grad(params, apply_fn, obs, actions, advantages, valid, entropy_coef,
                             length, chunk: int = 64):
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

    Returns:
      ``((loss, (pg_loss, mean_entropy)), grads)``, equal to
      ``jax.value_and_grad(reinforce_loss, has_aux=True)(...)`` up to float
      summation order.
    """
    chex.assert_equal_shape((actions, advantages, valid))
    (obs, actions, advantages, valid), chunk, used = chunked_prefix(
        (obs, actions, advantages, valid), length, chunk
    )
    count = jnp.maximum(valid.sum(), 1).astype(jnp.float32)

    def chunk_sums(p, o, a, adv, v):
        logits = apply_fn(p, o)
        vf = v.astype(logits.dtype)
        pg = -jnp.sum(policies.log_prob(logits, a) * jax.lax.stop_gradient(adv) * vf)
        ent = jnp.sum(policies.entropy(logits) * vf)
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
