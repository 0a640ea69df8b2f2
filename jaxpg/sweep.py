"""Seed × hyperparameter sweeps in one compiled program, sharded over devices and hosts.

A sweep is H hyperparameter points × S seeds = R independent training runs.
They are laid out as one flat "runs" axis (run ``r`` is point ``r // S``, seed
``r % S``), trained by ``jax.vmap`` of the same pure ``train`` that
``make_train`` returns, and sharded over a one-axis device mesh::

    points = grid(learning_rate=[1e-3, 3e-3, 1e-2], gamma=[0.99, 1.0])
    sweep = Sweep(Config(env="CartPole-v1"), points, seeds=32)
    result = sweep.run()                  # SweepResult, leading axes [H, S]
    result.metrics.mean_return.shape      # (6, 32, num_updates)

Seed ``i`` of every point uses ``jax.random.split(jax.random.key(seed), S)[i]``,
exactly the key ``jaxpg train --seed seed`` gives its seed ``i``, so a sweep
point reproduces the same point trained alone (to float tolerance: a batch of
runs may sum in another order on some backends).

Devices: R is padded up to a multiple of the number of devices in the mesh
(the padding repeats the last run and is dropped from every result), and every
array with a runs axis is sharded ``PartitionSpec("runs")``. Hosts: after
``jax.distributed.initialize`` (see :func:`initialize_distributed`) the mesh
spans every process's devices; each process feeds only its own shard and all
of them read back the gathered results.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxpg.distributed import initialize_distributed
from jaxpg.evaluate import evaluate
from jaxpg.train import make_trainer
from jaxpg.types import Config, HParams, Metrics

__all__ = [
    "HPARAM_FIELDS",
    "grid",
    "stack_points",
    "Sweep",
    "SweepResult",
    "runs_mesh",
    "initialize_distributed",
]

HPARAM_FIELDS = tuple(f.name for f in dataclasses.fields(HParams))

# Compiled chunk programs, shared by every Sweep of the same (config, mesh, run count, chunk):
# a second sweep over new hyperparameter values of the same grid shape does not recompile.
_COMPILED: dict[tuple, Any] = {}


def grid(**axes: Sequence[float]) -> list[dict[str, float]]:
    """Every combination of the given values, last keyword varying fastest.

    Args:
      **axes: ``HParams`` field name -> non-empty sequence of values.

    Returns:
      A list of ``{field: value}`` points, e.g.
      ``grid(learning_rate=[1, 2], gamma=[.9, 1])`` gives
      ``[{lr 1, γ .9}, {lr 1, γ 1}, {lr 2, γ .9}, {lr 2, γ 1}]``.

    Raises:
      ValueError: an unknown field, an empty list, or a value ``HParams`` rejects.
    """
    for name, values in axes.items():
        if name not in HPARAM_FIELDS:
            raise ValueError(f"unknown hyperparameter {name!r}; sweepable: {', '.join(HPARAM_FIELDS)}")
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"{name} needs a non-empty list of values, got {values!r}")
        for v in values:
            HParams(**{name: v})  # range check, one field at a time
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def stack_points(base: HParams, points: Sequence[Mapping[str, Any]]) -> HParams:
    """``HParams`` whose leaves have a leading ``[H]`` axis, one entry per point.

    Fields a point does not name take ``base``'s value. Every point is validated
    as a whole ``HParams`` first.
    """
    if len(points) == 0:
        raise ValueError("a sweep needs at least one hyperparameter point")
    full = []
    for p in points:
        unknown = set(p) - set(HPARAM_FIELDS)
        if unknown:
            raise ValueError(f"unknown hyperparameter {sorted(unknown)[0]!r}; "
                             f"sweepable: {', '.join(HPARAM_FIELDS)}")
        full.append(base.replace(**p))
    return HParams(**{
        name: np.asarray([float(getattr(h, name)) for h in full], np.float32) for name in HPARAM_FIELDS
    })


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named ``"runs"`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), ("runs",))


class SweepResult(NamedTuple):
    """Host-side (numpy) results with leading ``[H, S]`` axes.

    Attributes:
      metrics: ``Metrics`` with leaves ``[H, S, updates_done]``.
      eval_returns: ``[H, S, K]`` evaluation returns (``None`` if not evaluated).
      updates_done: updates every run completed.
    """

    metrics: Metrics
    eval_returns: np.ndarray | None
    updates_done: int


def _gather(x) -> np.ndarray:
    """A (possibly multi-process, sharded) array as a full numpy array on this process."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


class Sweep:
    """H points × S seeds trained as one sharded, compiled program.

    Args:
      config: the static ``Config`` shared by every run.
      points: hyperparameter points (dicts of ``HParams`` fields, e.g. from
        :func:`grid`), in the order results are reported.
      seeds: S, seeds per point.
      base: values of the fields the points do not name (default ``HParams()``).
      seed: root seed; seed ``i`` uses ``split(key(seed), S)[i]``.
      mesh: a one-axis ``"runs"`` mesh (default :func:`runs_mesh`: all devices).

    Attributes:
      num_points, seeds, num_runs (H·S), padded_runs (a multiple of the device count).
    """

    def __init__(
        self,
        config: Config,
        points: Sequence[Mapping[str, Any]],
        seeds: int,
        base: HParams | None = None,
        seed: int = 0,
        mesh: Mesh | None = None,
    ):
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds <= 0:
            raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
        self.config = config
        self.points = [dict(p) for p in points]
        self.base = HParams() if base is None else base
        self.hparams_points = stack_points(self.base, self.points)
        self.num_points = len(self.points)
        self.seeds = seeds
        self.root_seed = int(seed)
        self.num_runs = self.num_points * seeds
        self.mesh = runs_mesh() if mesh is None else mesh
        if self.mesh.axis_names != ("runs",):
            raise ValueError(f"the mesh must have one axis named 'runs', got {self.mesh.axis_names}")
        n_dev = self.mesh.devices.size
        self.padded_runs = math.ceil(self.num_runs / n_dev) * n_dev
        self.trainer = make_trainer(config, seed_axis="runs_local")
        self.sharding = NamedSharding(self.mesh, PartitionSpec("runs"))
        self._replicated = NamedSharding(self.mesh, PartitionSpec())

        # Host copies of the per-run inputs (tiny): run r -> point r // S, seed r % S.
        run_point = np.minimum(np.arange(self.padded_runs), self.num_runs - 1) // seeds
        run_seed = np.minimum(np.arange(self.padded_runs), self.num_runs - 1) % seeds
        seed_keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(self.root_seed), seeds)))
        self._key_data = seed_keys[run_seed]
        self._hparams = jax.tree.map(lambda v: np.asarray(v)[run_point], self.hparams_points)

        trainer = self.trainer
        # lax.map in batches of 64, not one vmap over every run: on the XLA CPU backend a jitted
        # vmap of `init` over more than 128 runs hangs (jax 0.10.2; found with 192 runs).
        self._init = jax.jit(lambda kd, hp: jax.lax.map(
            lambda a: trainer.init(jax.random.wrap_key_data(a[0]), a[1]), (kd, hp), batch_size=64))
        self._wrap = jax.jit(self._per_device(jax.random.wrap_key_data))
        self._run = jax.jit(
            lambda state, hp, n: self._per_device(
                jax.vmap(partial(trainer.run, num_updates=n), axis_name=trainer.seed_axis))(state, hp),
            static_argnums=2,
        )
        self._cache_key = (config, self.mesh, self.padded_runs)

    def _per_device(self, fn: Callable) -> Callable:
        """``fn`` (batched over a leading runs axis) applied to each device's own runs.

        ``shard_map`` keeps every device's runs local: the early-exit rollout
        loop of one device waits only for its own runs, and there are no
        cross-device collectives (runs are independent).
        """
        spec = PartitionSpec("runs")
        return jax.shard_map(fn, mesh=self.mesh, in_specs=spec, out_specs=spec, check_vma=False)

    # ------------------------------------------------------------------ inputs
    def _put(self, host: np.ndarray) -> jax.Array:
        """A global array sharded over runs from a host array every process holds."""
        return jax.make_array_from_callback(host.shape, self.sharding, lambda idx: host[idx])

    def hparams(self) -> HParams:
        """The per-run ``HParams`` (leaves ``[padded_runs]``), sharded over runs."""
        return jax.tree.map(self._put, self._hparams)

    def init(self):
        """The initial ``TrainState`` of every run (sharded, leading ``[padded_runs]``).

        Built on this process's default device and then placed shard by shard
        (every process computes the same small initial state; this also avoids
        a hang of multi-device CPU programs whose inputs come straight out of a
        sharded ``jit`` output).
        """
        state = jax.device_get(self._init(self._key_data, self._hparams))
        key_data = np.asarray(jax.random.key_data(state.key))
        leaves = state._replace(key=None)
        placed = jax.tree.map(lambda x: self._put(np.asarray(x)), leaves)
        return placed._replace(key=self._wrap(self._put(key_data)))

    def compile(self, chunk: int, state=None):
        """The compiled ``run(state, hparams) -> (state, Metrics[chunk])`` for a chunk length.

        Compiled once per chunk length; new hyperparameter values of the same
        grid shape reuse it (they are traced inputs).
        """
        key = (*self._cache_key, int(chunk))
        if key not in _COMPILED:
            state = self.init() if state is None else state
            _COMPILED[key] = self._run.lower(state, self.hparams(), int(chunk)).compile()
        return _COMPILED[key]

    # ----------------------------------------------------------------- outputs
    def unpad(self, x: np.ndarray) -> np.ndarray:
        """``[padded_runs, ...]`` -> ``[H, S, ...]`` (drops the padding)."""
        x = np.asarray(x)[: self.num_runs]
        return x.reshape(self.num_points, self.seeds, *x.shape[1:])

    def gather(self, tree):
        """Every leaf as a numpy ``[H, S, ...]`` array on this process (all processes must call it)."""
        return jax.tree.map(lambda x: self.unpad(_gather(x)), tree)

    def evaluate(self, state, episodes: int, greedy: bool = False, seed: int | None = None) -> np.ndarray:
        """``[H, S, episodes]`` evaluation returns of every run's policy.

        Seed ``i`` uses ``split(fold_in(key(seed), 1), S)[i]``, the key
        ``jaxpg train`` evaluates its seed ``i`` with.
        """
        seed = self.root_seed if seed is None else seed
        tr = self.trainer
        keys = np.asarray(jax.random.key_data(
            jax.random.split(jax.random.fold_in(jax.random.key(seed), 1), self.seeds)))
        run_seed = np.minimum(np.arange(self.padded_runs), self.num_runs - 1) % self.seeds

        def one(kd, params):
            return evaluate(jax.random.wrap_key_data(kd), tr.env, tr.env_params, tr.policy.apply, params,
                            episodes, tr.max_steps, greedy=greedy, dist=tr.policy.dist)

        fn = jax.jit(self._per_device(jax.vmap(one)))
        return self.unpad(_gather(fn(self._put(keys[run_seed]), state.params)))

    def run(self, chunk: int | None = None, episodes: int = 0, greedy: bool = False) -> SweepResult:
        """Trains every run for ``config.num_updates`` updates (and evaluates if ``episodes``).

        ``chunk`` updates per compiled call (default: all at once; it must
        divide ``num_updates``).
        """
        n = self.config.num_updates
        chunk = n if chunk is None else int(chunk)
        if chunk <= 0 or n % chunk:
            raise ValueError(f"chunk {chunk} must be a positive divisor of num_updates {n}")
        state = self.init()
        run_c = self.compile(chunk, state)
        hp = self.hparams()
        collected = []
        for _ in range(n // chunk):
            state, m = run_c(state, hp)
            collected.append(self.gather(m))
        metrics = Metrics(*(np.concatenate([getattr(m, f) for m in collected], axis=2)
                            for f in Metrics._fields))
        ret = self.evaluate(state, episodes, greedy) if episodes else None
        return SweepResult(metrics, ret, n)


def point_label(point: Mapping[str, Any]) -> str:
    """``"learning_rate=0.001 gamma=0.99"`` (``"(base)"`` for an empty point)."""
    return " ".join(f"{k}={v:g}" for k, v in point.items()) or "(base)"
