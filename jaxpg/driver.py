"""The driver: the one place that runs populations of training runs.

A population is H hyperparameter points × S seeds = R independent runs of one
static ``Config``. ``jaxpg train`` is a population of one point, ``jaxpg sweep`` a
grid; ``jaxpg bench``, the experiments and your own code (``jaxpg.run``) all come
through here. The driver owns, once:

- **layout**: one flat runs axis (run ``r`` is point ``r // S``, seed ``r % S``),
  padded to a multiple of the device count and sharded over a one-axis ``"runs"``
  mesh of every device of every process (``shard_map``: each device runs its own
  runs, no collectives);
- **keys**: seed ``i`` of every point starts from ``split(key(seed), S)[i]``, so a
  sweep point equals that point trained alone, and a vmapped seed equals it alone;
- **init and compilation** (timed apart from training);
- **chunks**: ``num_updates`` is cut into compiled chunks of equal length, each
  dispatched before the previous one is read back;
- **divergence**: every update is guarded in the compiled program: a run whose
  loss, gradient, value loss, observations or parameters go non-finite is frozen
  at its last finite state (``alive`` false) and reported by point and seed; a
  ``train`` stops, a sweep stops that point and finishes the others;
- **checkpoints** every K updates, at the end and on SIGINT/SIGTERM/SIGHUP (the
  running chunk finishes first), **resume**, and **evaluation** (sampled and greedy
  episodes of every run, in one compiled call);
- **the run directory**: ``checkpoint.json`` + ``checkpoints/<U>/`` (``jaxpg.checkpoint``)
  and ``metrics.csv`` + ``summary.json`` (train) or ``sweep.json`` (sweep), written
  atomically by process 0 (``jaxpg.rundir``).

Example::

    import jaxpg
    result = jaxpg.run(jaxpg.Config(env="CartPole-v1"), seeds=8, out="runs/cp")
    result.metrics.mean_return.shape   # (1, 8, 150): [points, seeds, updates]
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxpg import checkpoint, compile_cache, rundir
from jaxpg.evaluate import evaluate
from jaxpg.train import check_config, check_finite, make_trainer
from jaxpg.types import Config, HParams, Metrics

__all__ = ["Population", "RunResult", "Progress", "DriverError", "run", "resume", "runs_mesh",
           "stack_points", "HPARAM_FIELDS", "chunk_length"]

HPARAM_FIELDS = tuple(HParams.__dataclass_fields__)
MAX_UPDATES = 2**31 - 1  # TrainState.update is int32

# Compiled chunk programs, shared by every Population of the same (config, mesh, runs, chunk):
# new hyperparameter values of the same shape never recompile.
_COMPILED: dict[tuple, Any] = {}


_PROGRAMS: dict[tuple, Any] = {}


def _program(key: tuple, build: Callable) -> Any:
    """A jitted function shared by every Population with the same key (so a second run of the
    same shape traces and compiles nothing)."""
    if key not in _PROGRAMS:
        _PROGRAMS[key] = build()
    return _PROGRAMS[key]


class DriverError(ValueError):
    """Bad input to the driver, or a run that cannot go on (one line; the CLI exits 2)."""


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named ``"runs"`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), ("runs",))


def stack_points(base: HParams, points: Sequence[Mapping[str, Any]]) -> HParams:
    """``HParams`` whose leaves have a leading ``[H]`` axis, one entry per point.

    Fields a point does not name take ``base``'s value; every point is validated as a
    whole ``HParams`` first.
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


def chunk_length(updates: int, requested: int | None = None, periods: Sequence[int | None] = ()) -> int:
    """Updates per compiled chunk: ``requested`` (must divide ``updates``), or the divisor of
    ``updates`` (and of every period given: ``--save-every``, ``--eval-every``) nearest to a
    tenth of the run (every chunk has the same static length)."""
    if requested is not None:
        if updates % requested:
            raise DriverError(f"--progress-every {requested} must divide the {updates} updates to run "
                              "(every compiled chunk has the same length)")
        return requested
    target = max(1, updates // 10)
    g = math.gcd(updates, *(int(p) for p in periods if p))
    divisors = set()
    for d in range(1, math.isqrt(g) + 1):
        if g % d == 0:
            divisors.update((d, g // d))
    return min(divisors, key=lambda d: (abs(d - target), d))


def _gather(x) -> np.ndarray:
    """A (possibly multi-process, sharded) array as a full numpy array on this process."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


class Population:
    """H points × S seeds of one ``Config`` as one sharded, compiled program.

    Args:
      config: the static ``Config`` shared by every run.
      points: hyperparameter points (dicts of ``HParams`` fields), in report order;
        ``None``: one point, ``base`` itself.
      seeds: S, seeds per point.
      base: values of the fields the points do not name (default ``HParams()``).
      seed: root seed; seed ``i`` uses ``split(key(seed), S)[i]``.
      mesh: a one-axis ``"runs"`` mesh (default: every device).
    """

    def __init__(self, config: Config, points: Sequence[Mapping[str, Any]] | None = None, seeds: int = 1,
                 base: HParams | None = None, seed: int = 0, mesh: Mesh | None = None):
        if isinstance(seeds, bool) or not isinstance(seeds, int | np.integer) or seeds <= 0:
            raise DriverError(f"seeds must be a positive integer, got {seeds!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise DriverError(f"seed must be an integer, got {seed!r}")
        check_config(config)
        if config.num_updates > MAX_UPDATES:
            raise DriverError(f"num_updates must be at most {MAX_UPDATES:,}, got {config.num_updates:,}")
        compile_cache.enable()  # the persistent compilation cache (JAXPG_COMPILE_CACHE=0: off)
        self.config = config
        self.points = [{}] if points is None else [dict(p) for p in points]
        self.base = HParams() if base is None else base
        self.hparams_points = stack_points(self.base, self.points)
        self.num_points = len(self.points)
        self.seeds = int(seeds)
        self.root_seed = int(seed)
        self.num_runs = self.num_points * self.seeds
        self.mesh = runs_mesh() if mesh is None else mesh
        if self.mesh.axis_names != ("runs",):
            raise DriverError(f"the mesh must have one axis named 'runs', got {self.mesh.axis_names}")
        n_dev = self.mesh.devices.size
        self.trainer = make_trainer(config, seed_axis="runs_local")
        self.sharding = NamedSharding(self.mesh, PartitionSpec("runs"))
        try:
            root = jax.random.key(self.root_seed)
        except (OverflowError, TypeError, ValueError):
            raise DriverError(f"seed must fit in 64 bits, got {self.root_seed}") from None
        self._seed_keys = np.asarray(jax.random.key_data(jax.random.split(root, self.seeds)))
        self.wave_runs: int | None = None  # runs per wave when the population runs in waves
        self.max_memory: int | None = None  # a budget (bytes) below the device's memory
        self._layout(math.ceil(self.num_runs / n_dev) * n_dev)
        tr = self.trainer
        key = (config, self.mesh, self.padded_runs)
        self._init = _program(("init", config, self.padded_runs), lambda: jax.jit(
            jax.vmap(lambda kd, hp: tr.init(jax.random.wrap_key_data(kd), hp))))
        self._wrap = _program(("wrap", self.mesh), lambda: jax.jit(self._per_device(jax.random.wrap_key_data)))
        self._and = _program(("and", self.mesh), lambda: jax.jit(self._per_device(jnp.logical_and)))
        self._copy = _program(("copy",), lambda: jax.jit(lambda t: jax.tree.map(jnp.copy, t)))
        self._chunk = _program(("chunk", *key), lambda: jax.jit(
            lambda state, alive, hp, n: self._per_device(
                jax.vmap(partial(self._guarded, num_updates=n), axis_name=tr.seed_axis))(state, alive, hp),
            static_argnums=3, donate_argnums=(0, 1)))

    def _layout(self, padded_runs: int) -> None:
        """Per-run index arrays for ``padded_runs`` runs (the padding repeats the last run)."""
        self.padded_runs = int(padded_runs)
        idx = np.minimum(np.arange(self.padded_runs), self.num_runs - 1)
        self._run_point, self._run_seed = idx // self.seeds, idx % self.seeds
        self._key_data = self._seed_keys[self._run_seed]
        self._hparams = jax.tree.map(lambda v: np.asarray(v)[self._run_point], self.hparams_points)

    @property
    def program_runs(self) -> int:
        """Runs one execution of the compiled programs holds: a wave, or every run."""
        return self.wave_runs or self.padded_runs

    @property
    def _cache_key(self):
        return (self.config, self.mesh, self.program_runs)

    @property
    def num_waves(self) -> int:
        return self.padded_runs // self.program_runs

    def _waves(self, fn: Callable) -> Callable:
        """``fn`` (compiled for one wave) applied to each wave of full ``[padded_runs]`` inputs in
        turn, the outputs joined again: every run gets exactly what one program would give it."""
        if self.wave_runs is None:
            return fn
        w, n = self.wave_runs, self.num_waves

        def waved(*args):
            outs = []
            for i in range(n):
                part = jax.tree.map(lambda x, i=i: jax.device_put(x[i * w:(i + 1) * w], self.sharding), args)
                outs.append(fn(*part))
            return jax.tree.map(lambda *xs: jax.device_put(jnp.concatenate(xs), self.sharding), *outs)

        return waved

    # ------------------------------------------------------------------ programs
    def _guarded(self, state, alive, hp, num_updates: int):
        """``num_updates`` updates of one run; an update that goes non-finite is not applied
        and the run stays frozen from then on. Returns (state, alive, metrics, applied)."""
        update = self.trainer.update

        def body(carry, _):
            s, ok = carry
            s2, m = update(s, hp)
            finite = (jnp.isfinite(m.loss) & jnp.isfinite(m.grad_norm) & jnp.isfinite(m.value_loss)
                      & (m.nonfinite_obs == 0) & _all_finite(s2.params) & _all_finite(s2.value_params))
            ok2 = ok & finite
            s_out = jax.tree.map(lambda a, b: jax.lax.select(ok2, a, b), s2, s)
            return (s_out, ok2), (m, ok2)

        (state, alive), (metrics, applied) = jax.lax.scan(body, (state, alive), None, length=num_updates)
        return state, alive, metrics, applied

    def _per_device(self, fn: Callable) -> Callable:
        """``fn`` (batched over a leading runs axis) applied to each device's own runs."""
        spec = PartitionSpec("runs")
        return jax.shard_map(fn, mesh=self.mesh, in_specs=spec, out_specs=spec, check_vma=False)

    def _put(self, host: np.ndarray) -> jax.Array:
        """A global array sharded over runs from a host array every process holds."""
        host = np.asarray(host)
        return jax.make_array_from_callback(host.shape, self.sharding, lambda idx: host[idx])

    def pad(self, host: np.ndarray) -> np.ndarray:
        """``[R, ...]`` -> ``[padded_runs, ...]`` (the padding repeats the last run)."""
        host = np.asarray(host)
        return host[np.minimum(np.arange(self.padded_runs), self.num_runs - 1)]

    def hparams(self) -> HParams:
        """The per-run ``HParams`` (leaves ``[padded_runs]``), sharded over runs."""
        return jax.tree.map(self._put, self._hparams)

    def init(self):
        """``(state, alive)``: every run's initial ``TrainState`` and ``alive`` flags, sharded.

        Every process computes the same small initial state on its default device and
        places it shard by shard.
        """
        state = jax.device_get(self._init(self._key_data, self._hparams))
        return self.place(state, np.ones(self.padded_runs, bool), padded=True)

    def place(self, state, alive, padded: bool = False):
        """Host ``(state [R], alive [R])`` (numpy, e.g. from a checkpoint) -> sharded device arrays."""
        fix = (lambda x: np.asarray(x)) if padded else self.pad
        key_data = fix(np.asarray(jax.random.key_data(state.key)))
        placed = jax.tree.map(lambda x: self._put(fix(x)), state._replace(key=None))
        return placed._replace(key=self._wrap(self._put(key_data))), self._put(fix(np.asarray(alive, bool)))

    def abstract_inputs(self):
        """``(state, alive, hparams)`` of one program execution (a wave, or every run) as
        sharded ``ShapeDtypeStruct``s (nothing allocated)."""
        n = self.program_runs
        shapes = jax.eval_shape(self._init, jax.ShapeDtypeStruct((n, *self._key_data.shape[1:]), self._key_data.dtype),
                                jax.tree.map(lambda v: jax.ShapeDtypeStruct((n, *v.shape[1:]), v.dtype),
                                             self._hparams))
        spec = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.sharding)  # noqa: E731
        hp = jax.tree.map(lambda v: jax.ShapeDtypeStruct((n, *v.shape[1:]), np.float32, sharding=self.sharding),
                          self._hparams)
        return (jax.tree.map(spec, shapes), jax.ShapeDtypeStruct((n,), np.bool_, sharding=self.sharding), hp)

    def compile(self, chunk: int, state=None, alive=None):
        """The compiled ``chunk(state, alive, hparams) -> (state, alive, Metrics[chunk], applied)``.

        Compiled once per chunk length (from abstract shapes: nothing is allocated); every
        population of the same config, mesh and run count shares it.
        """
        return self._waves(self._compiled_chunk(chunk))

    def _compiled_chunk(self, chunk: int):
        key = (*self._cache_key, int(chunk))
        if key not in _COMPILED:
            a_state, a_alive, a_hp = self.abstract_inputs()
            _COMPILED[key] = self._chunk.lower(a_state, a_alive, a_hp, int(chunk)).compile()
        return _COMPILED[key]

    def memory_analysis(self, chunk: int):
        """XLA's memory analysis of the compiled chunk (``None`` where the backend has none)."""
        try:
            return self._compiled_chunk(chunk).memory_analysis()
        except Exception:  # noqa: BLE001 - backends without it
            return None

    def memory_needed(self, chunk: int, eval_episodes: int = 0, eval_max_steps: int | None = None) -> dict:
        """Bytes per device the run needs, from XLA's memory analysis of the compiled programs.

        ``train``: arguments + outputs + temporaries of one chunk, less what donation aliases;
        ``eval``: the same for the evaluation program (its trajectory buffers can dominate: K
        episodes x the env's step limit); ``state``: the population's state. The peak is the
        larger of the two programs (they run one after the other).
        """
        out = {"train": None, "eval": None}
        ma = self.memory_analysis(chunk)
        if ma is not None:
            out["train"] = int(ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes
                               - ma.alias_size_in_bytes)
        if eval_episodes:
            try:
                ema = self._eval_fn(int(eval_episodes), eval_max_steps).memory_analysis()
                out["eval"] = int(ema.argument_size_in_bytes + ema.output_size_in_bytes + ema.temp_size_in_bytes)
            except Exception:  # noqa: BLE001 - backends without memory analysis
                out["eval"] = None
        out["peak"] = max([v for v in out.values() if v is not None], default=None)
        return out

    def check_memory(self, chunk: int, eval_episodes: int = 0, eval_max_steps: int | None = None) -> str | None:
        """Fits the population in the memory available, before anything is allocated.

        If one program holding every run fits, nothing changes (returns None). Otherwise the
        population runs in **waves**: each chunk of updates (and the evaluation) runs the same
        compiled program on ``wave_runs`` runs at a time, in turn, so every run advances in
        lockstep (checkpoints, signals and resume are unchanged) and gets exactly what one
        program would give it. The wave is the largest multiple of the device count whose
        program fits (XLA's memory analysis); returns the plan as one line. A population whose
        single run per device does not fit is refused (``DriverError``, one line).

        The budget is ``max_memory`` / ``JAXPG_MAX_MEMORY`` (bytes, e.g. ``6e9``) if set, else
        the device's free memory (accelerators), or the host's available memory, cgroup limit
        and address-space limit (CPU; the host's devices share it).
        """
        avail, what = available_memory(self.mesh, self.max_memory)
        local = sum(1 for d in self.mesh.devices.flat if d.process_index == jax.process_index())
        factor = local if self.mesh.devices.flat[0].platform == "cpu" else 1

        def need_now():
            need = self.memory_needed(chunk, eval_episodes, eval_max_steps)
            return need, (None if need["peak"] is None else need["peak"] * factor)

        need, per = need_now()
        if per is None or avail is None or per <= avail:
            return None
        whole, n_dev = per, self.mesh.devices.size
        # a first guess from the whole program's size; memory is not linear in the runs (the loss
        # is chunked per program), so the guess is only a start and a wave of one run per device
        # is always measured before the run is refused (the message then gives its real need)
        w = max(int(avail / (per / self.program_runs)) // n_dev * n_dev, n_dev)
        while w >= n_dev:
            self.wave_runs = w
            self._layout(math.ceil(self.num_runs / w) * w)
            need, per = need_now()
            if per <= avail:
                # as few waves as fit, evened out (4,096 runs that fit 2,772 at a time: 2 of 2,048)
                waves = math.ceil(self.num_runs / w)
                even = math.ceil(math.ceil(self.num_runs / waves) / n_dev) * n_dev
                if even < w:
                    w = self.wave_runs = even
                    self._layout(waves * even)
                    need, per = need_now()
                return (f"{self.num_runs:,} runs need ~{_gib(whole)} in one program, {_gib(avail)} is available "
                        f"({what}): {self.num_waves} waves of {w:,} runs, ~{_gib(per)} each")
            w = (w // 2) // n_dev * n_dev
        self.wave_runs = None
        self._layout(math.ceil(self.num_runs / n_dev) * n_dev)
        which = "evaluation" if need["eval"] and need["eval"] == need["peak"] else "training"
        raise DriverError(
            f"this run needs ~{_gib(per)} ({which}: {n_dev} of {self.num_runs} runs x {self.config.num_envs} envs, "
            f"{self.config.max_steps or self.trainer.max_steps} steps, hidden {list(self.config.hidden)}) but "
            f"{_gib(avail)} is available ({what}), even in waves of one run per device; lower --num-envs, "
            "--max-steps, --hidden" + (" or --eval-episodes" if which == "evaluation" else "") +
            ", or use more devices")

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

    def _eval_fn(self, episodes: int, max_steps: int | None):
        tr = self.trainer
        limit = int(max_steps or tr.env_params.max_steps_in_episode)

        def one(kd, params):
            k1, k2 = jax.random.split(jax.random.wrap_key_data(kd))
            ev = lambda k, g: evaluate(k, tr.env, tr.env_params, tr.policy.apply, params,  # noqa: E731
                                       int(episodes), limit, greedy=g, dist=tr.policy.dist)
            return ev(k1, False), ev(k2, True)

        key = ("eval", *self._cache_key, int(episodes), limit)
        if key not in _COMPILED:
            a_state = self.abstract_inputs()[0]
            kd = jax.ShapeDtypeStruct((self.program_runs, *self._key_data.shape[1:]), self._key_data.dtype,
                                      sharding=self.sharding)
            _COMPILED[key] = jax.jit(self._per_device(jax.vmap(one))).lower(kd, a_state.params).compile()
        return _COMPILED[key]

    def evaluate(self, state, episodes: int, greedy: bool = False, seed: int | None = None,
                 max_steps: int | None = None, at: int | None = None) -> dict[str, np.ndarray]:
        """``{"sampled": [R, K], "greedy": [R, K]}`` evaluation returns of every run's policy.

        Seed ``i`` uses ``split(fold_in(key(seed), 1), S)[i]`` (``jaxpg.agent.evaluation_key``),
        split once more for the two modes. An evaluation during training (``at`` = the updates
        done) uses ``fold_in(fold_in(key(seed), 2), at)`` instead, so each is fresh and none
        repeats the final one. ``max_steps``: the episode limit (default: the env's own).
        """
        seed = self.root_seed if seed is None else seed
        limit = int(max_steps or self.trainer.env_params.max_steps_in_episode)
        base = jax.random.fold_in(jax.random.key(seed), 1) if at is None else \
            jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 2), int(at))
        keys = np.asarray(jax.random.key_data(jax.random.split(base, self.seeds)))
        fn = self._waves(self._eval_fn(int(episodes), limit))
        sampled, greedy_r = fn(self._put(keys[self._run_seed]), state.params)
        return {"sampled": self.gather(sampled), "greedy": self.gather(greedy_r)}


def _gib(n: float) -> str:
    if n >= 2**28:
        return f"{n / 2**30:,.1f} GiB"
    return f"{n / 2**20:,.0f} MiB" if n >= 2**22 else f"{n / 2**10:,.0f} KiB"


def available_memory(mesh: Mesh | None = None, budget: int | None = None) -> tuple[int | None, str]:
    """``(bytes, what)``: the memory a run may use on this process's devices.

    ``budget`` (``--max-memory``), then ``JAXPG_MAX_MEMORY`` (bytes) win; an accelerator reports
    its free memory; on CPU it is the smallest of the host's available memory, the cgroup's limit
    less its usage, and the address-space limit less the process's size.
    """
    import os
    import resource

    if budget is not None:
        return int(budget), "--max-memory"
    env = os.environ.get("JAXPG_MAX_MEMORY")
    if env:
        try:
            return int(float(env)), "JAXPG_MAX_MEMORY"
        except ValueError:
            raise DriverError(f"JAXPG_MAX_MEMORY must be a number of bytes, got {env!r}") from None
    dev = (mesh.devices.flat[0] if mesh is not None else jax.devices()[0])
    if dev.platform != "cpu":
        try:
            st = dev.memory_stats() or {}
            if "bytes_limit" in st:
                return int(st["bytes_limit"] - st.get("bytes_in_use", 0)), f"free on {dev.device_kind}"
        except Exception:  # noqa: BLE001
            pass
        return None, "unknown"
    found: list[tuple[int, str]] = []
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "host memory available"))
    except OSError:
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            lim = open(limit_file).read().strip()
            if lim != "max" and int(lim) < 2**60:
                found.append((int(lim) - int(open(usage_file).read().strip()), "cgroup memory limit"))
            break
        except (OSError, ValueError):
            continue
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
            found.append((soft - size, "address-space limit (ulimit -v)"))
        except (OSError, ValueError):
            found.append((soft, "address-space limit (ulimit -v)"))
    return min(found) if found else (None, "unknown")


class _MemoryErrors:
    """Turns an out-of-memory error that still happens into a one-line ``DriverError``."""

    def __init__(self, pop, config):
        self.pop, self.config = pop, config

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if exc is None:
            return False
        text = str(exc)
        if isinstance(exc, MemoryError) or "RESOURCE_EXHAUSTED" in text or "Out of memory" in text:
            first = next((ln for ln in text.splitlines() if ln.strip()), type(exc).__name__)
            raise DriverError(f"out of memory: {first.strip()[:160]}; lower --seeds, --num-envs, --max-steps "
                              "or --hidden, or use more devices") from None
        return False


_memory_errors = _MemoryErrors


class Progress(NamedTuple):
    """What the driver reports after each chunk (``progress`` callback of ``run``).

    ``update``/``total``: updates done / to do; ``mean_return``: ``[H, S]`` training return of
    the chunk's last update; ``env_steps``: valid env steps of this process's training so far;
    ``steps_per_s``: over this process's own training time; ``elapsed_s``; ``eta_s``;
    ``metrics``: the chunk's ``Metrics``, leaves ``[H, S, chunk]`` (update ``update - chunk + 1``
    first); ``evaluation``: with ``eval_every``, the evaluation at ``update`` (a
    ``RunResult.eval_curve`` row: ``env_steps``, ``sampled_mean``, ... ``[H, S]``), else None.
    """

    update: int
    total: int
    mean_return: np.ndarray
    env_steps: int
    steps_per_s: float
    elapsed_s: float
    eta_s: float
    metrics: Metrics
    evaluation: dict | None = None


class RunResult(NamedTuple):
    """What ``run``/``resume`` return (host numpy arrays, leading ``[H, S]``).

    Attributes:
      metrics: ``Metrics`` with leaves ``[H, S, updates_done]`` (updates a run did not apply
        after it diverged are NaN, env_steps 0).
      eval_returns: ``{"sampled": [H, S, K], "greedy": [H, S, K]}``, or None (interrupted).
      state: the final ``TrainState`` (device arrays, leading ``[padded_runs]``).
      population: the ``Population``.
      updates_done: updates every run was driven through.
      diverged: ``{point: message}`` of the points with a seed that went non-finite.
      interrupted: the signal name that stopped the run early (``"SIGINT"``...), or None.
      stopped_early: every run reached ``target``.
      timings: ``compile_s``, ``train_s``, ``eval_s``, ``wall_s``.
      env_steps: valid env steps trained by this process (not counting a resumed past).
      out: the run directory, or None.
      settings: what the run directory records (kind "train"/"sweep", points, axes, eval settings...).
      eval_curve: with ``eval_every``, the evaluations during training: ``{"update": [E],
        "env_steps", "sampled_mean", "sampled_std", "greedy_mean", "greedy_std": [H, S, E]}``
        (``env_steps``: each run's valid training steps so far); else None.
    """

    metrics: Metrics
    eval_returns: dict[str, np.ndarray] | None
    state: Any
    population: Population
    updates_done: int
    diverged: dict[int, str]
    interrupted: str | None
    stopped_early: bool
    timings: dict[str, float]
    env_steps: int
    out: Path | None
    settings: dict
    eval_curve: dict[str, np.ndarray] | None = None

    @property
    def exit_code(self) -> int:
        """What a command line exits with: 2 diverged (train), 128+signal interrupted, else 0."""
        if self.interrupted:
            return 128 + int(getattr(signal, self.interrupted, signal.SIGINT))
        return 0


class _Signals:
    """How a run stops on a signal, with nothing lost.

    SIGINT (Ctrl-C) stops after the running chunk: it is read back and saved. SIGTERM and SIGHUP
    (what job schedulers send before a kill), or a second SIGINT, are *urgent*: the last chunk
    already read back is saved at once and the running one is dropped. Any further signal is
    reported and deferred until the checkpoint and the result files are written.
    """

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self, lead: bool, enabled: bool = True):
        self.received: str | None = None
        self.urgent = False
        self._log = (lambda text: print(text, file=sys.stderr, flush=True)) if lead else (lambda text: None)
        self._old: dict = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()

    def __call__(self) -> bool:
        return self.received is not None

    def _handler(self, signum, frame):
        name = signal.Signals(signum).name
        first = self.received is None
        if first:
            self.received = name
        if name != "SIGINT" or not first:
            if not self.urgent:
                self.urgent = True
                self._log(f"interrupted ({name}): saving the last finished chunk now and stopping "
                          "(the chunk that is running is dropped; further signals are deferred until "
                          "the files are written)")
            else:
                self._log(f"interrupted again ({name}): already stopping; the files are being written")
        else:
            self._log(f"interrupted ({name}): finishing the running chunk, then saving and stopping "
                      "(Ctrl-C again: save the last finished chunk now)")

    def __enter__(self):
        if self._enabled:
            for name in self.NAMES:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def _eta_bar(done: int, total: int, eta_s: float) -> str:
    width = 20
    filled = round(width * done / max(total, 1))
    m, s = divmod(int(round(eta_s)), 60)
    return f"[{'#' * filled}{'-' * (width - filled)}] eta {f'{m}m{s:02d}s' if m else f'{s}s'}"


def run(config: Config, points: Sequence[Mapping[str, Any]] | None = None, *, seeds: int = 8,
        hparams: HParams | None = None, seed: int = 0, out: str | Path | None = None,
        chunk: int | None = None, save_every: int | None = None, eval_episodes: int = 32,
        eval_greedy: bool = False, eval_max_steps: int | None = None, target: float | None = None,
        progress: Callable[[Progress], None] | None = None, log: Callable[[str], None] | None = None,
        mesh: Mesh | None = None, overwrite: bool = False, handle_signals: bool = True,
        axes: Sequence[str] | None = None, eval_every: int | None = None,
        max_memory: float | None = None) -> RunResult:
    """Trains a population (``points`` × ``seeds`` of ``config``), evaluates it and writes ``out``.

    Args:
      config: the static ``Config`` (``num_updates`` updates per run).
      points: hyperparameter points, dicts of ``HParams`` fields on top of ``hparams``
        (``None``: a ``train`` run, one point; a list: a sweep, written as ``sweep.json``).
      seeds: S, seeds per point. seed: the root seed.
      hparams: the base ``HParams`` (default ``HParams()``).
      out: the run directory (``None``: write nothing). It must be empty or new unless
        ``overwrite`` (the old run is removed once the new one has written its first
        checkpoint); continue a run with ``resume``.
      chunk: updates per compiled chunk (default: ~1/10 of the run; must divide it).
      save_every: also checkpoint every K updates (a multiple of ``chunk``; needs ``out``).
      eval_episodes: evaluation episodes per run (sampled and greedy), 0 for none.
      eval_greedy: report greedy rather than sampled evaluation in the summary.
      eval_max_steps: evaluation episode limit (default: the env's own).
      eval_every: also evaluate every K updates during training (``eval_episodes`` episodes,
        sampled and greedy; a multiple of ``chunk``): ``RunResult.eval_curve`` and
        ``out/evals.csv``.
      target: stop once every run's training return has reached it.
      max_memory: the memory budget in bytes (default: what the device has free); a population
        whose one program does not fit runs in waves (``Population.check_memory``).
      progress: called with a ``Progress`` after every chunk. log: called with each
        human-readable line (start, compile time, a progress line per chunk, notes).
      mesh: the ``"runs"`` mesh (default: every device). overwrite: see ``out``.
      handle_signals: SIGINT/SIGTERM/SIGHUP stop after the running chunk and save.
      axes: the swept field names in column order (default: the fields the points name).

    Returns:
      A ``RunResult``.

    Raises:
      DriverError: bad arguments (one line, before anything is compiled).
    """
    t_start = time.perf_counter()
    if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, int) or eval_episodes < 0:
        raise DriverError(f"eval_episodes must be a non-negative integer, got {eval_episodes!r}")
    kind = "train" if points is None else "sweep"
    pop = Population(config, points, seeds, hparams, seed, mesh)
    pop.max_memory = _check_budget(max_memory)
    axes = list(axes) if axes is not None else list(dict.fromkeys(k for p in pop.points for k in p))
    out = None if out is None else Path(out)
    if out is not None:
        rundir.prepare(out, overwrite=overwrite, lead=jax.process_index() == 0, create=False)
    settings = {
        "kind": kind, "run_id": uuid.uuid4().hex, "env": config.env, "seeds": pop.seeds,
        "root_seed": pop.root_seed, "points": pop.points, "axes": axes,
        "config": checkpoint.settings_dict(config), "hparams": pop.base.to_dict(),
        "eval_episodes": eval_episodes, "eval_greedy": bool(eval_greedy),
        "eval_max_steps": int(eval_max_steps or pop.trainer.env_params.max_steps_in_episode),
        "eval_every": _check_eval_every(eval_every, eval_episodes), "overwrite": bool(overwrite),
    }
    return _drive(pop, settings, None, config.num_updates, out, chunk, save_every, target, progress, log,
                  handle_signals, t_start)


def resume(out: str | Path, *, updates: int | None = None, chunk: int | None = None,
           save_every: int | None = None, progress: Callable[[Progress], None] | None = None,
           log: Callable[[str], None] | None = None, mesh: Mesh | None = None,
           handle_signals: bool = True, target: float | None = None, eval_episodes: int | None = None,
           eval_greedy: bool | None = None, eval_max_steps: int | None = None,
           eval_every: int | None = None, max_memory: float | None = None) -> RunResult | None:
    """Continues the run saved in ``out`` to ``updates`` total updates (default: its own).

    Returns ``None`` (and changes nothing) when the run has already done them. The evaluation
    settings are the saved ones unless given.

    Raises:
      DriverError: no loadable checkpoint, or ``updates`` below the updates already done.
    """
    t_start = time.perf_counter()
    out = Path(out)
    try:
        rundir.check_no_symlinks(out)
        ck = checkpoint.load(out, whole=True)
    except (checkpoint.CheckpointError, rundir.RunDirError) as e:
        raise DriverError(str(e)) from None
    total = ck.config.num_updates if updates is None else int(updates)
    if total < ck.updates_done:
        raise DriverError(f"--updates {total} is below the {ck.updates_done} updates already done")
    if total > MAX_UPDATES:
        raise DriverError(f"--updates must be at most {MAX_UPDATES:,}, got {total:,}")
    if total == ck.updates_done:
        return None
    meta = ck.meta
    kind = meta.get("kind", "train")
    pop = Population(ck.config, None if kind == "train" else ck.points, ck.seeds, ck.hparams, ck.root_seed,
                     mesh)
    pop.max_memory = _check_budget(max_memory)
    settings = {k: meta.get(k) for k in ("kind", "run_id", "env", "seeds", "root_seed", "points", "axes",
                                         "config", "hparams", "eval_episodes", "eval_greedy",
                                         "eval_max_steps")}
    settings.update(kind=kind, points=pop.points, axes=meta.get("axes", []),
                    eval_episodes=int(meta.get("eval_episodes", 32)),
                    eval_greedy=bool(meta.get("eval_greedy", False)),
                    eval_max_steps=int(meta.get("eval_max_steps") or
                                       pop.trainer.env_params.max_steps_in_episode),
                    eval_every=meta.get("eval_every"),
                    run_id=meta.get("run_id") or uuid.uuid4().hex, overwrite=False,
                    wall_seconds_before=float(meta.get("wall_seconds_total", 0.0)))
    for k, v in (("eval_episodes", eval_episodes), ("eval_greedy", eval_greedy),
                 ("eval_max_steps", eval_max_steps), ("eval_every", eval_every)):
        if v is not None:
            settings[k] = v
    settings["eval_every"] = _check_eval_every(settings["eval_every"], settings["eval_episodes"])
    if total > ck.config.num_updates and ck.config.lr_schedule == "linear" and log is not None:
        log(f"note: the linear learning-rate schedule of this run ends at update {ck.config.num_updates}; "
            "the updates past it run at learning rate 0")
    return _drive(pop, settings, ck, total, out, chunk, save_every, target, progress, log, handle_signals,
                  t_start)


def _drive(pop: Population, settings: dict, ck, total: int, out: Path | None, chunk: int | None,
           save_every: int | None, target: float | None, progress, log, handle_signals: bool,
           t_start: float) -> RunResult:
    lead = jax.process_index() == 0
    say = (lambda text: None) if (log is None or not lead) else log
    base = 0 if ck is None else ck.updates_done
    remaining = total - base
    chunk = chunk_length(remaining, chunk, (save_every, settings.get("eval_every")))
    if save_every is not None:
        if out is None:
            raise DriverError("--save-every needs --out (the directory the checkpoints go to)")
        if save_every % chunk:
            raise DriverError(f"--save-every {save_every} must be a multiple of the chunk of {chunk} updates "
                              "(--progress-every)")
    every = settings.get("eval_every")
    if every is not None and every % chunk:
        raise DriverError(f"--eval-every {every} must be a multiple of the chunk of {chunk} updates "
                          "(--progress-every)")
    config = pop.config
    n_dev = pop.mesh.devices.size
    verb = f"resuming {out} at update {base}: " if ck is not None else ""
    shape = (f"{pop.seeds} seeds" if settings["kind"] == "train"
             else f"{pop.num_points} points x {pop.seeds} seeds = {pop.num_runs} runs")
    say(f"jaxpg {settings['kind']}: {verb}{config.env}, {shape} x {config.num_envs} envs, {total} updates, "
        f"{n_dev} {jax.default_backend()} device(s) in {jax.process_count()} process(es)")
    if pop.padded_runs != pop.num_runs:
        say(f"  {pop.num_runs} runs do not divide over {n_dev} devices: padded to {pop.padded_runs} "
            "(the padding repeats the last run and is dropped from the results)")

    _same_settings_everywhere(settings, total, chunk, save_every, target)
    signals = _Signals(lead, handle_signals)
    with signals, _memory_errors(pop, config):
        t0 = time.perf_counter()
        run_c = pop.compile(chunk)  # from abstract inputs: nothing is allocated before the check
        plan = pop.check_memory(chunk, settings["eval_episodes"], settings["eval_max_steps"])
        if plan is not None:
            say(f"  {plan}")
            run_c = pop.compile(chunk)
        if ck is None:
            state, alive = pop.init()
            collected: list[Metrics] = []
        else:
            state, alive = pop.place(ck.state, ck.alive)
            collected = [Metrics(**{f: ck.metrics[f] for f in Metrics._fields})]
        hp = pop.hparams()
        compile_s = time.perf_counter() - t0
        say(f"compiled in {compile_s:.1f} s")
        return _train_loop(pop, settings, ck, total, out, chunk, save_every, target, progress, say, lead,
                           signals, t_start, base, remaining, state, alive, collected, run_c, hp, compile_s)


def _check_budget(max_memory) -> int | None:
    if max_memory is None:
        return None
    try:
        value = float(max_memory)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(max_memory, bool) or not math.isfinite(value) or value <= 0:
        raise DriverError(f"max_memory must be a positive number of bytes, got {max_memory!r}")
    return int(value)


def _check_eval_every(eval_every, eval_episodes) -> int | None:
    if eval_every is None:
        return None
    if isinstance(eval_every, bool) or not isinstance(eval_every, int | np.integer) or eval_every <= 0:
        raise DriverError(f"eval_every must be a positive integer, got {eval_every!r}")
    if not eval_episodes:
        raise DriverError("--eval-every needs evaluation episodes (--eval-episodes > 0)")
    return int(eval_every)


def _same_settings_everywhere(settings: dict, *extra) -> None:
    """In a multi-process run, every process must run the same population: compares a hash of
    the settings across processes and refuses (one line) a mismatch, before anything compiles."""
    if jax.process_count() == 1:
        return
    import hashlib
    import json

    from jax.experimental import multihost_utils

    mine = {k: v for k, v in settings.items() if k not in ("run_id", "overwrite")}
    digest = hashlib.sha256(json.dumps([mine, extra], sort_keys=True, default=str).encode()).digest()
    local = np.frombuffer(digest[:8], np.uint32)
    every = np.asarray(multihost_utils.process_allgather(local))
    differ = [i for i in range(every.shape[0]) if not np.array_equal(every[i], every[0])]
    if differ:
        raise DriverError(f"the processes disagree on the run's settings (process {differ[0]} differs from "
                          "process 0): start every process with the same flags")


def _wait(tree, signals: _Signals) -> bool:
    """Waits for every array of ``tree``; False as soon as an urgent stop is requested."""
    leaves = [x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)
              and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]
    while not all(x.is_ready() for x in leaves):
        if signals.urgent:
            return False
        time.sleep(0.02)
    return True


def _train_loop(pop, settings, ck, total, out, chunk, save_every, target, progress, say, lead, signals,
                t_start, base, remaining, state, alive, collected, run_c, hp, compile_s) -> RunResult:
    alive_host = np.ones(pop.num_runs, bool) if ck is None else np.asarray(ck.alive, bool).copy()
    diverged: dict[int, str] = {}
    if ck is not None:
        for h in np.unique(np.nonzero(~alive_host)[0] // pop.seeds):
            diverged[int(h)] = (ck.meta.get("diverged") or {}).get(str(h), "diverged before the resume")
    writer = rundir.Writer(out, pop, settings, lead) if out is not None else None
    every = settings.get("eval_every")
    curve = rundir.read_evals(out, pop, base) if (every and ck is not None and out is not None) else []
    chunks_total = remaining // chunk
    steps_done = 0
    stopped_early = False
    dropped = False
    t_train = time.perf_counter()
    updates_done = base
    saved_at = base if ck is not None else None

    def snapshot_save(st, al, label):
        nonlocal saved_at
        if writer is None or saved_at == updates_done:
            return
        writer.checkpoint(pop.gather_state(st), collected, pop.gather(al), updates_done, diverged)
        saved_at = updates_done
        say(f"  saved checkpoint at update {updates_done}{label}")

    # `finished` is the last state read back (a device copy, so it survives the donation of `state`
    # to the next chunk): an urgent stop (SIGTERM, SIGHUP, a second SIGINT) saves it at once
    # instead of waiting for the chunk that is running.
    finished = pop._copy((state, alive))
    pending = None if signals() else run_c(state, alive, hp)
    for i in range(chunks_total):
        if pending is None:
            break
        state, alive, m, applied = pending
        last = i + 1 >= chunks_total or signals() or stopped_early or (
            settings["kind"] == "train" and bool(diverged))
        save_due = (save_every is not None and not last and (base + (i + 1) * chunk) % save_every == 0)
        if not last:  # dispatch ahead: chunk i+1 is queued before chunk i is read back
            next_finished = pop._copy((state, alive))
            pending = run_c(state, alive, hp)
        else:
            next_finished, pending = (state, alive), None
        if not _wait((m, applied, next_finished), signals):
            dropped = True
            break
        finished = next_finished
        m = pop.gather(m)
        applied = pop.gather(applied)
        newly = _diverged_points(m, applied, alive_host, pop, base + i * chunk)
        m = _mask(m, applied)
        collected.append(m)
        updates_done = base + (i + 1) * chunk
        steps_done += int(np.asarray(m.env_steps, np.int64).sum())
        if newly:
            for h, msg in newly.items():
                diverged[h] = msg
                say(f"  point {h} diverged: {msg}" if settings["kind"] == "sweep" else f"  {msg}")
            kill = np.repeat(np.isin(np.arange(pop.num_points), list(diverged)), pop.seeds)
            alive_host &= ~kill
            if settings["kind"] == "sweep" and pending is not None and alive_host.any():
                pending = (pending[0], pop._and(pending[1], pop._put(pop.pad(~kill))), *pending[2:])
        eval_note, evaluation = "", None
        if every and updates_done % every == 0 and alive_host.any():
            ev = pop.evaluate(finished[0], settings["eval_episodes"], max_steps=settings["eval_max_steps"],
                              at=updates_done)
            steps_so_far = np.concatenate([np.asarray(c.env_steps, np.int64) for c in collected], axis=1).sum(1)
            curve.append({"update": updates_done, "env_steps": pop.to_points(steps_so_far),
                          **{f"{k}_{f}": pop.to_points(getattr(v, f)(axis=1)) for k, v in ev.items()
                             for f in ("mean", "std")}})
            if writer is not None:
                writer.evals(curve)
            evaluation = curve[-1]
            mode = "greedy" if settings["eval_greedy"] else "sampled"
            eval_note = f"  eval {float(np.mean(curve[-1][mode + '_mean'])):8.2f}"
        elapsed = time.perf_counter() - t_train
        last_ret = pop.to_points(m.mean_return[:, -1])
        eta = elapsed / (i + 1) * (chunks_total - i - 1)
        rate = steps_done / max(elapsed, 1e-9)
        live = last_ret[pop.to_points(alive_host)] if alive_host.any() else last_ret.reshape(-1)
        live = live[np.isfinite(live)]
        say(f"  update {updates_done:>5}/{total}  return "
            + (f"{live.mean():8.2f}" if live.size else "     nan")
            + (f" (min {live.min():.2f})" if live.size > 1 else "")
            + eval_note
            + f"  env steps {steps_done:>11,}  {rate:,.0f} steps/s  {_eta_bar(i + 1, chunks_total, eta)}")
        if progress is not None:
            progress(Progress(updates_done, total, last_ret, steps_done, rate, elapsed, eta,
                              Metrics(*(pop.to_points(getattr(m, f)) for f in Metrics._fields)), evaluation))
        if save_due and not signals():
            snapshot_save(*finished, "")
        if target is not None and pending is not None and alive_host.any() and \
                np.all(last_ret[pop.to_points(alive_host)] >= target):
            stopped_early = True
            say(f"every run reached --target {target:g}: stopping early")
        if pending is None:
            break
        if not alive_host.any():  # every run is frozen: the chunk already running changes nothing
            if _wait(pending, signals):
                finished = (pending[0], pending[1])
            pending = None
            break
    train_s = time.perf_counter() - t_train
    interrupted = signals.received
    state, alive = finished
    if dropped:
        say(f"  {interrupted}: the chunk that was running is dropped; keeping update {updates_done}")
    metrics = Metrics(*(np.concatenate([getattr(c, f) for c in collected], axis=1) for f in Metrics._fields))
    if updates_done > base:
        snapshot_save(state, alive, " (final)" if not interrupted else f" ({interrupted})")

    eval_s, returns = 0.0, None
    # a train run that diverged is not evaluated (its sweep counterpart evaluates the other points)
    if not signals() and settings["eval_episodes"] > 0 and updates_done > 0 and \
            not (settings["kind"] == "train" and diverged):
        t0 = time.perf_counter()
        returns = pop.evaluate(state, settings["eval_episodes"], max_steps=settings["eval_max_steps"])
        returns = {k: pop.to_points(v) for k, v in returns.items()}
        eval_s = time.perf_counter() - t0
    interrupted = signals.received
    timings = {"compile_s": compile_s, "train_s": train_s, "eval_s": eval_s,
               "wall_s": time.perf_counter() - t_start}
    metrics_hs = Metrics(*(pop.to_points(getattr(metrics, f)) for f in Metrics._fields))
    eval_curve = None
    if curve:
        eval_curve = {"update": np.array([c["update"] for c in curve])}
        for k in curve[0]:
            if k != "update":
                eval_curve[k] = np.stack([c[k] for c in curve], axis=-1)
    result = RunResult(metrics_hs, returns, state, pop, updates_done, diverged, interrupted, stopped_early,
                       timings, steps_done, out, settings, eval_curve)
    if writer is not None and saved_at is not None:  # a run with no checkpoint leaves no results either
        writer.results(result)
    return result


def _mask(m: Metrics, applied: np.ndarray) -> Metrics:
    """Metrics of updates a run did not apply (it had diverged): NaN, and 0 env steps."""
    if applied.all():
        return m
    out = {}
    for f in Metrics._fields:
        v = np.asarray(getattr(m, f))
        if f in ("env_steps", "sim_steps", "nonfinite_obs"):
            out[f] = np.where(applied, v, 0).astype(v.dtype)
        else:
            out[f] = np.where(applied, v, np.nan).astype(v.dtype)
    return Metrics(**out)


def _diverged_points(m: Metrics, applied: np.ndarray, alive_host: np.ndarray, pop: Population,
                     first_update: int) -> dict[int, str]:
    """Points with a run that stopped applying updates in this chunk: ``{point: message}``."""
    found: dict[int, tuple[int, int, str]] = {}
    for r in np.nonzero(alive_host & ~applied.all(axis=1))[0]:
        u = int(np.argmin(applied[r]))
        h, s = int(pop._run_point[r]), int(pop._run_seed[r])
        raw = Metrics(*(np.asarray(getattr(m, f))[r:r + 1, u:u + 1] for f in Metrics._fields))
        try:
            check_finite(raw, first_update + u)
            text = f"the parameters became non-finite at update {first_update + u + 1}"
        except FloatingPointError as e:
            text = str(e).split(" of seed ")[0]
        msg = f"{text} of seed {s}; training stopped (lower --lr, or check the environment's observations)"
        if h not in found or (first_update + u) < found[h][0]:
            found[h] = (first_update + u, s, msg)
    return {h: v[2] for h, v in found.items()}
