"""The figure of a hyperparameter search made by ``jaxpg tune`` (its ``--out DIR/tune.json``).

``tune_figure`` draws one column per searched field, in two rows:

* top: every trial's value of the field against the update of the search loop. A trial that
  started at loop update ``started_at`` holds the value of each ``history`` entry from
  ``started_at + entry["update"]`` to the next entry (a step line) and the last one to its end,
  ``started_at + updates``. A PBT exploit+explore event is drawn as a thin dashed connector from
  the parent's value at that update to the child's new value (the lineage). The winner is drawn
  thick and black, labelled "best". Log-uniform spaces get a log y axis.
* bottom: each trial's score against the field's final value, the marker by status (finished,
  stopped early, running), the winner ringed. Diverged trials are drawn as an x at the bottom
  edge; scores of -inf (``steps-to:T`` never reached, or no finite return) are left out and
  counted in the title. ``steps-to:T`` scores are stored negated: the positive env steps are
  drawn (fewer is better).

``read_tune`` reads and checks ``tune.json``; ``lineage_segments`` and ``score_points`` are what
the two rows draw. Figures follow ``jaxpg.plotting``: their own Agg canvas (pyplot untouched),
constrained layout, written atomically, one-line ``ValueError`` for bad input.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib import colormaps
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from jaxpg import rundir, scores
from jaxpg.plotting import _check_format, _figure, _save

__all__ = ["read_tune", "lineage_segments", "score_points", "metric_words", "tune_figure", "Lineage"]

StrPath = rundir.StrPath
Point = tuple[float, float]
Segment = tuple[Point, Point]

STATUSES = ("running", "finished", "stopped", "diverged")
_MARKERS = {"finished": "o", "stopped": "v", "running": "^", "diverged": "x"}
_STATUS_LABELS = {"finished": "finished (full budget)", "stopped": "stopped early (halving)",
                  "running": "running (interrupted search)", "diverged": "diverged (not ranked)"}


# --------------------------------------------------------------------------------------------
# Reading and checking tune.json


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def read_tune(tune_dir: StrPath) -> dict[str, Any]:
    """The checked record of ``tune_dir/tune.json`` (``tune_dir`` may also be the file itself).

    Raises:
      ValueError: (one line, naming the file) no tune.json, not JSON, or a record that is not
        what ``jaxpg tune`` writes (missing or mistyped keys, a parent or winner out of range).
    """
    given = Path(tune_dir)
    path = given if given.is_file() else given / "tune.json"
    record = rundir.read_json(path)  # ValueError naming the file when it is not a JSON object
    if record is None:
        raise ValueError(f"{path}: no tune.json (expected the `--out` directory of jaxpg tune)")

    def bad(what: str):
        return ValueError(f"{path}: malformed tune.json: {what}")

    metric = record.get("metric")
    if not isinstance(metric, str):
        raise bad("no 'metric' string")
    _threshold(metric, path)
    sched = record.get("scheduler")
    if not isinstance(sched, dict) or not isinstance(sched.get("scheduler"), str):
        raise bad("no 'scheduler' object with a 'scheduler' name")
    spaces = sched.get("spaces")
    if not isinstance(spaces, list) or not spaces:
        raise bad("no 'scheduler.spaces' list of searched fields")
    for k, s in enumerate(spaces):
        if not isinstance(s, dict) or not isinstance(s.get("field"), str):
            raise bad(f"space {k} has no 'field' name")
        choices = s.get("choices")
        ok_range = _number(s.get("low")) and _number(s.get("high"))
        ok_choices = isinstance(choices, list) and choices and all(_number(c) for c in choices)
        if not (ok_range or ok_choices):
            raise bad(f"space {s['field']!r} has neither numeric 'low'/'high' nor a 'choices' list")
    fields = [s["field"] for s in spaces]
    trials = record.get("trials")
    if not isinstance(trials, list) or not trials:
        raise bad("no 'trials' list")
    n = len(trials)
    for i, t in enumerate(trials):
        if not isinstance(t, dict):
            raise bad(f"trial {i} is not an object")
        if t.get("index", i) != i:
            raise bad(f"trial {i} has index {t.get('index')!r}")
        if t.get("status") not in STATUSES:
            raise bad(f"trial {i} has status {t.get('status')!r} (expected one of {', '.join(STATUSES)})")
        for key in ("updates", "started_at"):
            if not _count(t.get(key, 0)) or (key == "updates" and key not in t):
                raise bad(f"trial {i} has no non-negative integer {key!r}")
        if not _number(t.get("score")):
            raise bad(f"trial {i} has no numeric 'score'")
        hp = t.get("hparams")
        if not isinstance(hp, dict) or not all(_number(hp.get(f)) for f in fields):
            raise bad(f"trial {i} 'hparams' lacks a searched field ({', '.join(fields)})")
        history = t.get("history")
        if not isinstance(history, list) or not history:
            raise bad(f"trial {i} has no 'history' list")
        last = -1
        for k, h in enumerate(history):
            if not isinstance(h, dict) or not _count(h.get("update")) or not isinstance(h.get("hparams"), dict):
                raise bad(f"trial {i} history entry {k} needs an 'update' count and 'hparams'")
            if h["update"] < last:
                raise bad(f"trial {i} history is not in update order")
            last = h["update"]
            parent = h.get("parent")
            if parent is not None and not (_count(parent) and parent < n and parent != i):
                raise bad(f"trial {i} history entry {k} has parent {parent!r} (trials 0..{n - 1})")
            if not all(_number(h["hparams"].get(f)) for f in fields if k == 0 or f in h["hparams"]):
                raise bad(f"trial {i} history entry {k} lacks a numeric searched field")
    best = record.get("best")
    if best is not None and not (_count(best) and best < n):
        raise bad(f"'best' is {best!r} (trials 0..{n - 1} or null)")
    return record


def _threshold(metric: str, path: Any = "tune.json") -> float | None:
    """T of ``steps-to:T`` (None for ``final`` / ``auc``)."""
    try:
        return scores.metric_threshold(scores.check_metric(metric, training_only=True))
    except ValueError:
        raise ValueError(f"{path}: malformed tune.json: unknown metric {metric!r} (final, auc or steps-to:T)") from None


def metric_words(metric: str) -> str:
    """The score axis label of ``metric``: what its number means, in words."""
    t = _threshold(metric)
    if t is None:
        return {"final": "final: mean training return, last tenth",
                "auc": "auc: mean training return over the run"}[metric]
    return f"{metric}: env steps until return reaches {t:g} (fewer is better)"


# --------------------------------------------------------------------------------------------
# What the rows draw


class Lineage(NamedTuple):
    """Segments ``((x0, y0), (x1, y1))`` of one field, x = loop update.

    ``steps[i]``: trial i's step line: a horizontal segment from each history entry to the next
    (the last to the trial's end), and a vertical riser where a later entry has no parent (a
    change of the trial's own value). ``links[i]``: trial i's PBT connectors, one per entry with
    a parent: from the parent's value at that update to trial i's new value (vertical).
    """

    steps: dict[int, list[Segment]]
    links: dict[int, list[Segment]]


def _path(trial: Mapping[str, Any], field: str) -> list[Point]:
    """``(x, value)`` of each history entry of ``trial`` (x = started_at + entry update)."""
    start = trial.get("started_at", 0)
    out, value = [], None
    for h in trial["history"]:
        value = float(h["hparams"].get(field, value))
        out.append((float(start + h["update"]), value))
    return out


def _value_at(trial: Mapping[str, Any], field: str, x: float) -> float | None:
    """The trial's value at loop update ``x`` (its last entry at or before x); None before it began."""
    value = None
    for hx, hv in _path(trial, field):
        if hx <= x:
            value = hv
    return value


def lineage_segments(record: Mapping[str, Any], field: str) -> Lineage:
    """The top row's lines for ``field`` (see ``Lineage``); ``record`` as ``read_tune`` returns it.

    Raises:
      ValueError: ``field`` was not searched, or a parent had not started at its child's copy.
    """
    _space(record, field)
    trials = record["trials"]
    steps: dict[int, list[Segment]] = {}
    links: dict[int, list[Segment]] = {}
    for i, t in enumerate(trials):
        pts = _path(t, field)
        end = float(t.get("started_at", 0) + t["updates"])
        segs: list[Segment] = []
        for k, (x, v) in enumerate(pts):
            x_next = pts[k + 1][0] if k + 1 < len(pts) else max(end, x)
            segs.append(((x, v), (x_next, v)))
            if k + 1 < len(pts) and t["history"][k + 1].get("parent") is None and pts[k + 1][1] != v:
                segs.append(((x_next, v), (x_next, pts[k + 1][1])))
        steps[i] = segs
        links[i] = []
        for k, h in enumerate(t["history"]):
            p = h.get("parent")
            if k == 0 or p is None:
                continue
            x, v = pts[k]
            pv = _value_at(trials[p], field, x)
            if pv is None:
                raise ValueError(f"trial {i}'s parent {p} had not started at loop update {x:g}")
            links[i].append(((x, pv), (x, v)))
    return Lineage(steps, links)


def score_points(record: Mapping[str, Any], field: str) -> dict[str, Any]:
    """The bottom row's points for ``field``.

    Returns:
      ``{"points": [{"index", "x", "y", "status"}], "diverged": [{"index", "x"}],
      "never": [indices], "untrained": [indices]}``: ``x`` the field's final value, ``y`` the score
      (``steps-to``: the positive env steps, i.e. the stored score negated). A diverged trial is
      only in ``diverged``; a score of -inf or nan is in ``never``; a trial with no update is in
      ``untrained``.
    """
    _space(record, field)
    steps_to = _threshold(record["metric"]) is not None
    out: dict[str, Any] = {"points": [], "diverged": [], "never": [], "untrained": []}
    for i, t in enumerate(record["trials"]):
        x = float(t["hparams"][field])
        s = float(t["score"])
        if t["status"] == "diverged":
            out["diverged"].append({"index": i, "x": x})
        elif t["updates"] == 0:
            out["untrained"].append(i)
        elif not math.isfinite(s):
            out["never"].append(i)
        else:
            out["points"].append({"index": i, "x": x, "y": -s if steps_to else s, "status": t["status"]})
    return out


def _space(record: Mapping[str, Any], field: str) -> dict[str, Any]:
    for s in record["scheduler"]["spaces"]:
        if s["field"] == field:
            return s
    names = ", ".join(s["field"] for s in record["scheduler"]["spaces"])
    raise ValueError(f"{field!r} was not searched (searched: {names})")


# --------------------------------------------------------------------------------------------
# The figure


def _space_text(space: Mapping[str, Any]) -> str:
    if space.get("choices"):
        return "choices " + ", ".join(f"{c:g}" for c in space["choices"])
    how = "log-uniform" if space.get("log") else "uniform"
    return f"{space['low']:g} .. {space['high']:g}, {how}"


def _note(record: Mapping[str, Any], field: str) -> str:
    pts = score_points(record, field)
    parts = []
    if pts["never"]:
        t = _threshold(record["metric"])
        why = f"never reached {t:g}" if t is not None else "had no finite score"
        parts.append(f"{len(pts['never'])} trial{'s' * (len(pts['never']) != 1)} {why} (not shown)")
    if pts["untrained"]:
        parts.append(f"{len(pts['untrained'])} not trained yet (not shown)")
    if pts["diverged"]:
        parts.append(f"{len(pts['diverged'])} diverged (x at the bottom)")
    return "; ".join(parts)


def _range_axis(ax, which: str, space: Mapping[str, Any]) -> None:
    """Scales ``ax``'s ``which`` ("x" or "y") axis to the searched range: log for log-uniform
    spaces, the choices as ticks."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    set_scale, set_lim = (ax.set_xscale, ax.set_xlim) if which == "x" else (ax.set_yscale, ax.set_ylim)
    if space.get("choices"):
        lo, hi = min(space["choices"]), max(space["choices"])
        axis.set_ticks(sorted(space["choices"]))
    else:
        lo, hi = float(space["low"]), float(space["high"])
    if space.get("log"):
        set_scale("log")
        set_lim(lo / 1.15, hi * 1.15)
        if hi / lo < 10:  # under a decade: label 1, 2, 5 x 10^k plainly instead of crowded minor ticks
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    else:
        pad = 0.04 * (hi - lo) or 0.05 * max(abs(lo), 1.0)
        set_lim(lo - pad, hi + pad)
        if not space.get("choices"):
            axis.set_major_locator(MaxNLocator(5))


def tune_figure(tune_dir: StrPath, out_path: StrPath, title: str | None = None, return_axes: bool = False):
    """Draws the search in ``tune_dir`` (see the module doc) and writes it to ``out_path``.

    Args:
      tune_dir: the ``--out`` directory of ``jaxpg tune`` (or its ``tune.json``).
      out_path: the image to write (format from the suffix: .png, .pdf, .svg, ...); its parent
        directory is created; written atomically.
      title: the figure title (default: scheduler, trials, seeds, budget and metric). A note of
        the trials not shown is added below it.
      return_axes: also return the axes, a [2, fields] array (for tests and further drawing).

    Returns:
      ``out_path`` as a Path, or ``(path, axes)`` with ``return_axes``.

    Raises:
      ValueError: an unsupported image format, or any ``read_tune`` error.
    """
    out = _check_format(out_path)
    record = read_tune(tune_dir)
    spaces = record["scheduler"]["spaces"]
    trials, best, metric = record["trials"], record.get("best"), record["metric"]
    nf = len(spaces)
    fig = _figure((max(6.0, 4.6 * nf + 0.6), 8.4))
    axes = np.array(fig.subplots(2, nf, squeeze=False))
    for ax in axes[0, 1:]:
        ax.sharex(axes[0, 0])  # the same loop updates
    for ax in axes[1, 1:]:
        ax.sharey(axes[1, 0])  # the same scores
    cmap = colormaps["tab10" if len(trials) <= 10 else "viridis"]

    def colour(i: int):
        if i == best:
            return "black"
        return cmap(i % 10) if len(trials) <= 10 else cmap(i / max(1, len(trials) - 1))

    steps_to = _threshold(metric) is not None
    for col, space in enumerate(spaces):
        field = space["field"]
        top, bottom = axes[0, col], axes[1, col]
        lin = lineage_segments(record, field)
        for i, t in enumerate(trials):
            is_best = i == best
            c = colour(i)
            lw, z = (3.0, 4) if is_best else (1.3, 2)
            for k, ((x0, y0), (x1, y1)) in enumerate(lin.steps[i]):
                top.plot([x0, x1], [y0, y1], color=c, lw=lw, alpha=1.0 if is_best else 0.8, zorder=z,
                         solid_capstyle="butt", label=f"best (trial {i}): thick line" if is_best and k == 0 else None)
            for (x0, y0), (x1, y1) in lin.links[i]:
                top.plot([x0, x1], [y0, y1], color=c, lw=1.4 if is_best else 0.9, ls="--",
                         alpha=0.9 if is_best else 0.6, zorder=z)
            (xe, ye) = lin.steps[i][-1][1] if lin.steps[i] else (None, None)
            if xe is not None and t["status"] != "finished":
                top.scatter([xe], [ye], marker=_MARKERS[t["status"]], s=30, color=c, zorder=z + 1)
        _range_axis(top, "y", space)
        top.set_title(f"{field}\n({_space_text(space)})", fontsize=11)
        top.set_ylabel(field, fontsize=10)
        top.set_xlabel("update of the search loop", fontsize=10)
        top.xaxis.set_major_locator(MaxNLocator(integer=True))
        top.grid(alpha=0.3)

        pts = score_points(record, field)
        for status in ("finished", "stopped", "running"):
            sel = [p for p in pts["points"] if p["status"] == status]
            if sel:
                bottom.scatter([p["x"] for p in sel], [p["y"] for p in sel], marker=_MARKERS[status], s=40,
                               c=[colour(p["index"]) for p in sel], edgecolors="0.2", linewidths=0.5, zorder=3)
        won = [p for p in pts["points"] if p["index"] == best]
        if won:
            bottom.scatter([won[0]["x"]], [won[0]["y"]], s=200, facecolors="none", edgecolors="black",
                           linewidths=2.0, zorder=4)
        if pts["diverged"]:  # on the bottom edge (x in data, y in axes coordinates): no score to place
            bottom.scatter([d["x"] for d in pts["diverged"]], [0.0] * len(pts["diverged"]), marker="x", s=50,
                           color="C3", transform=bottom.get_xaxis_transform(), clip_on=False, zorder=5)
        _range_axis(bottom, "x", space)
        bottom.set_xlabel(f"{field} (final value)", fontsize=10)
        if col == 0:
            bottom.set_ylabel(textwrap.fill("score — " + metric_words(metric), 40), fontsize=10)
        bottom.grid(alpha=0.3)
        if steps_to:
            bottom.yaxis.set_major_locator(MaxNLocator(integer=True))

    # one legend below the figure (over no data); grey stand-ins where the colours are the trials'
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if any(links for links in lineage_segments(record, spaces[0]["field"]).links.values()):
        handles.append(Line2D([], [], color="0.3", ls="--", lw=0.9))
        labels.append("PBT copy: parent's value → new value")
    pts = score_points(record, spaces[0]["field"])
    shown = {p["status"] for p in pts["points"]} | {t["status"] for t in trials if t["status"] != "finished"}
    for status in ("finished", "stopped", "running"):
        if status in shown:
            handles.append(Line2D([], [], color="0.45", marker=_MARKERS[status], ls="", markeredgecolor="0.2"))
            labels.append(_STATUS_LABELS[status])
    if best is not None and any(p["index"] == best for p in pts["points"]):
        handles.append(Line2D([], [], marker="o", ms=12, mfc="none", mec="black", mew=2.0, ls=""))
        labels.append(f"best (trial {best}): ringed")
    if pts["diverged"]:
        handles.append(Line2D([], [], marker="x", color="C3", ls=""))
        labels.append(_STATUS_LABELS["diverged"] + ": x at the bottom edge")
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(handles)), fontsize="small")

    sched = record["scheduler"]
    kind = {"none": "random search", "halving": "successive halving", "pbt": "PBT"}.get(sched["scheduler"],
                                                                                         sched["scheduler"])
    default = (f"{kind}: {len(trials)} trials, {record.get('seeds', '?')} seeds each, "
               f"budget {record.get('budget', '?')} updates, metric {metric}")
    note = _note(record, spaces[0]["field"])
    fig.suptitle((title if title is not None else default) + (f"\n{note}" if note else ""), fontsize=12)
    path = _save(fig, out)
    return (path, axes) if return_axes else path
