"""A trained policy, loaded from a run directory, for use in your own code: ``jaxpg.load``.

``jaxpg.load(run_dir, seed_index=i)`` rebuilds seed ``i``'s policy exactly as training and the run's
final evaluation used it: the network, the action head (categorical, or Gaussian with its
clipping or tanh squashing into the env's bounds), the observation scaling and the
observation-normalisation statistics (kept in the policy's variables). Nothing has to be
re-specified by hand.

    agent = jaxpg.load("runs/cartpole", seed_index=0)
    action = agent.greedy(obs)                 # env-ready action, argmax / the Gaussian's mean
    action = agent.act(key, obs)               # sampled, as training and the course evaluate
    returns = agent.evaluate()                 # = the run's final evaluation of this seed

A recurrent agent (``--policy gru`` or ``cnn-gru``) carries its state: start each episode from
``agent.initial_state()`` and pass it along::

    state = agent.initial_state()
    action, state = agent.act(key, obs, state)   # or agent.greedy(obs, state)
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxpg import checkpoint
from jaxpg.evaluate import evaluate as _evaluate
from jaxpg.runner.parts import keep_best
from jaxpg.safetensors_io import MANIFEST, check_folder, load_safetensors, unflatten
from jaxpg.train import make_trainer
from jaxpg.types import Config, HParams

__all__ = ["Agent", "evaluation_key", "load"]


def evaluation_key(root_seed: int, seeds: int, seed_index: int, greedy: bool) -> jax.Array:
    """The key the driver's final evaluation gives seed ``seed_index`` of a run.

    ``split(fold_in(key(root_seed), 1), seeds)[i]``, split once more: the first half plays the
    sampled episodes, the second the greedy ones.
    """
    per_seed = jax.random.split(jax.random.fold_in(jax.random.key(root_seed), 1), seeds)[seed_index]
    return jax.random.split(per_seed)[1 if greedy else 0]


class Agent(NamedTuple):
    """One trained seed's policy.

    Attributes:
      env: the environment name (``jaxpg.envs.make(env)`` builds it; ``env_pair()`` returns
        the exact ``(env, env_params)`` training used).
      config, hparams: the run's ``Config`` and (this point's) ``HParams``.
      params: the policy's variables (``{"params": ...}``, plus ``"obs_norm"`` statistics).
      policy: the ``Policy`` (``init``, ``apply``, ``dist``).
      seed_index, point: which seed (and sweep point) of the run this is.
      root_seed, seeds: the run's root seed and its number of seeds per point.
      updates_done: updates the checkpoint had done.
      meta: the run's ``checkpoint.json``.
    """

    env: str
    config: Config
    hparams: HParams
    params: Any
    policy: Any
    seed_index: int
    point: int | None
    root_seed: int
    seeds: int
    updates_done: int
    meta: dict

    @property
    def recurrent(self) -> bool:
        """True for a ``gru``/``cnn-gru`` policy: ``act``/``greedy`` take and return its state."""
        return bool(self.policy.recurrent)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> jax.Array:
        """A recurrent policy's state at the start of an episode, ``[*batch, H]`` zeros."""
        if not self.recurrent:
            raise ValueError(f"this agent's policy ({self.config.policy}) has no state; call act(key, obs)")
        return self.policy.initial_state(tuple(batch_shape))

    def apply(self, obs: jax.Array) -> jax.Array:
        """The head's input for ``obs`` ``[*batch, *obs_shape]``: logits, or (mean, log-std).

        For a recurrent policy ``obs`` is a whole episode ``[T, *batch, *obs_shape]``, played from
        the initial state."""
        return self.policy.apply(self.params, obs)

    def _check_state(self, state) -> None:
        if not self.recurrent and state is not None:
            raise ValueError(f"this agent's policy ({self.config.policy}) has no state; call it without one")
        if self.recurrent and state is None:
            raise ValueError(f"a {self.config.policy} agent carries a state: state = agent.initial_state(), then "
                             "action, state = agent.act(key, obs, state)")

    def act(self, key: jax.Array, obs: jax.Array, state: jax.Array | None = None):
        """A sampled action, mapped into the env's action space (what training plays).

        Compiled once per policy and observation shape (``jax.jit``), so a loop that calls it
        one observation at a time (a gymnasium episode) is fast. Recurrent policies:
        ``act(key, obs, state) -> (action, state')``."""
        self._check_state(state)
        act, _ = _compiled(self.policy)
        return act(self.params, key, obs, state) if self.recurrent else act(self.params, key, obs)

    def greedy(self, obs: jax.Array, state: jax.Array | None = None):
        """The head's mode (argmax; a Gaussian's mean), mapped into the env's action space.

        Compiled as ``act``. Recurrent policies: ``greedy(obs, state) -> (action, state')``."""
        self._check_state(state)
        _, greedy = _compiled(self.policy)
        return greedy(self.params, obs, state) if self.recurrent else greedy(self.params, obs)

    def env_pair(self):
        """``(env, env_params)`` exactly as the run's training and evaluation built them."""
        tr = make_trainer(self.config)
        return tr.env, tr.env_params

    def evaluate(self, episodes: int | None = None, greedy: bool | None = None, seed: int | None = None,
                 max_steps: int | None = None, key: jax.Array | None = None) -> np.ndarray:
        """``[K]`` returns of K evaluation episodes played in parallel.

        With no arguments: the run's own final evaluation of this seed (same episodes, mode,
        episode limit and keys), so its mean is the ``eval_mean`` the run reported. ``seed``
        derives the keys from another root seed; ``key`` gives the key itself.
        """
        meta = self.meta
        episodes = int(episodes or meta.get("eval_episodes") or 32)
        greedy = bool(meta.get("eval_greedy", False)) if greedy is None else bool(greedy)
        tr = make_trainer(self.config)
        limit = int(max_steps or meta.get("eval_max_steps") or tr.env_params.max_steps_in_episode)
        if key is None:
            key = evaluation_key(self.root_seed if seed is None else seed, self.seeds, self.seed_index, greedy)
        fn = jax.jit(lambda k, p: _evaluate(k, tr.env, tr.env_params, tr.policy, p, episodes, limit,
                                            greedy=greedy, dist=tr.policy.dist))
        return np.asarray(fn(key, self.params))


@functools.lru_cache(maxsize=64)
def _compiled(policy):
    """``(act, greedy)`` of ``policy``, jitted once (the ``Policy`` is hashable: its functions and head)."""
    dist = policy.dist
    if policy.recurrent:
        def act(params, key, obs, state):
            state, out = policy.step(params, state, obs)
            return dist.to_env(dist.sample(key, out)), state

        def greedy(params, obs, state):
            state, out = policy.step(params, state, obs)
            return dist.to_env(dist.mode(out)), state
    else:
        def act(params, key, obs):
            return dist.to_env(dist.sample(key, policy.apply(params, obs)))

        def greedy(params, obs):
            return dist.to_env(dist.mode(policy.apply(params, obs)))
    return jax.jit(act), jax.jit(greedy)


def _load_exported(folder: Path) -> Agent:
    """The policy of a ``jaxpg export`` folder (``params.safetensors`` + ``jaxpg.json``)."""
    try:
        m = json.loads((folder / MANIFEST).read_text())
        if not isinstance(m, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise checkpoint.CheckpointError(f"{folder}: unreadable {MANIFEST} ({e})") from None
    arrays, metadata = load_safetensors(folder / "params.safetensors")
    check_folder(folder, m, metadata)  # the tensors' hash, and settings not edited since the export
    try:
        config, hparams = checkpoint.config_from_dict(m["config"]), HParams(**m["hparams"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise checkpoint.CheckpointError(f"{folder}: unreadable {MANIFEST} ({e})") from None
    tr = make_trainer(config)
    params = jax.tree.map(jax.numpy.asarray, unflatten(arrays))
    want = jax.tree.structure(jax.eval_shape(tr.policy.init, jax.random.key(0),
                                             jax.numpy.zeros(tr.env.observation_space(tr.env_params).shape)))
    if jax.tree.structure(params) != want:
        raise checkpoint.CheckpointError(f"{folder}: params.safetensors does not hold the policy {MANIFEST} describes")
    meta = {"eval_episodes": 32, "eval_greedy": False, **{k: m.get(k) for k in ("root_seed", "seeds")}}
    return Agent(env=config.env, config=config, hparams=hparams, params=params, policy=tr.policy,
                 seed_index=int(m.get("seed_index", 0)), point=m.get("point"), root_seed=int(m.get("root_seed", 0)),
                 seeds=int(m.get("seeds", 1)), updates_done=int(m.get("updates_done", 0)), meta=meta)


def load(run_dir: str | Path, seed_index: int = 0, point: int | None = None, best: bool = False,
         **renamed) -> Agent:
    """Seed ``seed_index`` (0-based) of the run saved in ``run_dir`` (a ``jaxpg train`` or ``sweep``
    --out), or the policy of a ``jaxpg export`` folder (``seed_index`` and ``point`` are then ignored).

    Args:
      run_dir: the run directory.
      seed_index: which of the run's seeds (0-based index, as in ``summary.json`` and the CLI's
        ``--seed-index``; not a root seed, which ``--seed`` always is).
      point: which hyperparameter point of a sweep directory (required for a sweep of more
        than one point).
      best: the seed's policy at its best evaluation during training (``OUT/best``, kept by
        ``--keep-best``/``KeepBest``) instead of the checkpoint's; ``updates_done`` is then that
        evaluation's update, and ``meta["best"]`` its record (update, eval mean, env steps).

    Raises:
      checkpoint.CheckpointError: no loadable checkpoint, a damaged one, or a bad index; with
        ``best``, a run that kept no best (or none for this seed), or a damaged ``best/``.
      TypeError: for the old keyword ``seed=`` (renamed ``seed_index=``) or another unknown one.
    """
    if "seed" in renamed:
        raise TypeError("jaxpg.load takes seed_index= (which of the run's seeds, 0-based); seed= was renamed "
                        "because --seed is always a root seed")
    if renamed:
        raise TypeError(f"jaxpg.load() got an unexpected keyword argument {next(iter(renamed))!r}")
    seed = seed_index
    if (Path(run_dir) / "params.safetensors").is_file():
        if best:
            raise checkpoint.CheckpointError(f"{run_dir} is an exported policy (one policy): `best` reads a "
                                             "run directory's best/")
        return _load_exported(Path(run_dir))
    ck = checkpoint.load(run_dir, point)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < ck.seeds:
        raise checkpoint.CheckpointError(f"seed index {seed!r} is out of range: {run_dir} has seeds 0..{ck.seeds - 1}")
    tr = make_trainer(ck.config)
    saved, updates_done, meta = ck.state.params, int(ck.updates_done), dict(ck.meta)
    if best:
        saved, records = keep_best.for_point(run_dir, ck, point)
        if records[int(seed)].get("update") is None:
            raise checkpoint.CheckpointError(f"seed index {seed} of {run_dir} has no best evaluation (it stopped "
                                             "training before its first one)")
        updates_done, meta = int(records[int(seed)]["update"]), {**meta, "best": records[int(seed)]}
    params = jax.tree.map(lambda x: jax.numpy.asarray(np.asarray(x)[int(seed)]), saved)
    return Agent(env=ck.config.env, config=ck.config, hparams=ck.hparams, params=params, policy=tr.policy,
                 seed_index=int(seed), point=point, root_seed=int(ck.root_seed), seeds=int(ck.seeds),
                 updates_done=updates_done, meta=meta)
