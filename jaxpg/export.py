"""``jaxpg export RUN --out DIR``: a trained policy as a folder ready for the Hugging Face Hub.

The folder is what the Deep RL course's ``package_to_hub`` produces, for a jaxpg policy:

- ``README.md``: the model card. Its YAML front matter carries the Hub's model-index metadata
  (``library_name: jaxpg``, tags, task ``reinforcement-learning``, the env id as dataset, and
  ``mean_reward`` as "mean +/- std" of a fresh evaluation), then the hyperparameters, the
  evaluation, the replay and a snippet that loads the policy with ``jaxpg.load``;
- ``params.safetensors``: the policy's variables (network and observation-normalisation
  statistics), flattened with dotted names (``params.Dense_0.kernel``);
- ``jaxpg.json``: the run's ``Config`` and ``HParams`` and which seed this is, so
  ``jaxpg.load(DIR)`` rebuilds the exact policy;
- ``results.json``: ``env_id``, ``mean_reward``, ``std_reward``, ``n_evaluation_episodes``,
  ``eval_datetime`` (the course's fields), and jaxpg's own;
- ``replay.gif`` (shown in the card) and ``replay.mp4`` (the Hub's video widget plays it) when
  ``imageio[ffmpeg]`` is installed (``pip install "jaxpg[video]"``; a one-line note otherwise): one episode.

Nothing is uploaded: the command prints the ``hf upload`` line that does it.

The safetensors file is written (and read back by ``jaxpg.load``) without the ``safetensors``
package: ``jaxpg.safetensors_io`` holds the format.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import jax
import numpy as np

from jaxpg import checkpoint, render, rundir
from jaxpg._version import __version__
from jaxpg.agent import load
from jaxpg.fileio import atomic_write, atomic_write_json
from jaxpg.runner.parts import keep_best
from jaxpg.safetensors_io import (  # noqa: F401 (re-exported)
    MANIFEST,
    SETTINGS_KEY,
    canonical_json,
    flatten,
    load_safetensors,
    save_safetensors,
    sha256_file,
    unflatten,
)

__all__ = ["export", "load_safetensors", "save_safetensors", "MANIFEST"]

def _best_kept_seed(run_dir: Path, ck, point) -> int:
    """The seed whose best evaluation during training (``OUT/best``) is highest."""
    _, records = keep_best.for_point(run_dir, ck, point)
    means = [r.get("eval_mean") for r in records]
    if all(m is None for m in means):
        raise checkpoint.CheckpointError(f"{run_dir} kept no best evaluation for any seed")
    return int(np.nanargmax([np.nan if m is None else m for m in means]))


def _best_seed(run_dir: Path, seeds: int) -> int:
    """The seed with the highest final evaluation score in summary.json (0 without one, or when a
    seed has none: it diverged).

    Raises:
      ValueError: summary.json is there but damaged (one line: choose the seed by hand).
    """
    path = run_dir / "summary.json"
    if not path.is_file():
        return 0
    try:
        summary = json.loads(path.read_text())
        scores = summary.get("eval_score") if isinstance(summary, dict) else ValueError("not a JSON object")
        if isinstance(scores, Exception):
            raise scores
        if not scores or any(s is None for s in scores):
            return 0
        if len(scores) != seeds or not all(isinstance(s, int | float) for s in scores):
            raise ValueError(f"eval_score holds {len(scores)} entries for {seeds} seeds")
    except (OSError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is damaged ({e}): choose the seed with `seed_index`") from None
    return int(np.argmax(scores))


def _check_out(run_dir: Path, out: Path) -> None:
    """An export folder is never a run directory, nor inside one."""
    run_abs, out_abs = run_dir.resolve(), out.resolve()
    if out_abs == run_abs or run_abs in out_abs.parents:
        raise ValueError(f"`out` {str(out)!r} is inside the run directory {str(run_dir)!r}: an export goes to a "
                         "folder of its own")
    if rundir.holds_a_run(out):
        raise ValueError(f"`out` {str(out)!r} holds a training run: an export goes to a folder of its own")


# jaxpg ids whose Hugging Face course leaderboard id differs: exports are labelled with the course's.
HUB_ENV_IDS = {"Pixelcopter-v0": "Pixelcopter-PLE-v0", "Pixelcopter-threefry-v0": "Pixelcopter-PLE-v0"}


def _card(env: str, repo: str, mean: float, std: float, episodes: int, greedy: bool, agent, replay: str | None,
          hparams: dict, config: dict, updates: int, steps: int | None) -> str:
    tags = [env, "reinforce", "reinforcement-learning", "custom-implementation", "deep-rl-class", "jax", "jaxpg"]
    front = [
        "---", "library_name: jaxpg", "tags:", *(f"- {t}" for t in tags), "model-index:", f"- name: {repo}",
        "  results:", "  - task:", "      type: reinforcement-learning", "      name: reinforcement-learning",
        "    dataset:", f"      name: {env}", f"      type: {env}", "    metrics:", "    - type: mean_reward",
        f"      value: {mean:.2f} +/- {std:.2f}", "      name: mean_reward", "      verified: false", "---", "",
    ]
    rows = "\n".join(f"| `{k}` | `{v}` |" for k, v in {**config, **hparams}.items())
    mode = "greedy (argmax / the Gaussian's mean)" if greedy else "sampled (as the course evaluates)"
    if agent.recurrent:  # the policy carries a state through the episode
        step = ("memory = agent.initial_state()                      # a recurrent policy: zeros at the start\n"
                "action, memory = agent.greedy(obs, memory)          # or agent.act(key, obs, memory): sampled")
    else:
        step = "action = agent.greedy(obs)                          # or agent.act(key, obs): sampled (compiled once)"
    body = f"""# REINFORCE agent playing **{env}**

A policy-gradient (REINFORCE, Williams 1992) agent trained with
jaxpg {__version__}: seed {agent.seed_index} of a run of
{agent.seeds} seeds (root seed {agent.root_seed}), after {updates:,} updates{
f" and {steps:,} valid environment steps" if steps else ""}{
" (its best evaluation during training)" if "best" in agent.meta else ""}.

## Evaluation

{episodes} fresh episodes, {mode} actions: mean reward **{mean:.2f} +/- {std:.2f}**
(score mean - std = {mean - std:.2f}).
{f'{chr(10)}![replay]({replay}){chr(10)}' if replay else ''}
## Use it

```python
import jax, jaxpg

agent = jaxpg.load("path/to/this/folder")          # the folder downloaded from the Hub
env, env_params = agent.env_pair()
obs, state = env.reset(jax.random.key(0), env_params)
{step}
obs, state, reward, terminated, truncated, _ = env.step(jax.random.key(1), state, action, env_params)
returns = agent.evaluate(episodes=10)               # 10 evaluation episodes, in parallel
```

## Hyperparameters

| setting | value |
| --- | --- |
{rows}

Files: `params.safetensors` (the policy's variables, observation statistics included),
`jaxpg.json` (the settings `jaxpg.load` rebuilds the policy from), `results.json`.
"""
    return "\n".join(front) + body


def export(run_dir: str | Path, out: str | Path, seed: int | None = None, point: int | None = None,
           episodes: int = 32, greedy: bool = False, eval_seed: int | None = None, repo_name: str | None = None,
           replay_frames: int = 500, fps: int = 30, say=print, best: bool = False) -> dict:
    """Writes the Hub folder of one trained seed (see the module docstring); returns results.json.

    Args:
      run_dir: a ``jaxpg train``/``sweep`` directory. seed: which seed (default: the best final
        score in summary.json). point: a sweep's point.
      out: the folder to write (created; files in it are replaced).
      episodes: fresh evaluation episodes (at least 10, as the course asks).
      greedy: evaluate (and replay) with the head's mode instead of sampling.
      eval_seed: root of the fresh evaluation's keys (default: the run's root seed; the keys
        differ from the run's own final evaluation).
      repo_name: the model's name in the card (default ``jaxpg-<env>``).
      best: export the seed's policy at its best evaluation during training (``OUT/best``, kept by
        ``--keep-best``) instead of the checkpoint's; the default seed is then the one whose best
        evaluation is highest.
    """
    if episodes < 10:
        raise ValueError(f"`eval_episodes` must be at least 10 for a Hub model card, got {episodes}")
    run_dir, out = Path(run_dir), Path(out)
    _check_out(run_dir, out)
    with rundir.locked(out):
        return _export(run_dir, out, seed, point, episodes, greedy, eval_seed, repo_name, replay_frames, fps, say,
                       best)


def _export(run_dir: Path, out: Path, seed, point, episodes, greedy, eval_seed, repo_name, replay_frames, fps,
            say, best) -> dict:
    ck = checkpoint.load(run_dir, point)
    if best and seed is None:
        seed = _best_kept_seed(run_dir, ck, point)
    seed = _best_seed(run_dir, ck.seeds) if seed is None and point is None else (seed or 0)
    agent = load(run_dir, seed_index=seed, point=point, best=best)
    root = agent.root_seed if eval_seed is None else int(eval_seed)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(root), 3), seed)
    returns = agent.evaluate(episodes=episodes, greedy=greedy, key=key)
    mean, std = float(returns.mean()), float(returns.std())
    out.mkdir(parents=True, exist_ok=True)
    params = jax.tree.map(np.asarray, agent.params)
    manifest = {"format": "jaxpg-policy", "version": 1, "jaxpg_version": __version__, "env": agent.env,
                "config": checkpoint.settings_dict(agent.config), "hparams": agent.hparams.to_dict(),
                "seed_index": agent.seed_index, "point": point, "root_seed": agent.root_seed, "seeds": agent.seeds,
                "updates_done": agent.updates_done, "source": str(run_dir)}
    if best:  # which evaluation it was (update, eval mean, env steps)
        manifest["best"] = agent.meta["best"]
    # the settings also travel inside the hashed tensor file: jaxpg.load refuses an edited jaxpg.json
    save_safetensors(flatten(params), out / "params.safetensors",
                     {"format": "jaxpg", "env": agent.env, "jaxpg_version": __version__,
                      SETTINGS_KEY: canonical_json(manifest)})
    atomic_write_json(out / MANIFEST, {**manifest, "files": {"params.safetensors": sha256_file(
        out / "params.safetensors")}})
    replay = None
    try:
        render.renderer(agent.env)
        states, length = render.play_episode(jax.random.fold_in(key, 1), agent.env, agent.policy,
                                             agent.params, replay_frames, greedy, dist=agent.policy.dist,
                                             frame_stack=agent.config.frame_stack)
        states = jax.tree.map(lambda a: a[: length + 1], states)
        # drawn a batch at a time as each writer takes them (twice with MP4: the states are small, frames not)
        render.write_gif(render.iter_frames(agent.env, states), out / "replay.gif", fps=fps)
        replay = "replay.gif"  # the card shows it
        if render.mp4_available():  # the Hub's video widget plays replay.mp4, as the course's folders have
            render.write_mp4(render.iter_frames(agent.env, states), out / "replay.mp4", fps=fps)
        else:
            say(f"note: no replay.mp4 (the Hub's video widget plays it): {render.MP4_HINT}")
    except ValueError:
        say(f"note: {agent.env} has no renderer; the folder has no replay")
    steps = agent.meta["best"].get("env_steps") if best else None
    try:
        steps = steps if best else int(np.asarray(ck.metrics["env_steps"])[seed].sum())
    except (KeyError, IndexError, TypeError):
        pass
    hub_env = HUB_ENV_IDS.get(agent.env, agent.env)  # the id the course's leaderboard reads
    results = {"env_id": hub_env, "jaxpg_env": agent.env, "mean_reward": mean, "std_reward": std,
               "n_evaluation_episodes": episodes,
               "eval_datetime": datetime.datetime.now().isoformat(), "greedy": bool(greedy),
               "score": mean - std, "seed_index": agent.seed_index, "point": point,
               "updates_done": agent.updates_done, "env_steps": steps, "jaxpg_version": __version__}
    atomic_write_json(out / "results.json", results)
    name = repo_name or f"jaxpg-{hub_env}"
    card = _card(hub_env, name, mean, std, episodes, greedy, agent, replay, agent.hparams.to_dict(),
                 checkpoint.settings_dict(agent.config), agent.updates_done, steps)
    atomic_write(out / "README.md", card.encode())
    return results
