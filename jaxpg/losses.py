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
    "recurrent_value_and_grad",
    "recurrent_predict_prefix",
    "recurrent_value_loss_and_grad",
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


# Recurrent policies: backpropagation through each whole episode, one chunk of steps at a time.
#
# A chunk's loss depends on the parameters directly and through the state it starts from, which
# the earlier chunks computed. The loop below runs over the used chunks in reverse: each chunk's
# vector-Jacobian product takes the gradient of every later chunk's loss with respect to the
# chunk's final state (the cotangent carried backwards) and returns the parameter gradient plus
# the cotangent of its own start state. The sum is the gradient of one unroll from the episode's
# start (``tests/test_recurrent.py`` checks it against ``jax.grad`` of ``policy.apply`` over the
# whole episode), with memory for one chunk's activations, and no work past ``length``.


def _bptt(chunk_fn, params, starts, xs, used, chunk):
    """Sum over chunks ``i < used`` of ``chunk_fn(params, starts[i], xs[i·C:(i+1)·C])``'s scalar and aux,
    and the full gradient (through the states) of the scalar sum.

    ``chunk_fn(params, state, *x) -> (state', (scalar, aux))``; ``starts``: ``[num_chunks, ...]`` the
    state at each chunk's first step (constants). Returns ``((total, aux), grads)``.
    """
    def sliced(i):
        return [jax.lax.dynamic_slice_in_dim(x, i * chunk, chunk) for x in xs]

    shapes = jax.eval_shape(lambda p, c: chunk_fn(p, c, *[x[:chunk] for x in xs]), params, starts[0])
    zeros = jax.tree.map(lambda z: jnp.zeros(z.shape, z.dtype), shapes[1])

    def body(j, acc):
        sums, grads, g_state = acc
        i = used - 1 - j
        out, vjp = jax.vjp(lambda p, c: chunk_fn(p, c, *sliced(i)), params, starts[i])
        cot = (g_state, (jnp.ones_like(out[1][0]), jax.tree.map(jnp.zeros_like, out[1][1])))
        g_params, g_start = vjp(cot)
        return jax.tree.map(jnp.add, sums, out[1]), jax.tree.map(jnp.add, grads, g_params), g_start

    acc0 = (zeros, jax.tree.map(jnp.zeros_like, params), jnp.zeros_like(starts[0]))
    sums, grads, _ = jax.lax.fori_loop(0, used, body, acc0)
    return sums, grads


def _chunk_starts(unroll_fn, params, state0, obs, used, chunk):
    """Forward pass over the used chunks: the state at each chunk's start ``[num_chunks, ...]``
    and the outputs ``[T', ...]`` (0 past the used chunks)."""
    num_chunks = obs.shape[0] // chunk
    out_shape = jax.eval_shape(lambda p, c, o: unroll_fn(p, c, o)[1], params, state0, obs[:chunk])

    def body(i, acc):
        state, starts, outs = acc
        starts = starts.at[i].set(state)
        state, out = unroll_fn(params, state, jax.lax.dynamic_slice_in_dim(obs, i * chunk, chunk))
        return state, starts, jax.lax.dynamic_update_slice_in_dim(outs, out, i * chunk, axis=0)

    starts = jnp.zeros((num_chunks, *state0.shape), state0.dtype)
    outs = jnp.zeros((obs.shape[0], *out_shape.shape[1:]), out_shape.dtype)
    _, starts, outs = jax.lax.fori_loop(0, used, body, (state0, starts, outs))
    return starts, outs


def recurrent_value_and_grad(params, unroll_fn, carries, obs, actions, advantages, valid, entropy_coef,
                             length, chunk: int = 64, dist=policies.CATEGORICAL):
    """``reinforce_value_and_grad`` for a recurrent policy: backpropagation through whole episodes.

    Args:
      params: the parameters the gradient is taken with respect to.
      unroll_fn: ``unroll(params, state[N, H], obs[C, N, ...]) -> (state', out[C, N, ...])``.
      carries: [T, N, H] the state before each step, as the rollout recorded it
        (``traj.carry``); only the states at chunk starts are read, and the gradient flows
        through the recomputed states across chunks, so the result equals
        ``jax.value_and_grad(reinforce_loss)`` of an unroll from each episode's start.
      obs, actions, advantages, valid, entropy_coef, length, chunk, dist: as in
        ``reinforce_value_and_grad``.

    Returns:
      ``((loss, (pg_loss, mean_entropy)), grads)``.
    """
    chex.assert_equal_shape((advantages, valid))
    chex.assert_equal_shape_prefix((carries, valid), valid.ndim)
    (carries, obs, actions, advantages, valid), chunk, used = chunked_prefix(
        (carries, obs, actions, advantages, valid), length, chunk
    )
    count = jnp.maximum(valid.sum(), 1).astype(jnp.float32)

    def chunk_fn(p, state, o, a, adv, v):
        state, out = unroll_fn(p, state, o)
        vf = v.astype(out.dtype)
        pg = -jnp.sum(dist.log_prob(out, a) * jax.lax.stop_gradient(adv) * vf)
        ent = jnp.sum(dist.entropy(out) * vf)
        return state, (pg - entropy_coef * ent, (pg, ent))

    (total, (pg, ent)), grads = _bptt(chunk_fn, params, carries[::chunk], (obs, actions, advantages, valid),
                                      used, chunk)
    grads = jax.tree.map(lambda g: g / count, grads)
    return (total / count, (pg / count, ent / count)), grads


def recurrent_predict_prefix(unroll_fn, params, state0, obs, valid, length, chunk: int = 64):
    """``predict_prefix`` for a recurrent network, from ``state0`` at step 0.

    Args:
      unroll_fn: ``unroll(params, state[N, H], obs[C, N, ...]) -> (state', out[C, N])``.
      params: its parameters.
      state0: [N, H] the initial state.
      obs: [T, N, *obs_shape].
      valid: [T, N] bool (a prefix of each column).
      length: int scalar (may be traced).
      chunk: static.

    Returns:
      ``(out [T, N], last [N, H])``: the predictions (0 past the used chunks) and each
      stream's state after its last valid step (what a prediction for the observation that
      followed the episode starts from, e.g. a bootstrap at truncation).
    """
    num_steps = obs.shape[0]
    (obs_p, valid_p), chunk, used = chunked_prefix((obs, valid), length, chunk)
    num_chunks = obs_p.shape[0] // chunk
    out_shape = jax.eval_shape(lambda p, c, o: unroll_fn(p, c, o)[1], params, state0, obs_p[:chunk])

    def body(i, acc):
        state, last, outs = acc
        o = jax.lax.dynamic_slice_in_dim(obs_p, i * chunk, chunk)
        v = jax.lax.dynamic_slice_in_dim(valid_p, i * chunk, chunk)
        # one step at a time inside the chunk, so the state after each stream's last valid step is kept
        def one(carry, x):
            s, lst = carry
            s, out = unroll_fn(params, s, x[0][None])
            lst = jnp.where(x[1].reshape(x[1].shape + (1,) * (s.ndim - x[1].ndim)), s, lst)
            return (s, lst), out[0]

        (state, last), out = jax.lax.scan(one, (state, last), (o, v))
        return state, last, jax.lax.dynamic_update_slice_in_dim(outs, out, i * chunk, axis=0)

    del num_chunks
    outs = jnp.zeros((obs_p.shape[0], *out_shape.shape[1:]), out_shape.dtype)
    _, last, outs = jax.lax.fori_loop(0, used, body, (state0, state0, outs))
    return outs[:num_steps], last


def recurrent_value_loss_and_grad(params, unroll_fn, state0, obs, targets, valid, length, chunk: int = 64):
    """``value_loss_and_grad`` for a recurrent value network (whole-episode backpropagation).

    A forward pass finds the state at each chunk's start, then ``_bptt`` takes the gradient
    chunk by chunk in reverse, as ``recurrent_value_and_grad``.

    Returns:
      ``(loss, grads)``.
    """
    chex.assert_equal_shape((targets, valid))
    (obs, targets, valid), chunk, used = chunked_prefix((obs, targets, valid), length, chunk)
    count = jnp.maximum(valid.sum(), 1).astype(jnp.float32)
    starts, _ = _chunk_starts(unroll_fn, params, state0, obs, used, chunk)

    def chunk_fn(p, state, o, y, v):
        state, pred = unroll_fn(p, state, o)
        err = pred - jax.lax.stop_gradient(y)
        return state, (jnp.sum(jnp.where(v, jnp.square(err), 0.0)), ())

    (total, _), grads = _bptt(chunk_fn, params, starts, (obs, targets, valid), used, chunk)
    return total / count, jax.tree.map(lambda g: g / count, grads)
