"""``make_train(config) -> train(key, hparams)``: REINFORCE as one pure function.

One update: play N full episodes with the current policy (early-exit
rollout), compute reward-to-go with episode ends as discounts, apply the
configured variance reduction, and take one optax step (global-norm clip, then
Adam) on the masked REINFORCE loss. ``train`` is that update inside
``lax.scan``; it has no side effects, so ``jax.vmap(train)`` runs many seeds
and ``jax.vmap(jax.vmap(train, (0, None)), (None, 0))`` seeds × hparams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpg import envs, policies
from jaxpg.losses import (
    predict_prefix,
    recurrent_predict_prefix,
    recurrent_value_and_grad,
    recurrent_value_loss_and_grad,
    reinforce_value_and_grad,
    value_loss_and_grad,
)
from jaxpg.returns import (
    advantages,
    bootstrap_rewards,
    discounted_returns_prefix,
    episode_discounts,
    gae_advantages,
    normalize,
)
from jaxpg.rollout import rollout
from jaxpg.types import CONTINUOUS_ONLY, Config, HParams, Metrics, TrainState

__all__ = ["make_train", "make_trainer", "Trainer", "make_optimizer", "entropy_coef_at", "check_finite",
           "budget_fraction", "within_budget", "skipped_metrics",
           "resolve_loss_chunk", "LOSS_CHUNK_FLOATS",
           "check_config", "DivergedError", "first_nonfinite", "DIVERGED_HINT"]


def make_optimizer(
    hparams: HParams, schedule: str = "constant", num_updates: int = 1, start: int = 0
) -> optax.GradientTransformation:
    """Global-norm clipping then Adam, built from (possibly traced) hparams.

    Args:
      hparams: ``learning_rate`` and ``max_grad_norm`` are used (may be traced).
      schedule: ``"constant"`` or ``"linear"`` (to 0 at update ``num_updates``; static).
      num_updates: where the linear decay reaches 0 (static).
      start: where it starts (``Config.schedule_start``; static): the full rate until then.
    """
    lr = hparams.learning_rate
    if schedule == "linear":
        lr = optax.linear_schedule(hparams.learning_rate, 0.0, int(num_updates) - int(start),
                                   transition_begin=int(start))
    return optax.chain(optax.clip_by_global_norm(hparams.max_grad_norm), optax.adam(lr))


def entropy_coef_at(coef, update, schedule: str = "constant", num_updates: int = 1, start: int = 0):
    """The entropy bonus's weight at update ``update`` (counted from 0).

    ``"constant"``: ``coef``. ``"linear"``: ``coef * clip(1 - (update - start) / (num_updates -
    start), 0, 1)``, the same decay as the linear learning-rate schedule (0 from ``num_updates``
    on, e.g. for updates run past the planned end on resume).

    Args:
      coef: ``HParams.entropy_coef`` (may be traced).
      update: int32 scalar, updates done so far (``TrainState.update``).
      schedule: ``"constant"`` or ``"linear"`` (static).
      num_updates: where the linear decay reaches 0 (static).
      start: where it starts (``Config.schedule_start``; static).
    """
    if schedule == "linear":
        frac = 1.0 - (jnp.asarray(update, jnp.float32) - float(start)) / float(num_updates - start)
        return coef * jnp.clip(frac, 0.0, 1.0)
    return coef


def budget_fraction(env_steps, total_steps: int):
    """The linear schedules' factor in a run sized by ``Config.total_steps``:
    ``clip(1 - env_steps / total_steps, 0, 1)`` (``env_steps``: ``TrainState.env_steps``)."""
    return jnp.clip(1.0 - jnp.asarray(env_steps, jnp.float32) / float(total_steps), 0.0, 1.0)


def within_budget(state: TrainState, total_steps: int | None) -> jax.Array:
    """Whether the next update of a run is trained: always, or, with a step budget, while the
    run's valid env steps are below it (so a run stops after the update that reaches it)."""
    return jnp.bool_(True) if total_steps is None else state.env_steps < total_steps


def skipped_metrics(m: Metrics) -> Metrics:
    """The metrics of an update not trained because its run had spent its step budget: NaN, and
    0 env steps (as a diverged run's updates are recorded)."""
    return Metrics(*(jnp.zeros_like(x) if jnp.issubdtype(x.dtype, jnp.integer) else jnp.full_like(x, jnp.nan)
                     for x in m))


LOSS_CHUNK_FLOATS = 2**19  # hidden activations per seed in one loss chunk, on CPU (2 MiB of float32)


RECURRENT_LOSS_CHUNK = 32


def resolve_loss_chunk(config: Config, backend: str | None = None, obs_shape: tuple[int, ...] | None = None) -> int:
    """The steps per iteration of the return and gradient loops for ``config``.

    ``config.loss_chunk`` when set; otherwise, on CPU, chunks of about ``LOSS_CHUNK_FLOATS``
    hidden activations per seed: ``2**19 // (max(16, sum(hidden)) · num_envs)`` steps, 1 to
    512 (4,096 rows for the 64-64 policy); a cnn torso's activations count too (16 filters ·
    H · W per row: Breakout-MinAtar's 1,600 floats make 16 envs' chunk 18 steps, not 256 —
    a short episode padded to 256 steps of convolutions cost 4.7 s an update). Larger chunks
    push XLA's CPU matmuls and their activations out of cache: the 64-64 policy trains 1.28x
    faster at 1,024 envs x 4 seeds with 4-step chunks than with 512
    (``experiments/perf_ablations.py``), while the 4-16-2 policy, with 8x smaller
    activations, prefers the long chunks. On other backends (not
    measured yet) 512 steps. A recurrent policy (``gru``, ``cnn-gru``) takes at most
    ``RECURRENT_LOSS_CHUNK`` steps: each chunk is a sequential scan, so a chunk much longer than
    the episodes costs its full length in steps (Pixelcopter's 256-step chunks made a gru update
    3.5x slower than 32-step ones: ``experiments/recurrent_speed.py``). It depends on the
    config and backend only, never on the number of seeds, so a seed trained alone and in a
    population sums its gradient in the same order.

    Example:
      >>> resolve_loss_chunk(Config(env="CartPole-v1", num_envs=64, hidden=(64, 64)), "cpu")
      64
    """
    if config.loss_chunk is not None:
        return int(config.loss_chunk)
    backend = backend or jax.default_backend()
    cap = RECURRENT_LOSS_CHUNK if config.policy in policies.RECURRENT else 512
    if backend != "cpu":
        return cap
    width = max(16, sum(config.hidden))
    if config.policy in ("cnn", "cnn-gru"):
        if obs_shape is None:
            obs_shape = envs.obs_shape(*envs.make(config.env, frame_stack=config.frame_stack))
        height, wide = obs_shape[-3:-1]
        width += sum(features for features, _, _ in policies.CNN_LAYERS) * height * wide
    return max(1, min(cap, LOSS_CHUNK_FLOATS // (width * int(config.num_envs))))


def check_config(config: Config) -> tuple:
    """The checks of a ``Config`` that need its environment (``Config`` checks the rest itself).

    Returns:
      ``(env, env_params)``, the environment it built (``make_trainer`` uses it: one build).

    Raises:
      ValueError: ``config`` is not a ``Config``; the env name is unknown; or a continuous-only
        option (``log_std``, ``log_std_init``, ``log_std_bounds``, ``squash``) is set for an env
        with discrete actions.
    """
    if not isinstance(config, Config):
        raise ValueError(f"config must be a jaxpg.Config, got {type(config).__name__}")
    if config.env not in envs.names():
        raise ValueError(envs.unknown_message(config.env))
    env, env_params = envs.make(config.env, frame_stack=config.frame_stack)
    given = [k for k in CONTINUOUS_ONLY if getattr(config, k) is not None]
    if given and envs.is_discrete(env, env_params):
        raise ValueError(
            f"{', '.join(given)} only applies to continuous action spaces; "
            f"{config.env} has {envs.num_actions(env, env_params)} discrete actions"
        )
    return env, env_params


class Trainer(NamedTuple):
    """The pieces ``make_trainer`` builds, for drivers that step in chunks.

    Attributes:
      init: ``init(key, hparams) -> TrainState``.
      run: ``run(state, hparams, num_updates) -> (TrainState, Metrics[num_updates])``
        (``num_updates`` static).
      train: ``train(key, hparams) -> (TrainState, Metrics[config.num_updates])``.
      update: ``update(state, hparams) -> (TrainState, Metrics)``, one update (what ``run`` scans).
      policy: the ``Policy`` (init, apply).
      env, env_params: the environment.
      max_steps: the resolved episode step limit T.
      config: the ``Config``.
      seed_axis: the vmap axis name ``run``/``train`` expect around them, or ``None``.
    """

    init: Callable
    run: Callable
    train: Callable
    update: Callable
    policy: policies.Policy
    env: object
    env_params: object
    max_steps: int
    config: Config
    seed_axis: str | None = None


def make_trainer(config: Config, seed_axis: str | None = None) -> Trainer:
    """Builds ``init``/``run``/``train`` for a static ``Config`` (validated already).

    The head follows the env's action space: categorical for ``Discrete``, a
    diagonal Gaussian (``policies.Gaussian``) for ``Box``.

    With ``advantage="value"`` a separate value network ``V_φ`` (its own Adam at
    ``hparams.value_learning_rate``, no clipping or schedule) predicts the
    *standardised* return ``(G − μ_R)/σ_R``, where ``μ_R, σ_R`` are running
    statistics of the targets kept in ``TrainState.return_stats``; the baseline
    is ``V(s) = μ_R + σ_R · V_φ(s)``. One update: roll out; compute
    ``V`` on the batch (and on each truncated episode's next observation, which
    ``bootstrap_truncated`` adds to the return as ``γ·V(s_{k+1})``); the
    advantage is GAE(λ) at ``hparams.gae_lambda`` (λ = 1, the default: ``G − V``),
    standardised over the batch, and the value targets are the λ-returns
    ``A + V`` (λ = 1: ``G``); one policy step; then
    ``value_steps`` full-batch regression steps of ``V_φ``; then the return
    statistics and (``obs_norm``) the observation statistics absorb the batch.
    The baseline at update ``u`` depends only on earlier batches, so it adds
    no bias to the policy gradient.

    Args:
      config: the static configuration.
      seed_axis: the ``axis_name`` of the ``jax.vmap`` over seeds (or runs) that the
        caller puts around ``run``/``train``, e.g.
        ``jax.vmap(trainer.run, in_axes=(0, None, None), axis_name=trainer.seed_axis)``.
        The rollout then takes its early-exit test over all seeds at once, which
        spares vmap a select over the trajectory buffers every loop iteration (up to
        1.4x faster on CartPole; see ``experiments/PERF.md``). Results per seed are
        unchanged; ``Metrics.sim_steps`` counts the steps the batch really simulated.
        ``None`` (default): plain functions, vmappable without an axis name.

    Raises:
      ValueError: if ``config`` is not a ``Config``.
    """
    env, env_params = check_config(config)
    obs_shape = envs.obs_shape(env, env_params)
    max_steps = int(config.max_steps or env_params.max_steps_in_episode)
    space = env.action_space(env_params)
    policy = policies.mlp_policy(
        config.hidden, None, config.activation, len(obs_shape), config.obs_scale,
        obs_norm=config.obs_norm, action_space=space, gaussian=config.gaussian_options(),
        frame_stack=config.frame_stack, torso=config.policy,
    )
    dist = policy.dist
    use_value = config.advantage == "value"
    value_net = policies.value_network(
        config.value_hidden if config.value_hidden is not None else config.hidden,
        config.activation, len(obs_shape), config.obs_scale, obs_norm=config.obs_norm,
        frame_stack=config.frame_stack, torso=config.policy,
    )
    n = config.num_envs
    obs_ndim = len(obs_shape)
    budget = config.total_steps  # a run sized in env steps: its schedules follow them (budget_fraction)
    lr_schedule = "constant" if budget is not None else config.lr_schedule
    loss_chunk = resolve_loss_chunk(config, obs_shape=obs_shape)

    def value_optimizer(hparams):
        return optax.adam(hparams.value_learning_rate)

    def init(key: jax.Array, hparams: HParams) -> TrainState:
        key, init_key, value_key = jax.random.split(key, 3)
        params = policy.init(init_key, jnp.zeros(obs_shape, jnp.float32))
        opt_state = make_optimizer(hparams, lr_schedule, config.num_updates,
                                   config.schedule_start).init(params["params"])
        vparams, vopt, rstats = {}, {}, {}
        if use_value:
            vparams = {"params": value_net.init(value_key, jnp.zeros(obs_shape, jnp.float32))["params"]}
            vopt = value_optimizer(hparams).init(vparams["params"])
            rstats = {"mean": jnp.zeros((1,), jnp.float32), "var": jnp.ones((1,), jnp.float32),
                      "count": jnp.zeros((), jnp.float32)}
        return TrainState(params, opt_state, key, jnp.int32(0), vparams, vopt, rstats,
                          None if budget is None else jnp.int32(0))

    def update(state: TrainState, hparams: HParams) -> tuple[TrainState, Metrics]:
        key, rollout_key = jax.random.split(state.key)
        variables = state.params

        def act(k, obs, *pstate):
            if not policy.recurrent:
                return dist.sample(k, policy.apply(variables, obs))
            pstate, out = policy.step(variables, pstate[0], obs)
            return dist.sample(k, out), pstate

        traj, stats = rollout(
            rollout_key, env, env_params, act, n, max_steps, config.rollout_chunk, axis_name=seed_axis,
            env_action_fn=None if dist.discrete else dist.to_env,
            carry0=policy.initial_state((n,)) if policy.recurrent else None,
        )
        # Every episode has ended by step `loop_steps`: work on that prefix only.
        length = jnp.minimum(stats.loop_steps, max_steps)
        discounts = episode_discounts(hparams.gamma, traj.terminated, traj.truncated)
        obs_norm_vars = {k: v for k, v in variables.items() if k != "params"}
        value_loss = jnp.float32(0.0)
        if use_value:
            rs = state.return_stats
            r_mean, r_std = rs["mean"][0], jnp.sqrt(rs["var"][0] + 1e-8)

            def v_apply(vp, obs):
                return value_net.apply({"params": vp, **obs_norm_vars}, obs)

            def v_unroll(vp, vstate, obs):
                return value_net.unroll({"params": vp, **obs_norm_vars}, vstate, obs)

            vp0 = state.value_params["params"]
            if value_net.recurrent:
                v_norm, v_last = recurrent_predict_prefix(v_unroll, vp0, value_net.initial_state((n,)), traj.obs,
                                                          traj.valid, length, loss_chunk)
            else:
                v_norm = predict_prefix(v_apply, vp0, traj.obs, length, loss_chunk)
            values = r_mean + r_std * v_norm
            rewards = traj.rewards
            if config.bootstrap_truncated:
                if value_net.recurrent:  # the observation after the cut, from the state the episode reached
                    v_final = r_mean + r_std * value_net.step({"params": vp0, **obs_norm_vars}, v_last,
                                                              stats.final_obs)[1]
                else:
                    v_final = r_mean + r_std * v_apply(vp0, stats.final_obs)
                rewards = bootstrap_rewards(rewards, traj.truncated, v_final, hparams.gamma)
            # GAE(λ); λ = 1 is G − V. Value targets: the λ-returns A + V.
            raw_adv = gae_advantages(rewards, values, discounts, hparams.gae_lambda, length,
                                     loss_chunk)
            returns = raw_adv + values
            adv = normalize(raw_adv, traj.valid)
        else:
            returns = discounted_returns_prefix(traj.rewards, discounts, length, loss_chunk)
            adv = advantages(returns, traj.valid, config.advantage)

        def apply_net(net, obs):
            return policy.apply({**variables, "params": net}, obs)

        def unroll_net(net, pstate, obs):
            return policy.unroll({**variables, "params": net}, pstate, obs)

        if budget is None:
            entropy_coef = entropy_coef_at(hparams.entropy_coef, state.update, config.entropy_schedule,
                                           config.num_updates, config.schedule_start)
        else:  # the schedules decay over the step budget
            frac = budget_fraction(state.env_steps, budget)
            entropy_coef = hparams.entropy_coef * (frac if config.entropy_schedule == "linear" else 1.0)
        if policy.recurrent:
            (loss, (_, ent)), grads = recurrent_value_and_grad(
                variables["params"], unroll_net, traj.carry, traj.obs, traj.actions, adv, traj.valid,
                entropy_coef, length, loss_chunk, dist=dist,
            )
        else:
            (loss, (_, ent)), grads = reinforce_value_and_grad(
                variables["params"], apply_net, traj.obs, traj.actions, adv, traj.valid, entropy_coef,
                length, loss_chunk, dist=dist,
            )
        optimizer = make_optimizer(hparams, lr_schedule, config.num_updates, config.schedule_start)
        updates, opt_state = optimizer.update(grads, state.opt_state, variables["params"])
        if budget is not None and config.lr_schedule == "linear":  # Adam's step scaled as the rate would be
            updates = jax.tree.map(lambda u: u * frac, updates)
        new_vars = {**variables, "params": optax.apply_updates(variables["params"], updates)}

        vparams, vopt, rstats = state.value_params, state.value_opt_state, state.return_stats
        if use_value:
            # Targets standardised with the statistics including this batch.
            rstats = policies.update_obs_norm(rstats, returns[..., None], traj.valid)
            r_mean, r_std = rstats["mean"][0], jnp.sqrt(rstats["var"][0] + 1e-8)
            targets = (returns - r_mean) / r_std
            vopt_fn = value_optimizer(hparams)

            def value_step(vp, vopt):
                if value_net.recurrent:
                    vl, vgrads = recurrent_value_loss_and_grad(vp, v_unroll, value_net.initial_state((n,)),
                                                               traj.obs, targets, traj.valid, length, loss_chunk)
                else:
                    vl, vgrads = value_loss_and_grad(vp, v_apply, traj.obs, targets, traj.valid, length,
                                                     loss_chunk)
                vupd, vopt = vopt_fn.update(vgrads, vopt, vp)
                return optax.apply_updates(vp, vupd), vopt, vl

            # the first step reports the loss; the rest loop (one compiled body, not value_steps copies)
            vp, vopt, value_loss = value_step(vparams["params"], vopt)
            if config.value_steps > 1:
                vp, vopt = jax.lax.fori_loop(
                    1, config.value_steps, lambda _, c: value_step(*c)[:2], (vp, vopt)
                )
            vparams = {"params": vp}
        if config.obs_norm:
            new_vars["obs_norm"] = policies.update_obs_norm(
                variables["obs_norm"], traj.obs, traj.valid, config.obs_scale, obs_ndim, config.frame_stack
            )
        valid_steps = traj.valid.sum()
        flat_obs = traj.obs.reshape(*traj.obs.shape[:2], -1)
        bad_obs = jnp.sum(traj.valid & ~jnp.all(jnp.isfinite(flat_obs), axis=-1))
        metrics = Metrics(
            loss=loss,
            mean_return=traj.rewards.sum(0).mean(),
            mean_length=valid_steps / n,
            env_steps=valid_steps.astype(jnp.int32),
            sim_steps=stats.sim_steps.astype(jnp.int32),
            entropy=ent,
            grad_norm=optax.tree.norm(grads),
            value_loss=value_loss,
            nonfinite_obs=bad_obs.astype(jnp.int32),
        )
        steps_done = None if budget is None else state.env_steps + metrics.env_steps
        new_state = TrainState(new_vars, opt_state, key, state.update + 1, vparams, vopt, rstats, steps_done)
        return new_state, metrics

    def run(state: TrainState, hparams: HParams, num_updates: int):
        def step(s, _):
            s2, m = update(s, hparams)
            if budget is None:
                return s2, m
            trained = within_budget(s, budget)  # a run past its budget keeps its state
            return jax.tree.map(lambda a, b: jax.lax.select(trained, a, b), (s2, m), (s, skipped_metrics(m)))

        return jax.lax.scan(step, state, None, length=int(num_updates))

    def train(key: jax.Array, hparams: HParams) -> tuple[TrainState, Metrics]:
        """Trains from scratch: ``config.num_updates`` updates; pure and vmappable."""
        return run(init(key, hparams), hparams, config.num_updates)

    return Trainer(init, run, train, update, policy, env, env_params, max_steps, config, seed_axis)


class DivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient, or the env a non-finite observation."""


def first_nonfinite(metrics: Metrics) -> tuple[int, int, str] | None:
    """``(update, seed, what)`` of the first update (0-based, lowest seed on ties) whose metrics are
    non-finite, e.g. ``(36, 2, "the loss is nan")``; ``None`` when every update is finite.

    Args:
      metrics: ``Metrics`` with ``[num_updates]`` or ``[seeds, num_updates]`` fields (numpy or JAX).
    """
    checks = (
        ("nonfinite_obs", lambda v: v > 0, "the environment returned a non-finite observation"),
        ("loss", lambda v: ~np.isfinite(v), "the loss is {value}"),
        ("grad_norm", lambda v: ~np.isfinite(v), "the gradient norm is {value}"),
        ("value_loss", lambda v: ~np.isfinite(v), "the value-baseline loss is {value}"),
    )
    found = []
    for field, bad_fn, text in checks:
        values = np.atleast_2d(np.asarray(getattr(metrics, field)))
        bad = bad_fn(values)
        if bad.any():
            seeds, updates = np.nonzero(bad)
            u = updates.min()
            s_ = seeds[updates == u].min()
            found.append((int(u), int(s_), text.format(value=values[s_, u])))
    if not found:
        return None
    u, s_, text = min(found, key=lambda f: (f[0], f[1]))
    return u, s_, text


DIVERGED_HINT = "training stopped (lower `learning_rate`, or check the environment's observations)"


def check_finite(metrics: Metrics, first_update: int = 0) -> None:
    """Raises ``DivergedError`` naming the first update and seed that went non-finite.

    ``train`` is pure and cannot stop itself; drivers call this on every chunk of
    metrics they read back and stop there (the run layer's divergence part does).

    Args:
      metrics: ``Metrics`` with ``[num_updates]`` or ``[seeds, num_updates]`` fields
        (numpy or JAX arrays).
      first_update: updates done before this chunk (so messages count from 1 over the run).

    Raises:
      DivergedError: e.g. "the loss is nan at update 37 of seed 2; training stopped (...)".
    """
    found = first_nonfinite(metrics)
    if found is not None:
        u, s_, text = found
        raise DivergedError(f"{text} at update {first_update + u + 1} of seed {s_}; {DIVERGED_HINT}")


def make_train(config: Config) -> Callable[[jax.Array, HParams], tuple[TrainState, Metrics]]:
    """Returns the pure ``train(key, hparams) -> (TrainState, Metrics)`` for ``config``.

    Metrics have a leading ``[config.num_updates]`` axis.

    Example:
      >>> train = make_train(Config(env="CartPole-v1", num_updates=10))
      >>> keys = jax.random.split(jax.random.key(0), 8)
      >>> state, metrics = jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, HParams())
      >>> metrics.mean_return.shape
      (8, 10)
    """
    return make_trainer(config).train
