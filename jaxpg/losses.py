"""The REINFORCE loss (a negative surrogate, minimised) and the entropy term.

Masked means divide by the number of valid steps.
"""

from __future__ import annotations

import chex
import jax

from jaxpg import policies
from jaxpg.returns import masked_mean

__all__ = ["policy_gradient_loss", "entropy_loss", "reinforce_loss"]


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
