"""Reference REINFORCE trainers on CartPole-v1 that jaxpg is timed against.

Benchmark code, not part of the installed ``jaxpg`` package: it needs gymnasium
(``pip install "jaxpg[bench]"``) and, for the textbook loop's PyTorch path only,
torch (optional, never a dependency). ``experiments/bench_throughput.py`` imports
it (``experiments/`` is on ``sys.path`` when a script there runs) and prints
jaxpg's throughput over each alternative's.

Three ways a person would write Monte-Carlo policy gradient (REINFORCE) for
CartPole-v1 without jaxpg. Each one really learns (checked at the sizes given
below), so a slow or broken reference cannot make jaxpg look fast. All three
return the same dictionary (see ``_result``), so a benchmark can print them in
one table with jaxpg.

(a) ``textbook`` -- the Hugging Face Deep RL course, Unit 4, almost line for
    line: one ``gymnasium.make("CartPole-v1")`` environment, a 4-16-2 ReLU MLP
    with a softmax, one action sampled per Python step, one episode per update,
    discounted returns (gamma 1.0 as in the course), returns standardised over
    the episode, ``loss = -sum(log_prob * G)``, Adam at lr 1e-2. PyTorch (CPU,
    its default thread count) when ``import torch`` works, otherwise the same
    algorithm in numpy with hand-written backprop and Adam. This is what most
    people run first; its cost is dominated by per-step Python and framework
    overhead (a tiny forward pass per step), so its steps/s says little about
    the hardware -- and depends on which path runs: torch's per-step module
    call, ``Categorical`` and autograd graph cost ~0.25 ms a step (~4k
    steps/s on 2 CPU cores), the numpy path ~14 us (~70k steps/s). Check
    ``framework`` before quoting it. The course's loop is brittle: with gamma
    1.0 and one episode per update, some seeds collapse after reaching 500 and
    recover slowly. ``time_budget_s`` stops it early; the per-step rate
    extrapolates.

(b) ``gym_vector`` -- the strongest non-JAX competitor on a CPU: gymnasium's
    numpy-vectorised CartPole (``make_vec(..., vectorization_mode=
    "vector_entry_point")``, one numpy call steps all N environments), a
    batched numpy MLP (tanh) whose forward and backward passes are vectorised
    over the N environments, REINFORCE over one episode per environment per
    update, reward-to-go with gamma, advantages normalised over the batch,
    manual backprop and Adam. The Python loop is over time steps only, never
    over environments. All N environments are stepped until every one has
    finished its first episode; the steps an environment takes after its
    first episode ended are masked out of the loss and counted in
    ``simulated_steps`` but not in ``valid_steps``. Gymnasium 1.x vector envs
    autoreset on the *next* step (``AutoresetMode.NEXT_STEP``): the step after
    a terminal step is a reset step with reward 0 whose observation is a fresh
    initial state. Because everything from an environment's first ``done`` on
    is masked, those reset steps never reach the loss or the returns, and each
    update starts from ``envs.reset()``. OpenBLAS is held to one thread while
    it trains (``blas_threads=1``, restored afterwards): its threads gain
    nothing on these tall-skinny matmuls and, on a loaded machine, made the
    backward pass up to ~40x slower overall (measured 13k vs 530k valid
    steps/s at N=128 on a busy 2-core box; same numbers otherwise).

(c) ``jax_scan`` -- what a JAX user writes in an afternoon: a flax MLP (tanh),
    optax Adam, gymnax's ``CartPole-v1``, ``jax.vmap`` over environments and
    seeds, a fixed-length ``lax.scan`` of ``max_steps`` (500) steps per update
    with a done-mask (no early exit, so every update simulates
    ``seeds * num_envs * max_steps`` steps however short the episodes are),
    one episode per environment per update, reward-to-go, normalised
    advantages, and one jitted update step called from a Python loop (JAX's
    asynchronous dispatch hides the loop's overhead). ``compile_s`` is the
    ``.lower().compile()`` time (plus the jitted init), reported apart from
    ``run_s``. The gap between ``valid_steps`` and ``simulated_steps`` is the
    price of the fixed scan length early in training, when episodes are short.
    gymnax's ``env.step`` also computes a reset every step (its auto-reset),
    which the mask throws away; a user gets that for free from the API.

Defaults, and what they were measured to do (2 busy CPU cores, numbers rounded):
  (a) the course's: 4-16-2 ReLU, Adam lr 1e-2, gamma 1.0. torch, 4 seeds: the
      20-episode mean first passes 400 at episode 112-340; the last-100 mean
      was 252-500 (seed 1 had collapsed). numpy, 8 seeds: passes 400 at episode
      153-255 on every seed, last-100 mean 468-500 on 7 of 8 (one at 151).
  (b) and (c): 4-16-2 tanh MLP, Adam lr 1e-2, gamma 0.99. With many episodes per
      update this needs no larger net: gym_vector N=64/128/256 first passes 450
      at update 51/42/46 and ends at 493-499 (200/100/150 updates); jax_scan
      8 seeds x 16 envs passes 450 at update 49-57 and ends at 492-493 mean over
      seeds (every seed >= 483) after 150 updates. ``hidden=(64, 64)`` at lr 1e-2
      is unstable in jax_scan (flax's lecun init; peaks near 430, then 4 of 8
      seeds decay to 135-315); at lr 3e-3 it ends at 492.

Every function returns a dict with ``name``, ``framework``, ``policy``,
``num_envs``, ``seeds``, ``updates_done``, ``valid_steps`` (real environment
steps: steps taken before or at each episode's end), ``simulated_steps``
(valid plus masked/padded steps: equal to valid for (a); for (b) the lockstep
steps of envs already done; for (c) the whole fixed-length scan), ``compile_s``
(JAX only; 0 otherwise),
``run_s`` (training loop wall time, compile excluded), ``valid_steps_per_s``,
``simulated_steps_per_s``, ``final_return`` with ``final_return_kind``, and
``returns`` (mean undiscounted training return per update).

    python experiments/alternatives.py --smoke     # seconds: one line per alternative
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

ENV_ID = "CartPole-v1"
OBS_DIM = 4
NUM_ACTIONS = 2
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8
ADV_EPS = 1e-8
FINAL_FRACTION = 0.1  # final_return: mean train return over the last 10% of updates
FINAL_KIND = "mean train return over the last 10% of updates (sampled actions)"


# --------------------------------------------------------------------------- shared helpers


def _final_return(returns: list[float]) -> float:
    if not returns:
        return float("nan")
    k = max(1, math.ceil(FINAL_FRACTION * len(returns)))
    return float(np.mean(returns[-k:]))


def _policy_str(hidden: tuple[int, ...], activation: str) -> str:
    return "-".join(str(w) for w in (OBS_DIM, *hidden, NUM_ACTIONS)) + f" {activation}"


def _result(
    name: str,
    framework: str,
    policy: str,
    num_envs: int,
    seeds: int,
    returns: list[float],
    valid_steps: int,
    simulated_steps: int,
    run_s: float,
    compile_s: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "framework": framework,
        "policy": policy,
        "num_envs": num_envs,
        "seeds": seeds,
        "updates_done": len(returns),
        "valid_steps": int(valid_steps),
        "simulated_steps": int(simulated_steps),
        "compile_s": float(compile_s),
        "run_s": float(run_s),
        "valid_steps_per_s": valid_steps / run_s if run_s > 0 else float("nan"),
        "simulated_steps_per_s": simulated_steps / run_s if run_s > 0 else float("nan"),
        "final_return": _final_return(returns),
        "final_return_kind": FINAL_KIND,
        "returns": [float(r) for r in returns],
        **extra,
    }


@contextlib.contextmanager
def _blas_threads(n: int | None) -> Iterator[str]:
    """Cap the loaded OpenBLAS's thread count to ``n`` for the block, then restore it.

    The same thing threadpoolctl does, by ctypes. numpy's OpenBLAS parallelises the
    tall-skinny matmuls of the batched backward pass ([T*N, 4] x [T*N, 16]) over
    all cores; that gains nothing at these sizes and, when another process is
    using a core, its spinning threads make one such matmul up to ~1000x slower
    (measured: 1.6 s instead of 0.2 ms on a busy 2-core machine). Yields what was
    set, for the result dict. A no-op (``"default"``) without /proc or OpenBLAS.
    """
    if n is None:
        yield "default"
        return
    restore: list[tuple[Any, int]] = []
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", "_64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    restore.append((put, int(get())))
                    put(n)
                    break
            else:
                continue
            break
    try:
        yield str(n) if restore else "default"
    finally:
        for put, old in restore:
            put(old)


class _NumpyMLP:
    """A small MLP policy in numpy: batched forward, manual backward, Adam.

    Weights use PyTorch's ``nn.Linear`` default init (uniform in +-1/sqrt(fan_in)).
    """

    def __init__(self, sizes: tuple[int, ...], activation: str, lr: float, rng: np.random.Generator) -> None:
        if activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be 'tanh' or 'relu', got {activation!r}")
        self.activation = activation
        self.lr = lr
        self.params: list[np.ndarray] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            self.params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
            self.params.append(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits for ``x [B, obs]`` and the layer inputs needed by ``backward``."""
        acts = [x]
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            z = acts[-1] @ self.params[2 * i] + self.params[2 * i + 1]
            if i < n_layers - 1:
                z = np.tanh(z) if self.activation == "tanh" else np.maximum(z, 0.0)
            acts.append(z)
        return acts[-1], acts[:-1]

    def backward(self, acts: list[np.ndarray], dlogits: np.ndarray) -> list[np.ndarray]:
        """Gradients of the loss w.r.t. the parameters given ``dloss/dlogits``."""
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        delta = dlogits
        for i in reversed(range(len(self.params) // 2)):
            h = acts[i]
            grads[2 * i] = h.T @ delta
            grads[2 * i + 1] = delta.sum(axis=0)
            if i > 0:
                delta = delta @ self.params[2 * i].T
                delta = delta * (1.0 - h * h) if self.activation == "tanh" else delta * (h > 0)
        return grads

    def adam_step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        c1, c2 = 1.0 - ADAM_B1**self.t, 1.0 - ADAM_B2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= ADAM_B1
            m += (1.0 - ADAM_B1) * g
            v *= ADAM_B2
            v += (1.0 - ADAM_B2) * g * g
            p -= (self.lr * (m / c1) / (np.sqrt(v / c2) + ADAM_EPS)).astype(p.dtype)


def torch_available() -> bool:
    """Whether ``import torch`` works (the textbook loop's PyTorch path)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _standardised_discounted_returns(rewards: list[float], gamma: float) -> np.ndarray:
    """The course's returns: G_t = r_t + gamma G_{t+1}, then (G - mean) / (std + eps)."""
    g = np.zeros(len(rewards), dtype=np.float64)
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        g[t] = running
    eps = float(np.finfo(np.float32).eps)
    return (g - g.mean()) / (g.std(ddof=1 if len(g) > 1 else 0) + eps)  # ddof=1 as torch's std


# --------------------------------------------------------------------------- (a) textbook


def textbook(
    updates: int,
    seed: int = 0,
    hidden: int = 16,
    lr: float = 1e-2,
    gamma: float = 1.0,
    time_budget_s: float | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    """The Hugging Face Deep RL course (Unit 4) REINFORCE loop, one env, one episode per update.

    Args:
      updates: episodes (= updates) to run at most.
      seed: seeds the environment's first reset and the policy/sampling RNG.
      hidden: width of the single ReLU hidden layer.
      lr: Adam learning rate.
      gamma: discount for the returns (the course uses 1.0).
      time_budget_s: stop after the update that crosses this many seconds.
      backend: ``"torch"``, ``"numpy"``, or ``None`` (torch when it imports, else numpy).

    Returns:
      The common result dict (``framework`` says torch or numpy).
    """
    if backend not in (None, "torch", "numpy"):
        raise ValueError(f"backend must be 'torch', 'numpy' or None, got {backend!r}")
    try:
        import torch  # noqa: F401
    except ImportError:
        if backend == "torch":
            raise ValueError("backend 'torch' needs PyTorch: pip install torch==2.13.0") from None
        backend = "numpy"
    if backend == "numpy":
        return _textbook_numpy(updates, seed, hidden, lr, gamma, time_budget_s)
    return _textbook_torch(updates, seed, hidden, lr, gamma, time_budget_s)


def _textbook_torch(
    updates: int, seed: int, hidden: int, lr: float, gamma: float, time_budget_s: float | None
) -> dict[str, Any]:
    import gymnasium as gym
    import torch
    from torch import nn
    from torch.distributions import Categorical

    torch.manual_seed(seed)

    class Policy(nn.Module):
        def __init__(self, s_size: int, a_size: int, h_size: int) -> None:
            super().__init__()
            self.fc1 = nn.Linear(s_size, h_size)
            self.fc2 = nn.Linear(h_size, a_size)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.fc1(x))
            return torch.softmax(self.fc2(x), dim=1)

        def act(self, state: np.ndarray) -> tuple[int, torch.Tensor]:
            probs = self.forward(torch.from_numpy(state).float().unsqueeze(0))
            m = Categorical(probs)
            action = m.sample()
            return action.item(), m.log_prob(action)

    env = gym.make(ENV_ID)
    policy = Policy(OBS_DIM, NUM_ACTIONS, hidden)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    eps = float(np.finfo(np.float32).eps)
    returns: list[float] = []
    valid = 0
    t0 = time.perf_counter()
    for i in range(updates):
        saved_log_probs: list[torch.Tensor] = []
        rewards: list[float] = []
        state, _ = env.reset(seed=seed) if i == 0 else env.reset()
        while True:  # the course caps at max_t=1000; CartPole-v1 truncates at 500 first
            action, log_prob = policy.act(state)
            saved_log_probs.append(log_prob)
            state, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            if terminated or truncated:
                break
        returns.append(sum(rewards))
        valid += len(rewards)

        disc: list[float] = []
        running = 0.0
        for r in reversed(rewards):
            running = r + gamma * running
            disc.append(running)
        disc.reverse()
        g = torch.tensor(disc)
        g = (g - g.mean()) / (g.std() + eps)
        loss = torch.cat([-lp * gt for lp, gt in zip(saved_log_probs, g, strict=True)]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if time_budget_s is not None and time.perf_counter() - t0 >= time_budget_s:
            break
    run_s = time.perf_counter() - t0
    env.close()
    return _result(
        "textbook",
        f"torch {torch.__version__}",
        _policy_str((hidden,), "relu"),
        1,
        1,
        returns,
        valid,
        valid,
        run_s,
        torch_threads=torch.get_num_threads(),
    )


def _textbook_numpy(
    updates: int, seed: int, hidden: int, lr: float, gamma: float, time_budget_s: float | None
) -> dict[str, Any]:
    import gymnasium as gym

    rng = np.random.default_rng(seed)
    env = gym.make(ENV_ID)
    net = _NumpyMLP((OBS_DIM, hidden, NUM_ACTIONS), "relu", lr, rng)
    returns: list[float] = []
    valid = 0
    with _blas_threads(1) as blas:
        t0 = time.perf_counter()
        for i in range(updates):
            states: list[np.ndarray] = []
            actions: list[int] = []
            rewards: list[float] = []
            state, _ = env.reset(seed=seed) if i == 0 else env.reset()
            while True:  # one tiny forward pass per step, as in the course
                logits, _ = net.forward(state[None, :].astype(np.float32))
                probs = _softmax(logits)[0]
                action = int(rng.random() < probs[1])
                states.append(state)
                actions.append(action)
                state, reward, terminated, truncated, _ = env.step(action)
                rewards.append(float(reward))
                if terminated or truncated:
                    break
            returns.append(sum(rewards))
            valid += len(rewards)

            g = _standardised_discounted_returns(rewards, gamma).astype(np.float32)
            logits, acts = net.forward(np.asarray(states, dtype=np.float32))
            probs = _softmax(logits)
            onehot = np.eye(NUM_ACTIONS, dtype=np.float32)[actions]
            # loss = -sum_t G_t log pi(a_t|s_t);  d/dlogits = -G_t (onehot - p)
            net.adam_step(net.backward(acts, -(g[:, None]) * (onehot - probs)))
            if time_budget_s is not None and time.perf_counter() - t0 >= time_budget_s:
                break
        run_s = time.perf_counter() - t0
    env.close()
    return _result(
        "textbook",
        "numpy",
        _policy_str((hidden,), "relu"),
        1,
        1,
        returns,
        valid,
        valid,
        run_s,
        blas_threads=blas,
    )


# --------------------------------------------------------------------------- (b) gym_vector


def gym_vector(
    num_envs: int,
    updates: int,
    seed: int = 0,
    hidden: tuple[int, ...] = (16,),
    lr: float = 1e-2,
    gamma: float = 0.99,
    max_steps: int = 500,
    time_budget_s: float | None = None,
    blas_threads: int | None = 1,
) -> dict[str, Any]:
    """REINFORCE on gymnasium's numpy-vectorised CartPole with a batched numpy MLP.

    Args:
      num_envs: environments stepped together (one episode each per update).
      updates: updates to run at most.
      seed: seeds the first ``envs.reset`` and the policy/sampling RNG.
      hidden: hidden layer widths of the tanh MLP.
      lr: Adam learning rate.
      gamma: discount of the reward-to-go.
      max_steps: episode length limit (CartPole-v1's is 500).
      time_budget_s: stop after the update that crosses this many seconds.
      blas_threads: OpenBLAS threads during training (restored after); 1 is fastest
        for these small matmuls and immune to other load, ``None`` leaves numpy's default.

    Returns:
      The common result dict; ``simulated_steps`` counts every env step taken,
      including those of environments whose first episode had already ended.
    """
    import gymnasium as gym

    rng = np.random.default_rng(seed)
    envs = gym.make_vec(
        ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", max_episode_steps=max_steps
    )
    net = _NumpyMLP((OBS_DIM, *hidden, NUM_ACTIONS), "tanh", lr, rng)
    returns: list[float] = []
    valid = simulated = 0
    with _blas_threads(blas_threads) as blas:
        t0 = time.perf_counter()
        for i in range(updates):
            obs, _ = envs.reset(seed=seed) if i == 0 else envs.reset()
            alive = np.ones(num_envs, dtype=bool)
            obs_buf: list[np.ndarray] = []
            act_buf: list[np.ndarray] = []
            mask_buf: list[np.ndarray] = []
            # Step every env until each has ended its first episode. Gymnasium's next-step
            # autoreset turns the step after a `done` into a reset step (reward 0); it and all
            # later steps of that env are masked (alive=False) and never enter the loss.
            while alive.any() and len(obs_buf) < max_steps:
                logits, _ = net.forward(obs)
                p1 = _softmax(logits)[:, 1]
                actions = (rng.random(num_envs) < p1).astype(np.int64)
                obs_buf.append(obs)
                act_buf.append(actions)
                mask_buf.append(alive.copy())
                obs, _, terminated, truncated, _ = envs.step(actions)
                alive &= ~(terminated | truncated)
            horizon = len(obs_buf)
            mask = np.asarray(mask_buf, dtype=np.float32)  # [T, N]; CartPole's reward is 1 per valid step
            valid += int(mask.sum())
            simulated += horizon * num_envs
            returns.append(float(mask.sum(axis=0).mean()))

            rtg = np.zeros_like(mask)
            running = np.zeros(num_envs, dtype=np.float32)
            for t in reversed(range(horizon)):
                running = mask[t] + gamma * running * mask[t]
                rtg[t] = running
            n_valid = mask.sum()
            mean = (rtg * mask).sum() / n_valid
            std = math.sqrt(float((((rtg - mean) * mask) ** 2).sum() / n_valid))
            adv = (rtg - mean) / (std + ADV_EPS) * mask

            x = np.asarray(obs_buf, dtype=np.float32).reshape(horizon * num_envs, OBS_DIM)
            a = np.asarray(act_buf).reshape(-1)
            logits, acts = net.forward(x)
            probs = _softmax(logits)
            onehot = np.eye(NUM_ACTIONS, dtype=np.float32)[a]
            # loss = -(1/N) sum_{t,n} mask adv log pi(a|s)  (the mean over episodes of each one's sum)
            dlogits = -(adv.reshape(-1, 1) / num_envs) * (onehot - probs)
            net.adam_step(net.backward(acts, dlogits.astype(np.float32)))
            if time_budget_s is not None and time.perf_counter() - t0 >= time_budget_s:
                break
        run_s = time.perf_counter() - t0
    envs.close()
    return _result(
        "gym_vector",
        f"numpy {np.__version__} + gymnasium {gym.__version__}",
        _policy_str(hidden, "tanh"),
        num_envs,
        1,
        returns,
        valid,
        simulated,
        run_s,
        blas_threads=blas,
    )


# --------------------------------------------------------------------------- (c) jax_scan


def jax_scan(
    num_envs: int,
    seeds: int,
    updates: int,
    seed: int = 0,
    hidden: tuple[int, ...] = (16,),
    lr: float = 1e-2,
    gamma: float = 0.99,
    max_steps: int = 500,
) -> dict[str, Any]:
    """REINFORCE in plain JAX + flax + optax + gymnax, vmapped over seeds and envs.

    Args:
      num_envs: environments per seed (one episode each per update).
      seeds: independent training runs, vmapped.
      updates: updates per seed.
      seed: root PRNG seed.
      hidden: hidden layer widths of the tanh MLP.
      lr: Adam learning rate.
      gamma: discount of the reward-to-go.
      max_steps: fixed rollout length (and episode limit) per update.

    Returns:
      The common result dict, with ``compile_s`` apart from ``run_s`` and
      ``final_return_per_seed``.
    """
    import flax.linen as nn
    import gymnax
    import jax
    import jax.numpy as jnp
    import optax

    env, env_params = gymnax.make(ENV_ID)
    env_params = env_params.replace(max_steps_in_episode=max_steps)

    class MLP(nn.Module):
        features: tuple[int, ...]

        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            for w in self.features:
                x = jnp.tanh(nn.Dense(w)(x))
            return nn.Dense(NUM_ACTIONS)(x)

    model = MLP(tuple(hidden))
    tx = optax.adam(lr)

    def rollout(params: Any, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """One env, one episode, a fixed max_steps scan with a done-mask."""
        key_reset, key_steps = jax.random.split(key)
        obs, state = env.reset(key_reset, env_params)

        def step(carry: tuple, k: jax.Array) -> tuple[tuple, tuple]:
            obs, state, alive = carry
            k_act, k_env = jax.random.split(k)
            action = jax.random.categorical(k_act, model.apply(params, obs))
            obs2, state2, _, terminated, truncated, _ = env.step(k_env, state, action, env_params)
            return (obs2, state2, alive & ~(terminated | truncated)), (obs, action, alive)

        _, (obs_t, act_t, alive_t) = jax.lax.scan(
            step, (obs, state, jnp.bool_(True)), jax.random.split(key_steps, max_steps)
        )
        return obs_t, act_t, alive_t.astype(jnp.float32)

    def reward_to_go(mask: jax.Array) -> jax.Array:
        def back(running: jax.Array, m: jax.Array) -> tuple[jax.Array, jax.Array]:
            running = m + gamma * running * m  # reward 1 per valid step, 0 once done
            return running, running

        _, rtg = jax.lax.scan(back, jnp.zeros(mask.shape[1:]), mask, reverse=True)
        return rtg

    def update(params: Any, opt_state: Any, key: jax.Array) -> tuple[Any, Any, jax.Array, jax.Array]:
        obs, actions, mask = jax.vmap(rollout, in_axes=(None, 0), out_axes=1)(
            params, jax.random.split(key, num_envs)
        )  # [T, N, ...]
        rtg = reward_to_go(mask)
        n_valid = mask.sum()
        mean = (rtg * mask).sum() / n_valid
        std = jnp.sqrt((((rtg - mean) * mask) ** 2).sum() / n_valid)
        adv = (rtg - mean) / (std + ADV_EPS) * mask

        def loss_fn(p: Any) -> jax.Array:
            logp = jax.nn.log_softmax(model.apply(p, obs))
            logp_a = jnp.take_along_axis(logp, actions[..., None], axis=-1)[..., 0]
            return -(adv * logp_a).sum() / num_envs

        grads = jax.grad(loss_fn)(params)
        upd, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, upd), opt_state, mask.sum(axis=0).mean(), n_valid

    def init(key: jax.Array) -> tuple[Any, Any]:
        params = model.init(key, jnp.zeros(OBS_DIM))
        return params, tx.init(params)

    t0 = time.perf_counter()
    k_init, k_run = jax.random.split(jax.random.PRNGKey(seed))
    params, opt_state = jax.jit(jax.vmap(init))(jax.random.split(k_init, seeds))
    step_fn = jax.jit(jax.vmap(update), donate_argnums=(0, 1))
    keys = jax.random.split(k_run, updates * seeds).reshape(updates, seeds, -1)
    compiled = step_fn.lower(params, opt_state, keys[0]).compile()
    jax.block_until_ready((params, opt_state, keys))
    compile_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ret_hist, valid_hist = [], []
    for u in range(updates):
        params, opt_state, ret, n_valid = compiled(params, opt_state, keys[u])
        ret_hist.append(ret)
        valid_hist.append(n_valid)
    rets = np.asarray(jax.block_until_ready(jnp.stack(ret_hist)))  # [updates, seeds]
    run_s = time.perf_counter() - t0
    valid = int(np.asarray(jnp.stack(valid_hist)).astype(np.int64).sum())
    k = max(1, math.ceil(FINAL_FRACTION * updates))
    return _result(
        "jax_scan",
        f"jax {jax.__version__} ({jax.default_backend()})",
        _policy_str(hidden, "tanh"),
        num_envs,
        seeds,
        rets.mean(axis=1).tolist(),
        valid,
        seeds * num_envs * max_steps * updates,
        run_s,
        compile_s,
        final_return_per_seed=rets[-k:].mean(axis=0).tolist(),
    )


# --------------------------------------------------------------------------- CLI


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['name']:<11} {r['framework']:<34} {r['policy']:<12}"
        f" envs={r['num_envs']:<4} seeds={r['seeds']:<3} "
        f"updates={r['updates_done']:<5} valid steps/s={r['valid_steps_per_s']:>11,.0f} "
        f"compile={r['compile_s']:.1f}s run={r['run_s']:.1f}s final_return={r['final_return']:.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.smoke:
        runs = [
            lambda: textbook(updates=20, seed=args.seed),
            lambda: gym_vector(num_envs=16, updates=5, seed=args.seed),
            lambda: jax_scan(num_envs=4, seeds=2, updates=5, seed=args.seed, max_steps=100),
        ]
    else:
        runs = [
            lambda: textbook(updates=1000, seed=args.seed, time_budget_s=60.0),
            lambda: gym_vector(num_envs=64, updates=200, seed=args.seed),
            lambda: jax_scan(num_envs=16, seeds=8, updates=150, seed=args.seed),
        ]
    for run in runs:
        print(_line(run()), flush=True)


if __name__ == "__main__":
    main()
