"""Training throughput of jaxpg and its hardware ceiling (``jaxpg bench``).

For each grid point (N environments per seed × S seeds, one policy size) the
benchmark trains CartPole-v1 (or any discrete env) for a fixed number of
updates through the run layer (``jaxpg.runner.run``: the program and the chunk
loop ``jaxpg train`` runs, compiled chunks of updates, the state donated, the next
chunk dispatched before the last is read back), and reports:

- ``compile_s`` apart from ``run_s``;
- **valid** env steps/s: only steps inside an episode (masked steps after an
  episode ended are not counted), and simulated steps/s (masked included) to
  show the waste of waiting for the slowest episode;
- ``recompiles`` during the timed chunks (must be 0);
- peak device memory where the backend reports it (``None`` on CPU);
- the final mean training return, so a run that stopped learning cannot look fast.

The ceiling (``ceiling()``) is measured on the same device: the policy network
alone (one forward + sample for the rollout, one forward + backward for the
loss, per sample) at its fastest batch size, and the env alone at its fastest
number of envs, combined as ``1 / (1/mlp + 1/env)``. Beside it, the analytic
bounds: FLOPs per step over the measured matmul rate, and bytes per step over
the measured memory bandwidth.

The reference trainers jaxpg is compared with (the textbook loop, gymnasium's
vector env, a plain JAX scan) are benchmark code, not part of the package:
``experiments/alternatives.py``; ``python experiments/bench_throughput.py`` runs
this grid, then them, and prints the ratios. ``experiments/PERF.md`` explains the numbers.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpg import envs, policies, runner
from jaxpg._version import __version__
from jaxpg.defaults import recommended
from jaxpg.fileio import atomic_write_json
from jaxpg.runner.loop import Part
from jaxpg.runner.spec import HPARAM_FIELDS
from jaxpg.train import resolve_loss_chunk

__all__ = [
    "machine_info", "matmul_gflops", "memory_gbps", "policy_flops", "bytes_per_step",
    "train_point", "ceiling", "write_json", "result_path", "run_benchmark", "default_grid", "POLICIES",
    "compile_count",
]

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_compiles = [0]
_listening = [False]


def _on_event(name: str, *_args, **_kwargs) -> None:
    if name == _COMPILE_EVENT:
        _compiles[0] += 1


def compile_count() -> int:
    """Backend compilations seen so far in this process (all of jax, not just jaxpg), counted from
    the first call (which registers the listener; importing this module registers nothing)."""
    if not _listening[0]:
        jax.monitoring.register_event_duration_secs_listener(_on_event)
        _listening[0] = True
    return _compiles[0]


class _Timing(Part):
    """Counts the compilations while the loop runs (must be 0: new chunks reuse one program)."""

    def __init__(self):
        self.at_start = self.recompiles = 0

    def start(self, board) -> None:
        self.at_start = compile_count()

    def finish(self, board) -> None:
        self.recompiles = compile_count() - self.at_start


def machine_info() -> dict:
    """Machine, device and versions, for the JSON record."""
    dev = jax.devices()[0]
    return {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count()},
        "device": {"platform": dev.platform, "kind": dev.device_kind, "count": jax.device_count()},
        "versions": {"jaxpg": __version__, "jax": jax.__version__, "jaxlib": jax.lib.__version__,
                     "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "date": datetime.date.today().isoformat(),
    }


def _best_time(fn, *args, repeats: int = 5) -> float:
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def matmul_gflops(n: int = 1024, dtype=jnp.float32) -> float:
    """Measured rate of an n×n @ n×n matmul, GFLOP/s (best of 5)."""
    a = jnp.ones((n, n), dtype)
    f = jax.jit(lambda x: x @ x)
    return 2 * n**3 / _best_time(f, a) / 1e9


def memory_gbps(mib: int = 256) -> float:
    """Measured memory bandwidth, GB/s: read + write of a ``mib`` MiB float32 array (x + 1)."""
    x = jnp.zeros((mib * 2**20 // 4,), jnp.float32)
    f = jax.jit(lambda v: v + 1.0)
    return 2 * x.nbytes / _best_time(f, x) / 1e9


def policy_flops(obs_dim: int, hidden: Sequence[int], num_actions: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass of the MLP policy, one sample."""
    dims = [obs_dim, *hidden, num_actions]
    return sum(2 * a * b for a, b in zip(dims[:-1], dims[1:], strict=True))


def bytes_per_step(obs_dim: int) -> int:
    """Bytes moved per valid env step by the data path, float32 everywhere.

    Rollout writes obs (4·obs_dim), action (4), reward (4), terminated and truncated
    (1 + 1); returns read reward/flags and write G (4); the loss reads obs, action and
    the advantage (4) again. Params and optimizer state are per update, not per step.
    """
    written = 4 * obs_dim + 4 + 4 + 2
    return written + (4 + 2 + 4) + (4 * obs_dim + 4 + 4)


def _peak_bytes() -> int | None:
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - backends without memory stats
        return None
    return None if not stats else int(stats.get("peak_bytes_in_use", 0)) or None


def train_point(env: str, num_envs: int, seeds: int, hidden: Sequence[int], activation: str,
                updates: int, chunks: int = 4, **config_overrides) -> dict:
    """Trains ``seeds`` × ``num_envs`` for ``updates`` updates through the run layer and times it.

    Uses the recommended settings for ``env`` (``jaxpg.defaults``) with the given
    network and ``config_overrides`` (``Config`` fields, or ``HParams`` fields such as
    ``learning_rate`` / ``gamma`` / ``entropy_coef`` / ``max_grad_norm``). The runs are one
    point × ``seeds`` (seed ``i`` from ``split(key(0), seeds)[i]``), trained by
    ``jaxpg.runner.run`` in ``chunks`` compiled chunks exactly as ``jaxpg train`` trains
    them: the state and ``alive`` flags donated, the rollout's early exit shared by the
    seeds on a device, the next chunk dispatched before the last one's metrics are read
    back; no evaluation, no run directory.

    ``compile_s`` is the run's compile time (programs, memory plan, init) and ``run_s`` its
    training time. The run layer keeps compiled programs per (config, mesh, runs, chunk)
    for the life of the process, so a point that repeats an earlier one in the same process
    reports a compile time near 0; ``compile_cached`` says so (no backend compilation
    happened while it was compiling).

    Raises:
      ValueError: ``updates`` is not a multiple of ``chunks``, or a bad setting.
    """
    if chunks <= 0 or updates % chunks:
        raise ValueError(f"updates ({updates}) must be a multiple of chunks ({chunks})")
    hp_over = {k: v for k, v in config_overrides.items() if k in HPARAM_FIELDS}
    cfg_over = {k: v for k, v in config_overrides.items() if k not in HPARAM_FIELDS}
    config, hparams = recommended(env, num_envs=num_envs, hidden=tuple(hidden), activation=activation,
                                  num_updates=updates, **cfg_over)
    hparams = hparams.replace(**hp_over)
    timing = _Timing()
    before = compile_count()
    r = runner.run(runner.RunSpec(config, hparams, seeds=seeds, seed=0, evaluation=runner.Evaluation(episodes=0)),
                   schedule=runner.Schedule(chunk=updates // chunks), parts=[timing], handle_signals=False)
    pop, compile_s, run_s = r.population, r.timings["compile_s"], r.timings["train_s"]
    compile_cached, recompiles = timing.at_start == before, timing.recompiles
    m = jax.tree.map(lambda x: np.asarray(x)[0], r.metrics)  # [S, U]
    applied = ~np.isnan(m.mean_return)  # an update a run did not apply is masked (NaN, 0 env steps)
    valid = int(np.asarray(m.env_steps, np.int64).sum())
    sim = int(np.asarray(m.sim_steps, np.int64).sum())
    ret = np.asarray(m.mean_return, np.float64)
    tail = max(1, updates // 10)
    last = ret[:, -tail:]
    per_seed = (np.nanmean(last, axis=1) if applied[:, -tail:].any(axis=1).all()
                else np.full(seeds, np.nan))
    return {
        "env": env, "num_envs": num_envs, "seeds": seeds, "policy": _policy_name(pop.trainer, hidden),
        "activation": activation, "updates": updates, "chunks": chunks,
        "learning_rate": float(hparams.learning_rate), "advantage": config.advantage,
        "compile_s": compile_s, "compile_cached": compile_cached, "run_s": run_s, "recompiles": recompiles,
        "valid_steps": valid, "simulated_steps": sim,
        "valid_steps_per_s": valid / run_s, "simulated_steps_per_s": sim / run_s,
        "peak_bytes": _peak_bytes(),
        "final_return": float(per_seed.mean()), "final_return_min_seed": float(per_seed.min()),
        "diverged_seeds": int((~applied.all(axis=1)).sum()),
        "rollout_chunk": config.rollout_chunk, "loss_chunk": resolve_loss_chunk(config),
        "donate": True, "shared_exit": True,  # what the run layer always does
        "devices": int(pop.mesh.devices.size),
    }


def _policy_name(trainer, hidden) -> str:
    obs_dim = int(np.prod(trainer.env.observation_space(trainer.env_params).shape))
    return "-".join(str(d) for d in (obs_dim, *hidden, trainer.env.num_actions))


def ceiling(env: str, hidden: Sequence[int], activation: str, smoke: bool = False) -> dict:
    """What the hardware allows per env step for this policy and env, each part at its best batch.

    Training must, for every env step, run the policy forward once and sample (the rollout),
    run it forward and backward once more (the loss), and step the env. Each part is timed
    alone at the batch size where it is fastest (no sequential time loop for the network:
    a bound, not a forecast), and the parts add up: ``1 / (1/mlp + 1/env)``.

    Returns:
      ``mlp_samples_per_s`` (forward + sample, then forward + backward of the log-prob loss,
      per sample), ``mlp_batch``, ``env_steps_per_s`` (random actions through ``step_env``
      in a ``lax.scan``), ``env_batch``, and ``steps_per_s``.
    """
    e, p = envs.make(env)
    obs_dim = int(np.prod(e.observation_space(p).shape))
    policy = policies.mlp_policy(tuple(hidden), e.num_actions, activation)
    params = policy.init(jax.random.key(0), jnp.zeros((obs_dim,)))

    def mlp(params, obs, key):
        acts = policies.sample(key, policy.apply(params, obs))  # the rollout's forward

        def loss(q):  # the loss's forward + backward on the same samples
            lp = jax.nn.log_softmax(policy.apply(q, obs))
            return -jnp.take_along_axis(lp, acts[:, None], -1).mean()

        return jax.grad(loss)(params)

    def env_only(key, n, steps):
        _, st = jax.vmap(e.reset_env, in_axes=(0, None))(jax.random.split(key, n), p)

        def body(s, kk):
            ka, ks = jax.random.split(kk)
            a = jax.random.randint(ka, (n,), 0, e.num_actions)
            o, s, r, _, _ = jax.vmap(e.step_env, in_axes=(0, 0, 0, None))(jax.random.split(ks, n), s, a, p)
            return s, r.sum() + o.sum()

        return jax.lax.scan(body, st, jax.random.split(key, steps))[1].sum()

    mlp_best = (0.0, 0)
    for b in [256, 1024] if smoke else [1024, 4096, 16384, 65536, 262144]:
        obs = jax.random.normal(jax.random.key(1), (b, obs_dim))
        rate = b / _best_time(jax.jit(mlp), params, obs, jax.random.key(2), repeats=5)
        mlp_best = max(mlp_best, (rate, b))
    env_best = (0.0, 0)
    steps = 20 if smoke else 200
    for n in [64] if smoke else [1024, 4096, 16384]:
        f = jax.jit(env_only, static_argnums=(1, 2))
        rate = n * steps / _best_time(f, jax.random.key(3), n, steps, repeats=3)
        env_best = max(env_best, (rate, n))
    return {"mlp_samples_per_s": mlp_best[0], "mlp_batch": mlp_best[1],
            "env_steps_per_s": env_best[0], "env_batch": env_best[1],
            "steps_per_s": 1.0 / (1.0 / mlp_best[0] + 1.0 / env_best[0])}


def write_json(obj: dict, path: str | os.PathLike) -> None:
    """Writes ``obj`` as JSON atomically (``jaxpg.fileio.atomic_write_json``), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, obj)


def result_path(out: str | os.PathLike, result: dict) -> Path:
    """``out/bench-<platform>-<date>[-smoke].json`` for a ``run_benchmark`` result."""
    smoke = "-smoke" if result.get("smoke") else ""
    return Path(out) / f"bench-{result['device']['platform']}-{result['date']}{smoke}.json"


# --- the benchmark driver (``jaxpg bench`` and ``experiments/bench_throughput.py``) ---

#: the two policy sizes: the course's 4-16-2 (ReLU; its settings: lr 1e-2 with returns
#: normalised; 3e-2 here because the batch is much larger than one episode) and
#: jaxpg's default (64-64 tanh, recommended CartPole settings).
POLICIES = {
    "course": {"hidden": (16,), "activation": "relu", "learning_rate": 3e-2, "advantage": "normalize"},
    "default": {"hidden": (64, 64), "activation": "tanh"},
}


def default_grid(platform_name: str, smoke: bool = False) -> list[tuple[int, int]]:
    """(num_envs N, seeds S) points, larger on accelerators."""
    if smoke:
        return [(8, 2), (32, 2)]
    if platform_name == "cpu":
        return [(16, 1), (16, 8), (64, 8), (256, 4), (256, 16), (1024, 4)]
    return [(256, 64), (1024, 64), (1024, 512), (4096, 256), (4096, 1024), (16384, 256), (16384, 1024)]


def run_benchmark(env: str = "CartPole-v1", updates: int = 100, grid: Sequence[tuple[int, int]] | None = None,
                  policies: Sequence[str] = ("course", "default"), smoke: bool = False,
                  out: str | os.PathLike | None = None, say=print) -> dict:
    """Times jaxpg over the grid for each policy, next to its measured ceiling.

    Args:
      env: a discrete environment.
      updates: updates per grid point (at most 4 with ``smoke``), in 4 compiled chunks
        (2 with ``smoke``; fewer where they do not divide ``updates``).
      grid: ``(num_envs, seeds)`` points (default: ``default_grid`` for the device).
      policies: keys of ``POLICIES``.
      smoke: tiny sizes (seconds), a check that it runs.
      out: directory for ``bench-<platform>-<date>[-smoke].json`` (``result_path``),
        rewritten atomically after every point (``complete`` false until the end, so an
        interrupted benchmark keeps what it measured); ``None`` writes nothing.
      say: called with each line of the table.

    Returns:
      The record written: machine info, ``matmul_gflops``, ``memory_gbps``,
      ``ceilings`` per policy, ``rows`` (``train_point`` plus the FLOP/memory bounds and
      fractions of the ceiling) and ``complete``.
    """
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policy {unknown[0]!r}; choose from {', '.join(POLICIES)}")
    info = machine_info()
    plat = info["device"]["platform"]
    grid = list(grid or default_grid(plat, smoke))
    if smoke:
        updates = min(updates, 4)
    chunks = next(c for c in ((2, 1) if smoke else (4, 2, 1)) if updates % c == 0)
    gf, bw = matmul_gflops(512 if smoke else 1024), memory_gbps(16 if smoke else 256)
    say(f"device {info['device']['kind']} ({plat}); matmul {gf:.0f} GFLOP/s, memory {bw:.1f} GB/s")
    rows: list[dict] = []
    result = {"benchmark": "bench_throughput", "env": env, "updates": updates, "smoke": smoke,
              "complete": False, "matmul_gflops": gf, "memory_gbps": bw, "rows": rows, **info}
    path = None if out is None else result_path(out, result)

    def save():  # after every point: an interrupted benchmark keeps what it measured
        if path is not None:
            write_json(result, path)

    result["ceilings"] = {}
    for pol in policies:
        spec = dict(POLICIES[pol])
        hidden, activation = spec.pop("hidden"), spec.pop("activation")
        ceil = ceiling(env, hidden, activation, smoke)
        result["ceilings"][pol] = ceil
        say(f"ceiling {pol} {hidden} {activation}: network {ceil['mlp_samples_per_s'] / 1e6:.2f} M samples/s "
            f"(batch {ceil['mlp_batch']}), env {ceil['env_steps_per_s'] / 1e6:.1f} M steps/s "
            f"({ceil['env_batch']} envs) -> {ceil['steps_per_s'] / 1e6:.2f} M steps/s")
        for n, s in grid:
            row = train_point(env, n, s, hidden, activation, updates, chunks=chunks, **spec)
            obs_dim = int(row["policy"].split("-")[0])
            flops = 4 * policy_flops(obs_dim, hidden, int(row["policy"].split("-")[-1]))
            row.update(
                policy_kind=pol, flops_per_step=flops, bytes_per_step=bytes_per_step(obs_dim),
                flop_bound_steps_per_s=gf * 1e9 / flops,
                memory_bound_steps_per_s=bw * 1e9 / bytes_per_step(obs_dim),
                fraction_of_ceiling=row["valid_steps_per_s"] / ceil["steps_per_s"],
                fraction_of_flop_bound=row["valid_steps_per_s"] * flops / (gf * 1e9),
            )
            rows.append(row)
            say(_row_line(row))
            save()
    result["complete"] = True
    save()
    if path is not None:
        say(f"wrote {path}")
    return result


def _row_line(r: dict) -> str:
    mem = "-" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 2**20:.0f}MiB"
    return (f"{r['policy']:>9} {r['num_envs']:>6}x{r['seeds']:<4} compile {r['compile_s']:5.1f}s "
            f"run {r['run_s']:6.1f}s  valid {r['valid_steps_per_s'] / 1e6:7.2f}M/s  "
            f"sim {r['simulated_steps_per_s'] / 1e6:7.2f}M/s  "
            f"{100 * r['fraction_of_ceiling']:3.0f}% of ceiling "
            f"({100 * r['fraction_of_flop_bound']:4.1f}% of FLOPs)  recompiles {r['recompiles']}  mem {mem}  "
            f"return {r['final_return']:5.1f} (worst seed {r['final_return_min_seed']:5.1f})")
