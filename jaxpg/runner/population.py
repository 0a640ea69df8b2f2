"""The population: H points × S seeds of one ``Config`` as one sharded, compiled program.

- **layout**: one flat runs axis (run ``r`` is point ``r // S``, seed ``r % S``), padded to a
  multiple of the device count (the padding repeats the last run and is dropped from every
  result) and sharded over a one-axis ``"runs"`` mesh of every device of every process
  (``shard_map``: each device runs its own runs, no collectives);
- **waves**: with ``wave_runs`` set, each program holds that many runs and every chunk runs the
  same compiled program on each wave in turn (``jaxpg.runner.memory`` plans it);
- **keys**: seed ``i`` of every point starts from ``split(key(seed), S)[i]``, so a sweep point
  equals that point trained alone, and a vmapped seed equals it alone;
- **programs**: the guarded chunk of updates (a run whose update goes non-finite is frozen at its
  last finite state, ``alive`` false) and the evaluation, compiled once per (config, mesh, runs,
  length) from abstract shapes and shared by every population of the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxpg.evaluate import evaluate
from jaxpg.runner.spec import RunError, RunSpec, chunk_length
from jaxpg.train import Trainer, make_trainer, skipped_metrics, within_budget
from jaxpg.types import HParams

__all__ = ["Population", "runs_mesh", "forget_programs"]

# Compiled programs, shared by every Population of the same (config, mesh, runs, length): new
# hyperparameter values of the same shape never recompile.
_COMPILED: dict[tuple, Any] = {}
_PROGRAMS: dict[tuple, Any] = {}


def forget_programs() -> None:
    """Drops every program this module keeps (``jaxpg.clear_caches`` says why one would)."""
    _COMPILED.clear()
    _PROGRAMS.clear()


def _program(key: tuple, build: Callable) -> Any:
    """A jitted function shared by every Population with the same key."""
    if key not in _PROGRAMS:
        _PROGRAMS[key] = build()
    return _PROGRAMS[key]


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named ``"runs"`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), ("runs",))


def _gather(x) -> np.ndarray:
    """A (possibly multi-process, sharded) array as a full numpy array on this process."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def guarded(update: Callable, state, alive, hp, count, capacity: int, total_steps: int | None = None):
    """``count`` updates of one run (a traced int, at most the static ``capacity``: one compiled
    program runs chunks of any length); an update that goes non-finite is not applied and the run
    stays frozen from then on. With a step budget (``total_steps``), a run that has spent it keeps
    its state and records ``skipped_metrics`` (applied: that is no divergence).

    Returns ``(state, alive, metrics, applied)``: ``Metrics`` leaves and ``applied`` have a leading
    ``[capacity]`` axis whose first ``count`` entries are the updates run (the rest are zeros).
    """
    _, shapes = jax.eval_shape(update, state, hp)
    metrics = jax.tree.map(lambda x: jnp.zeros((capacity, *x.shape), x.dtype), shapes)
    applied = jnp.zeros((capacity,), bool)

    def body(carry):
        i, s, ok, ms, app = carry
        s2, m = update(s, hp)
        finite = (jnp.isfinite(m.loss) & jnp.isfinite(m.grad_norm) & jnp.isfinite(m.value_loss)
                  & (m.nonfinite_obs == 0) & _all_finite(s2.params) & _all_finite(s2.value_params))
        trained = within_budget(s, total_steps)
        ok2 = ok & (finite | ~trained)
        s_out = jax.tree.map(lambda a, b: jax.lax.select(ok2 & trained, a, b), s2, s)
        if total_steps is not None:
            m = jax.tree.map(lambda a, b: jax.lax.select(trained, a, b), m, skipped_metrics(m))
        ms = jax.tree.map(lambda buf, x: jax.lax.dynamic_update_index_in_dim(buf, x, i, 0), ms, m)
        return i + 1, s_out, ok2, ms, jax.lax.dynamic_update_index_in_dim(app, ok2, i, 0)

    _, state, alive, metrics, applied = jax.lax.while_loop(
        lambda c: c[0] < count, body, (jnp.int32(0), state, alive, metrics, applied))
    return state, alive, metrics, applied


class Population:
    """The runs of a ``RunSpec`` laid out, keyed and compiled over a ``"runs"`` mesh.

    Args:
      spec: the ``RunSpec``.
      mesh: a one-axis ``"runs"`` mesh (default: every device; on one process with fewer runs
        than devices, the first ``num_runs`` of them).
      trainer: the spec's ``Trainer`` if already built (the env is built once per run).
      wave_runs: runs per program when the population runs in waves (a multiple of the device
        count; ``None``: one program holds every run).
      chunk: the most updates one execution of the chunk program runs, its ``capacity`` (its
        metrics buffer; default: about a tenth of ``config.num_updates``, not of the updates left,
        so a resumed run compiles nothing new); at most 2^22 runs x updates.
    """

    def __init__(self, spec: RunSpec, mesh: Mesh | None = None, trainer: Trainer | None = None,
                 wave_runs: int | None = None, chunk: int | None = None):
        self.spec = spec
        self.config = spec.config
        self.points = spec.point_list
        self.base = spec.hparams
        self.num_points, self.seeds, self.root_seed = spec.num_points, spec.seeds, spec.seed
        self.num_runs = spec.num_runs
        if mesh is None:
            devices = jax.devices()
            if jax.process_count() == 1 and self.num_runs < len(devices):
                # fewer runs than devices: no padded runs (padding one core's worth of runs cost
                # time on a 2-core CPU, where the spare device shares the cores: docs/performance.md)
                devices = devices[: self.num_runs]
            mesh = runs_mesh(devices)
        self.mesh = mesh
        if self.mesh.axis_names != ("runs",):
            raise RunError(f"the mesh must have one axis named 'runs', got {self.mesh.axis_names}")
        self.n_dev = int(self.mesh.devices.size)
        self.trainer = make_trainer(spec.config, seed_axis="runs_local") if trainer is None else trainer
        self.sharding = NamedSharding(self.mesh, PartitionSpec("runs"))
        self._seed_keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(self.root_seed),
                                                                           self.seeds)))
        self.wave_runs = wave_runs
        step = wave_runs or self.n_dev
        self.padded_runs = math.ceil(self.num_runs / step) * step
        idx = np.minimum(np.arange(self.padded_runs), self.num_runs - 1)
        self.run_point, self.run_seed = idx // self.seeds, idx % self.seeds
        self._key_data = self._seed_keys[self.run_seed]
        self._hparams = jax.tree.map(lambda v: np.asarray(v)[self.run_point], spec.hparams_points())
        self.capacity = min(int(chunk or chunk_length(spec.config.num_updates)), max(1, 2**22 // self.num_runs))
        tr, config = self.trainer, self.config
        self._init = _program(("init", config, self.padded_runs), lambda: jax.jit(
            jax.vmap(lambda kd, hp: tr.init(jax.random.wrap_key_data(kd), hp))))
        self._wrap = _program(("wrap", self.mesh), lambda: jax.jit(self._per_device(jax.random.wrap_key_data)))
        self._and = _program(("and", self.mesh), lambda: jax.jit(self._per_device(jnp.logical_and)))
        self.copy = _program(("copy",), lambda: jax.jit(lambda t: jax.tree.map(jnp.copy, t)))
        self._chunk = _program(("chunk", config, self.mesh, self.padded_runs), lambda: jax.jit(
            lambda state, alive, hp, count, capacity: self._per_device(
                jax.vmap(partial(guarded, tr.update, capacity=capacity, total_steps=config.total_steps),
                         in_axes=(0, 0, 0, None),
                         axis_name=tr.seed_axis), extra=1)(state, alive, hp, count),
            static_argnums=4, donate_argnums=(0, 1)))

    def with_waves(self, wave_runs: int | None) -> Population:
        """The same population laid out in waves of ``wave_runs`` (the trainer is reused)."""
        return Population(self.spec, self.mesh, self.trainer, wave_runs, self.capacity)

    @property
    def program_runs(self) -> int:
        """Runs one execution of the compiled programs holds: a wave, or every run."""
        return self.wave_runs or self.padded_runs

    @property
    def num_waves(self) -> int:
        return self.padded_runs // self.program_runs

    def _waves(self, fn: Callable) -> Callable:
        """``fn`` (compiled for one wave) applied to each wave of full ``[padded_runs]`` inputs in
        turn, the outputs joined again: every run gets exactly what one program would give it.
        Arguments after the runs' own (``rest``: the chunk's update count) go to every wave."""
        if self.wave_runs is None:
            return fn
        w, n = self.wave_runs, self.num_waves

        def waved(*args, rest=()):
            outs = []
            for i in range(n):
                part = jax.tree.map(lambda x, i=i: jax.device_put(x[i * w:(i + 1) * w], self.sharding), args)
                outs.append(fn(*part, *rest))
            return jax.tree.map(lambda *xs: jax.device_put(jnp.concatenate(xs), self.sharding), *outs)

        return waved

    def _per_device(self, fn: Callable, extra: int = 0) -> Callable:
        """``fn`` (batched over a leading runs axis) applied to each device's own runs; its last
        ``extra`` arguments are scalars every device gets whole."""
        spec = PartitionSpec("runs")
        in_specs = spec if not extra else (spec, spec, spec, *([PartitionSpec()] * extra))
        return jax.shard_map(fn, mesh=self.mesh, in_specs=in_specs, out_specs=spec, check_vma=False)

    # ------------------------------------------------------------------ placing
    def put(self, host: np.ndarray) -> jax.Array:
        """A global array sharded over runs from a host array every process holds."""
        host = np.asarray(host)
        return jax.make_array_from_callback(host.shape, self.sharding, lambda idx: host[idx])

    def pad(self, host: np.ndarray) -> np.ndarray:
        """``[R, ...]`` -> ``[padded_runs, ...]`` (the padding repeats the last run)."""
        return np.asarray(host)[np.minimum(np.arange(self.padded_runs), self.num_runs - 1)]

    def hparams(self) -> HParams:
        """The per-run ``HParams`` (leaves ``[padded_runs]``), sharded over runs."""
        return jax.tree.map(self.put, self._hparams)

    def init(self):
        """``(state, alive)``: every run's initial ``TrainState`` and ``alive`` flags, sharded.

        Every process computes the same small initial state on its default device and places it
        shard by shard.
        """
        state = jax.device_get(self._init(self._key_data, self._hparams))
        return self.place(state, np.ones(self.padded_runs, bool), padded=True)

    def fresh(self, hparams: dict[str, np.ndarray]):
        """Host ``TrainState`` ``[R]`` of every run started anew with per-run hyperparameters
        (``{field: [R]}``; the run's own seed keys): what a search puts in a slot it refills.
        Keys as raw ``key_data``."""
        hp = HParams(**{f: self.pad(np.asarray(v, np.float32)) for f, v in hparams.items()})
        state = self._init(self._key_data, hp)
        return self.gather(jax.device_get(state._replace(key=jax.random.key_data(state.key))))

    def place(self, state, alive, padded: bool = False):
        """Host ``(state [R], alive [R])`` (numpy, e.g. from a checkpoint) -> sharded device arrays."""
        fix = np.asarray if padded else self.pad
        key_data = fix(np.asarray(jax.random.key_data(state.key)))
        placed = jax.tree.map(lambda x: self.put(fix(x)), state._replace(key=None))
        return placed._replace(key=self._wrap(self.put(key_data))), self.put(fix(np.asarray(alive, bool)))

    def freeze(self, alive, runs: np.ndarray):
        """Device ``alive`` flags with the runs of ``runs`` (bool ``[R]``) set false."""
        return self._and(alive, self.put(self.pad(~np.asarray(runs, bool))))

    # ------------------------------------------------------------------ programs
    def abstract_inputs(self):
        """``(state, alive, hparams)`` of one program execution (a wave, or every run) as sharded
        ``ShapeDtypeStruct``s (nothing allocated)."""
        n = self.program_runs
        kd = jax.ShapeDtypeStruct((n, *self._key_data.shape[1:]), self._key_data.dtype)
        hp = jax.tree.map(lambda v: jax.ShapeDtypeStruct((n, *v.shape[1:]), v.dtype), self._hparams)
        shapes = jax.eval_shape(self._init, kd, hp)
        spec = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.sharding)  # noqa: E731
        hp = jax.tree.map(lambda v: jax.ShapeDtypeStruct((n, *v.shape[1:]), np.float32, sharding=self.sharding),
                          self._hparams)
        return jax.tree.map(spec, shapes), jax.ShapeDtypeStruct((n,), np.bool_, sharding=self.sharding), hp

    def compiled_chunk(self):
        """The compiled one-program ``chunk(state, alive, hparams, count) -> (state, alive,
        Metrics[capacity], applied[capacity])`` for ``program_runs`` runs: ``count`` (an int32
        scalar, at most ``capacity``) updates, any count without recompiling (compiled from
        abstract shapes: nothing is allocated)."""
        key = (self.config, self.mesh, self.program_runs, self.capacity)
        if key not in _COMPILED:
            a_state, a_alive, a_hp = self.abstract_inputs()
            count = jax.ShapeDtypeStruct((), np.int32, sharding=NamedSharding(self.mesh, PartitionSpec()))
            _COMPILED[key] = self._chunk.lower(a_state, a_alive, a_hp, count, self.capacity).compile()
        return _COMPILED[key]

    def compile(self) -> Callable:
        """``chunk(state, alive, hparams, count)`` over every run (wave after wave when in waves):
        ``count`` updates (a host int, 1 to ``capacity``); the metrics' first ``count`` entries hold them."""
        fn = self._waves(self.compiled_chunk())
        replicated = NamedSharding(self.mesh, PartitionSpec())

        def chunk(state, alive, hp, count: int):
            if not 1 <= count <= self.capacity:
                raise RunError(f"a chunk runs 1 to {self.capacity} updates, got {count}")
            n = jax.device_put(np.int32(count), replicated)
            return fn(state, alive, hp, rest=(n,)) if self.wave_runs is not None else fn(state, alive, hp, n)

        return chunk

    def eval_limit(self, max_steps: int | None) -> int:
        return int(max_steps or self.trainer.env_params.max_steps_in_episode)

    def compiled_eval(self, episodes: int, max_steps: int | None):
        """The compiled evaluation of ``program_runs`` runs: ``(key_data, params) -> (sampled, greedy)``."""
        tr, limit = self.trainer, self.eval_limit(max_steps)

        def one(kd, params):
            k1, k2 = jax.random.split(jax.random.wrap_key_data(kd))
            ev = lambda k, g: evaluate(k, tr.env, tr.env_params, tr.policy, params,  # noqa: E731
                                       int(episodes), limit, greedy=g, dist=tr.policy.dist)
            return ev(k1, False), ev(k2, True)

        key = ("eval", self.config, self.mesh, self.program_runs, int(episodes), limit)
        if key not in _COMPILED:
            a_state = self.abstract_inputs()[0]
            kd = jax.ShapeDtypeStruct((self.program_runs, *self._key_data.shape[1:]), self._key_data.dtype,
                                      sharding=self.sharding)
            _COMPILED[key] = jax.jit(self._per_device(jax.vmap(one))).lower(kd, a_state.params).compile()
        return _COMPILED[key]

    def evaluate(self, state, episodes: int, seed: int | None = None, max_steps: int | None = None,
                 at: int | None = None) -> dict[str, np.ndarray]:
        """``{"sampled": [R, K], "greedy": [R, K]}`` evaluation returns of every run's policy.

        Seed ``i`` uses ``split(fold_in(key(seed), 1), S)[i]`` (``jaxpg.agent.evaluation_key``),
        split once more for the two modes. An evaluation during training (``at`` = the updates
        done) uses ``fold_in(fold_in(key(seed), 2), at)`` instead, so each is fresh and none
        repeats the final one. ``max_steps``: the episode limit (default: the env's own).
        """
        seed = self.root_seed if seed is None else seed
        base = jax.random.fold_in(jax.random.key(seed), 1) if at is None else \
            jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 2), int(at))
        keys = np.asarray(jax.random.key_data(jax.random.split(base, self.seeds)))
        fn = self._waves(self.compiled_eval(int(episodes), max_steps))
        sampled, greedy_r = fn(self.put(keys[self.run_seed]), state.params)
        return {"sampled": self.gather(sampled), "greedy": self.gather(greedy_r)}

    # ------------------------------------------------------------------ outputs
    def gather(self, tree):
        """Every leaf as numpy ``[R, ...]`` on this process (the padding dropped; all processes call it)."""
        return jax.tree.map(lambda x: _gather(x)[: self.num_runs], tree)

    def gather_state(self, state):
        """A ``TrainState`` as host numpy ``[R, ...]``, its keys as raw ``key_data`` (uint32)."""
        return self.gather(state._replace(key=jax.random.key_data(state.key)))

    def to_points(self, x: np.ndarray) -> np.ndarray:
        """``[R, ...]`` -> ``[H, S, ...]``."""
        x = np.asarray(x)
        return x.reshape(self.num_points, self.seeds, *x.shape[1:])
