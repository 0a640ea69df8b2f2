"""Experiment tracking for ``train`` and ``sweep``: TensorBoard (``--tensorboard``) and Weights &
Biases (``--wandb``). Both are optional dependencies, fed by the driver's ``progress`` callback.

What W&B gets (one W&B run per jaxpg run):

- config: the env, ``Config``, ``HParams``, seeds, root seed, sweep points and evaluation settings;
- every update: each metric (``mean_return``, ``loss``, ``entropy``, ``grad_norm``, ``mean_length``)
  averaged over seeds (``all/…``, with ``min/…`` and ``max/…`` of the return) and per seed
  (``seed{s}/…``) — for a sweep per point (``p{h}/…``, ``p{h}/seed{s}/…``); per-seed keys are
  logged for runs of at most :data:`PER_SEED_LIMIT` seeds in all;
- with ``--eval-every``: ``eval/…`` at each evaluation (sampled and greedy means);
- at the end: the final evaluation per seed in the run summary, and the learning-curve and
  final-score plots as images (with ``--out``).

``WANDB_MODE=offline`` keeps everything in a local ``wandb/`` directory (``wandb sync`` uploads it).

The x axis is env steps, as in SB3 and CleanRL: each run's cumulative valid env steps (the steps
of its updates' episodes, ``Metrics.env_steps``), which go on from the checkpoint's count after
``--resume``. W&B: every row logs ``env_steps`` (the mean over every run of them) and ``update``;
``define_metric("*", step_metric="env_steps")`` makes env steps the default x axis of every chart
(pick ``update`` or W&B's ``Step``, the update, in a chart's settings for update-keyed plots).

What TensorBoard gets (``OUT/tensorboard``; view it with ``tensorboard --logdir OUT/tensorboard``,
``pip install tensorboard``), ``global_step`` = env steps:

- ``seed{s}/…``: each metric of seed ``s`` at seed ``s``'s own cumulative env steps;
- ``all/…``: the mean over seeds (of the finite values) at the mean over seeds of the cumulative
  env steps, with ``all/update`` (which update that is), ``all/steps_per_s`` and, with
  ``--eval-every``, ``eval/sampled_mean`` and ``eval/greedy_mean``;
- ``by_update/…``: the second series, keyed by update (TensorBoard's x axis can only be the
  ``global_step``, a time or the wall clock): the ``all/`` means, ``by_update/env_steps`` and
  the evaluations.

Both finish after the command's final table (:func:`finish_pending`), so that W&B's end-of-run
block comes last.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import numpy as np

from jaxpg import plotting
from jaxpg.cli.common import UsageError

FIELDS = ("mean_return", "loss", "entropy", "grad_norm", "mean_length")
PER_SEED_LIMIT = 64


def _finite_mean(v) -> float | None:
    v = np.asarray(v, np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def _cumulative_steps(p) -> np.ndarray:
    """``[H, S, n]``: each run's valid env steps through each of the chunk's n updates (a resumed
    past included), from ``Progress.run_env_steps`` (through the chunk's last update)."""
    steps = np.asarray(p.metrics.env_steps, np.int64)
    later = np.cumsum(steps[..., ::-1], axis=-1)[..., ::-1] - steps  # the steps of the updates after each
    return np.asarray(p.run_env_steps, np.int64)[..., None] - later


class TensorBoard:
    """Logs a run's metrics to ``OUT/tensorboard`` (see the module docstring for what)."""

    def __init__(self, out: Path):
        from tensorboardX import SummaryWriter  # optional dependency: jaxpg[tensorboard]

        # a file of its own: tensorboardX names it by the second, and a resume within the same second
        # would overwrite the run's first file
        self.w = SummaryWriter(str(out / "tensorboard"), filename_suffix=f".{uuid.uuid4().hex[:12]}")

    def progress(self, p) -> None:
        m, cum = p.metrics, _cumulative_steps(p)[0]  # [S, n]: train has one point
        n = cum.shape[-1]
        for u in range(n):
            update, x = p.update - n + u + 1, int(round(float(cum[:, u].mean())))
            self.w.add_scalar("all/update", update, x)
            self.w.add_scalar("by_update/env_steps", float(cum[:, u].mean()), update)
            for field in FIELDS:
                vals = np.asarray(getattr(m, field)[0, :, u], np.float64)
                mean = _finite_mean(vals)
                if mean is not None:
                    self.w.add_scalar(f"all/{field}", mean, x)
                    self.w.add_scalar(f"by_update/{field}", mean, update)
                for s, v in enumerate(vals):
                    self.w.add_scalar(f"seed{s}/{field}", float(v), int(cum[s, u]))
        x = int(round(float(cum[:, -1].mean())))
        self.w.add_scalar("all/steps_per_s", float(p.steps_per_s), x)
        if p.evaluation is not None:
            for mode in ("sampled", "greedy"):
                mean = _finite_mean(p.evaluation[f"{mode}_mean"])
                if mean is not None:
                    self.w.add_scalar(f"eval/{mode}_mean", mean, x)
                    self.w.add_scalar(f"by_update/eval_{mode}_mean", mean, p.update)

    def finish(self, result) -> None:
        self.w.close()


class Wandb:
    """Logs a run to Weights & Biases (see the module docstring for what)."""

    def __init__(self, args, settings: dict):
        try:
            import wandb  # optional dependency: jaxpg[wandb]
        except ImportError:
            raise UsageError("--wandb needs wandb: pip install 'jaxpg[wandb]'") from None
        self.wandb = wandb
        self.out = args.out
        kwargs = {"project": args.wandb_project, "entity": args.wandb_entity, "group": args.wandb_group,
                  "tags": args.wandb_tags, "config": settings, "job_type": settings.get("kind"),
                  "name": args.wandb_name}
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            kwargs["dir"] = str(args.out)
        try:
            self.run = wandb.init(**{k: v for k, v in kwargs.items() if v is not None})
        except Exception as e:  # noqa: BLE001 - wandb raises many kinds (auth, network, settings)
            raise UsageError(f"--wandb: wandb.init failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                             " (WANDB_MODE=offline logs without a network)") from None
        self.sweep = settings.get("kind") == "sweep"
        self.env_steps: int | None = None  # at the last update logged
        self.run.define_metric("env_steps")
        self.run.define_metric("*", step_metric="env_steps")  # every chart's x axis: env steps

    def _prefix(self, h: int) -> str:
        return f"p{h}/" if self.sweep else ""

    def progress(self, p) -> None:
        m, cum = p.metrics, _cumulative_steps(p)
        H, S, n = m.loss.shape
        per_seed = H * S <= PER_SEED_LIMIT
        for u in range(n):
            step = p.update - n + u + 1
            self.env_steps = int(round(float(cum[..., u].mean())))
            row: dict[str, float | None] = {"env_steps": self.env_steps, "update": step}
            for h in range(H):
                pre = self._prefix(h)
                for field in FIELDS:
                    vals = np.asarray(getattr(m, field)[h, :, u], np.float64)
                    row[f"{pre}all/{field}"] = _finite_mean(vals)
                    if per_seed:
                        for s in range(S):
                            row[f"{pre}seed{s}/{field}"] = float(vals[s])
                ret = np.asarray(m.mean_return[h, :, u], np.float64)
                if np.isfinite(ret).any():
                    row[f"{pre}min/mean_return"] = float(np.nanmin(ret))
                    row[f"{pre}max/mean_return"] = float(np.nanmax(ret))
            if u == n - 1:
                row["steps_per_s"] = float(p.steps_per_s)
                if p.evaluation is not None:
                    for h in range(H):
                        for mode in ("sampled", "greedy"):
                            row[f"{self._prefix(h)}eval/{mode}_mean"] = \
                                _finite_mean(p.evaluation[f"{mode}_mean"][h])
            self.run.log({k: v for k, v in row.items() if v is not None}, step=step)

    def finish(self, result) -> None:
        try:
            if result is not None and result.eval_returns is not None:
                mode = "greedy" if result.spec.evaluation.greedy else "sampled"
                ev = result.eval_returns[mode]  # [H, S, K]
                means, stds = ev.mean(-1), ev.std(-1)
                for h in range(ev.shape[0]):
                    pre = self._prefix(h)
                    self.run.summary[f"{pre}eval/mean"] = float(means[h].mean())
                    self.run.summary[f"{pre}eval/score_per_seed"] = [float(x) for x in means[h] - stds[h]]
                    self.run.summary[f"{pre}eval/mean_per_seed"] = [float(x) for x in means[h]]
                self.run.summary["eval/mode"] = mode
                self.run.summary["updates_done"] = int(result.updates_done)
            if result is not None and self.out is not None and (Path(self.out) / "metrics.csv").exists():
                self._plots(result)
        finally:
            self.run.finish()

    def _plots(self, result) -> None:
        images = {}
        try:
            images["plots/learning_curve"] = plotting.learning_curves(self.out, Path(self.out) / "curve.png")
            if result.eval_returns is not None:
                images["plots/final_scores"] = plotting.final_scores(self.out, Path(self.out) / "final_scores.png")
        except ValueError:
            pass  # e.g. nothing to draw yet: the metrics are still logged
        if images:
            row = {k: self.wandb.Image(str(v)) for k, v in images.items()}
            if self.env_steps is not None:
                row["env_steps"] = self.env_steps
            self.run.log(row, step=int(result.updates_done))


_PENDING: list = []  # [(Trackers, RunResult)]: runs that ended, their trackers not yet finished


class Trackers:
    """Every tracker a command asked for, as one part of the run's loop (``jaxpg.runner.loop.Part``'s
    hooks; not a subclass, so that this module imports no JAX before ``jax.distributed`` starts).

    ``makers`` build the trackers when the run starts (the settings and the env are checked and
    the programs compiled by then, so a bad run starts no W&B run); each chunk's ``Progress`` goes
    to every tracker, and the ``RunResult`` at the end: a run that failed (``None``) finishes them
    at once; a run that ended waits for :func:`finish_pending`, which the command calls after its
    final table (W&B prints its end-of-run block as it finishes).
    """

    def __init__(self, makers):
        self.makers = [m for m in makers if m is not None]
        self.items: list = []

    def __bool__(self) -> bool:
        return bool(self.makers)

    def start(self, board) -> None:
        self.items = [make() for make in self.makers]

    def after_chunk(self, board, chunk) -> None:
        for t in self.items:
            t.progress(chunk.progress)

    def finish(self, board) -> None:
        pass

    def close(self, result) -> None:
        if result is None:
            self.end(None)
        elif self.items:
            _PENDING.append((self, result))

    def end(self, result) -> None:
        """Finishes every tracker (once) with ``result``."""
        items, self.items = self.items, []
        for t in items:
            t.finish(result)


def finish_pending() -> None:
    """Finishes the trackers of the runs that ended (after the command's final table: stdout is
    flushed first, so that W&B's end-of-run block follows the table)."""
    sys.stdout.flush()
    while _PENDING:
        trackers, result = _PENDING.pop(0)
        trackers.end(result)


def _mkdir_then(out: Path, make):
    out.mkdir(parents=True, exist_ok=True)
    return make()


def add_flags(p, sweep: bool) -> None:
    """``--wandb`` and its options (train and sweep), and ``--tensorboard`` (train)."""
    if not sweep:
        p.add_argument("--tensorboard", action="store_true",
                       help="also log the per-update metrics to OUT/tensorboard, keyed by env steps (`pip install "
                            "'jaxpg[tensorboard]'`; view: tensorboard --logdir OUT/tensorboard)")
    p.add_argument("--wandb", action="store_true",
                   help="log config, every update's metrics, evaluations and the final plots to Weights & Biases "
                        "(`pip install 'jaxpg[wandb]'`; WANDB_MODE=offline logs locally)")
    p.add_argument("--wandb-project", default="jaxpg", help="W&B project")
    p.add_argument("--wandb-entity", default=None, help="W&B entity (user or team; default: yours)")
    p.add_argument("--wandb-group", default=None, help="W&B group, e.g. one per experiment")
    p.add_argument("--wandb-tags", type=lambda t: [x for x in t.split(",") if x], default=None,
                   help="comma-separated W&B tags")
    p.add_argument("--wandb-name", default=None, help="W&B run name (default: W&B's)")


def trackers(args, settings: dict) -> Trackers:
    """The trackers ``args`` asks for (checked before anything is compiled)."""
    items = []
    if getattr(args, "tensorboard", False):
        if args.out is None:
            raise UsageError("--tensorboard needs --out (the logs go to OUT/tensorboard)")
        try:
            import tensorboardX  # noqa: F401  # optional dependency: jaxpg[tensorboard]
        except ImportError:
            raise UsageError("--tensorboard needs tensorboardX: pip install tensorboardX") from None
        items.append(lambda: _mkdir_then(args.out, lambda: TensorBoard(args.out)))
    if not args.wandb and any(getattr(args, f) not in (None, "jaxpg") for f in
                              ("wandb_project", "wandb_entity", "wandb_group", "wandb_tags", "wandb_name")):
        raise UsageError("--wandb-project/--wandb-entity/--wandb-group/--wandb-tags/--wandb-name need --wandb")
    if args.wandb:
        items.append(lambda: Wandb(args, settings))
    return Trackers(items)
