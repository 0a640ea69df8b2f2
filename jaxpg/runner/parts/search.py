"""Search: trials of hyperparameters in the slots of one compiled program, as a part of the loop.

The population has P slots (its points) × S seeds. Each slot trains one *trial* (a draw of the
search space) for at most ``config.num_updates`` updates; the slots stay busy:

- ``none`` (random search): a trial that has trained its budget is finished and its slot takes
  the next trial (started anew, at update 0 of its own schedule);
- ``halving`` (asynchronous successive halving): at each rung (``min_updates`` × η^k updates of a
  trial, and the budget) a trial goes on only if its recent return is in the top 1/η of every
  trial that reached that rung so far; the others stop and their slots take new trials, so the
  program keeps its width and a stopped trial costs no more steps;
- ``pbt`` (population-based training): every ``interval`` updates the bottom ``fraction`` of the
  slots copies the parameters, optimiser state and hyperparameters of a random top slot
  (exploit) and perturbs those hyperparameters within their ranges (explore).

Decisions are taken at synchronisation points of the loop (nothing is queued ahead there), from
the metrics read back, with generators keyed by the root seed, the update and the slot: the same
key gives the same trials and lineage. The search's whole state is saved in ``checkpoint.json``
(``search``), so ``resume`` continues it bit for bit. A trial whose run diverged is marked and its
slot refilled; it is never ranked.
"""

from __future__ import annotations

import math
import warnings

import jax
import numpy as np

from jaxpg.runner.loop import Board, Chunk, Part
from jaxpg.runner.space import Space, draw, explore_rng
from jaxpg.types import HParams

__all__ = ["Search", "SCHEDULERS"]

SCHEDULERS = ("none", "halving", "pbt")


def _recent(trial: dict, window: int) -> float:
    r = np.asarray(trial["returns"][-window:], np.float64)
    r = r[np.isfinite(r)]
    return float(r.mean()) if r.size else -math.inf


class Search(Part):
    """Runs ``trials`` trials through the slots (see the module doc).

    Args:
      spaces: the ``Space`` of each searched field; the other fields are the spec's ``hparams``.
      trials: N, trials in all (``pbt``: the population itself, N = P).
      scheduler: ``none``, ``halving`` or ``pbt``.
      eta, min_updates: halving's reduction factor and first rung (updates of a trial).
      interval, fraction: pbt's period (updates) and the share of slots exploited each time.
    """

    def __init__(self, spaces: list[Space], trials: int, scheduler: str = "none", *, eta: int = 3,
                 min_updates: int | None = None, interval: int | None = None, fraction: float = 0.25,
                 record: dict | None = None):
        self.spaces, self.n_trials, self.scheduler = list(spaces), int(trials), scheduler
        self.eta, self.min_updates, self.interval, self.fraction = int(eta), min_updates, interval, float(fraction)
        self.record, self.state = record, {}
        self.fingerprint = f"search={self.settings()}"

    # ------------------------------------------------------------------ set-up and record
    def settings(self) -> dict:
        return {"scheduler": self.scheduler, "trials": self.n_trials, "eta": self.eta, "min_updates": self.min_updates,
                "interval": self.interval, "fraction": self.fraction, "spaces": [s.record() for s in self.spaces]}

    def start(self, board: Board) -> None:
        pop, budget = board.pop, board.spec.config.num_updates
        saved = (board.ckpt.meta.get("search") if board.ckpt is not None else None)
        if saved is not None:
            self.state = saved["state"]
            board.hp = self._put_hp(board)
        else:
            base = board.spec.hparams
            trials = [dict(p) for p in board.spec.point_list]
            self.state = {
                "trials": [{"hparams": {**{f: float(getattr(base, f)) for f in self._fields()}, **t},
                            "history": [{"update": 0, "parent": None, "hparams": dict(t)}], "returns": [], "steps": [],
                            "env_steps": 0, "updates": 0, "status": "running", "started_at": 0, "slot": slot}
                           for slot, t in enumerate(trials)],
                "slots": list(range(pop.num_points)), "next": pop.num_points, "rungs": {},
                "hp_runs": {f: [float(getattr(base, f))] * pop.num_runs for f in HParams.__dataclass_fields__},
            }
            for slot, t in enumerate(self.state["trials"]):
                self._set_hp(board, slot, t["hparams"])
        board.pacer.add_sync({"none": budget, "halving": self.min_updates or budget,
                              "pbt": self.interval or budget}[self.scheduler])
        self._save(board)

    def _save(self, board: Board) -> None:
        board.extra["search"] = {"settings": self.settings(), "tune": self.record, "state": self.state}

    def _fields(self) -> list[str]:
        return [s.field for s in self.spaces]

    def _set_hp(self, board: Board, slot: int, hparams: dict) -> None:
        runs = np.nonzero(board.pop.run_point[: board.pop.num_runs] == slot)[0]
        for f, v in hparams.items():
            for r in runs:
                self.state["hp_runs"][f][r] = float(v)

    def _put_hp(self, board: Board) -> HParams:
        pop = board.pop
        return HParams(**{f: pop.put(pop.pad(np.asarray(v, np.float32))) for f, v in self.state["hp_runs"].items()})

    # ------------------------------------------------------------------ each chunk
    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        pop, st = board.pop, self.state
        ret = pop.to_points(chunk.metrics.mean_return)  # [P, S, n]
        steps = pop.to_points(np.asarray(chunk.metrics.env_steps, np.int64))
        with warnings.catch_warnings():  # a slot whose every seed is masked (diverged, idle): NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(np.where(np.isfinite(ret), ret, np.nan), axis=1)  # [P, n]
        for slot, t in enumerate(st["slots"]):
            if t is None:
                continue
            trial = st["trials"][t]
            trial["returns"] += [float(x) for x in mean[slot]]
            trial["steps"] += [int(x) for x in steps[slot].sum(axis=0)]
            trial["env_steps"] += int(steps[slot].sum())
            trial["updates"] += int(ret.shape[-1])
        if board.pacer.is_sync(chunk.updates_done) and not chunk.last:
            getattr(self, f"_{self.scheduler}")(board, chunk.updates_done)
        if all(t is None for t in st["slots"]):
            board.request_stop("search finished")
        self._save(board)

    def finish(self, board: Board) -> None:
        for t in self.state["slots"]:
            if t is not None and self.state["trials"][t]["updates"] >= board.spec.config.num_updates:
                self.state["trials"][t]["status"] = "finished"
        self._save(board)

    # ------------------------------------------------------------------ schedulers
    def _diverged_or_done(self, board: Board, slot: int, t: int) -> str | None:
        trial = self.state["trials"][t]
        runs = board.pop.run_point[: board.pop.num_runs] == slot
        if not board.alive[runs].all():
            return "diverged"
        return "finished" if trial["updates"] >= board.spec.config.num_updates else None

    def _none(self, board: Board, update: int) -> None:
        refill = []
        for slot, t in enumerate(self.state["slots"]):
            if t is not None and (status := self._diverged_or_done(board, slot, t)):
                self.state["trials"][t]["status"] = status
                refill.append(slot)
        self._refill(board, refill, update)

    def _halving(self, board: Board, update: int) -> None:
        st, budget, b0 = self.state, board.spec.config.num_updates, self.min_updates or board.spec.config.num_updates
        refill = []
        for slot, t in enumerate(st["slots"]):
            if t is None:
                continue
            trial = st["trials"][t]
            status = self._diverged_or_done(board, slot, t)
            age = trial["updates"]
            rung = b0
            while rung * self.eta <= age and rung < budget:
                rung *= self.eta
            if status is None and age == min(rung, budget) and age < budget:
                seen = st["rungs"].setdefault(str(age), [])
                seen.append(_recent(trial, b0))
                # the top ceil(n / eta) of every trial that reached this rung so far, ties to the earlier
                order = sorted(range(len(seen)), key=lambda i: (-seen[i], i))
                if len(seen) - 1 not in order[: max(1, math.ceil(len(seen) / self.eta))]:
                    status = "stopped"
            if status is not None:
                trial["status"] = status
                refill.append(slot)
        self._refill(board, refill, update)

    def _pbt(self, board: Board, update: int) -> None:
        st, window = self.state, self.interval or board.spec.config.num_updates
        slots = [s for s, t in enumerate(st["slots"]) if t is not None]
        diverged = [s for s in slots if self._diverged_or_done(board, s, st["slots"][s]) == "diverged"]
        scores = {s: (-math.inf if s in diverged else _recent(st["trials"][st["slots"][s]], window)) for s in slots}
        order = sorted(slots, key=lambda s: (-scores[s], s))
        q = max(1, int(len(order) * self.fraction)) if len(order) >= 2 else 0
        top, bottom = order[:q], sorted(set(order[len(order) - q:]) | set(diverged))
        copies = {}
        for slot in bottom:
            if slot in top:
                continue
            rng = explore_rng(board.spec.seed, update, slot)
            src = top[int(rng.integers(len(top)))]
            src_trial, trial = st["trials"][st["slots"][src]], st["trials"][st["slots"][slot]]
            new = {**src_trial["hparams"], **{s.field: s.perturb(src_trial["hparams"][s.field], rng)
                                             for s in self.spaces}}
            trial["hparams"] = new
            trial["history"].append({"update": trial["updates"], "parent": st["slots"][src],
                                     "hparams": {f: new[f] for f in self._fields()}})
            self._set_hp(board, slot, new)
            board.diverged.pop(slot, None)
            copies[slot] = src
        if copies:
            self._edit(board, copies=copies, fresh=[], idle=[], generation=update)

    # ------------------------------------------------------------------ slot edits
    def _refill(self, board: Board, slots: list[int], update: int) -> None:
        if not slots:
            return
        st, fresh, idle = self.state, [], []
        for slot in slots:
            board.diverged.pop(slot, None)
            if st["next"] < self.n_trials:
                t = st["next"]
                st["next"] += 1
                hp = draw(self.spaces, board.spec.seed, t)
                full = dict(hp)
                st["trials"].append({"hparams": full, "history": [{"update": 0, "parent": None, "hparams": hp}],
                                     "returns": [], "steps": [], "env_steps": 0, "updates": 0, "status": "running",
                                     "started_at": update, "slot": slot})
                st["slots"][slot] = t
                self._set_hp(board, slot, full)
                fresh.append(slot)
            else:
                st["slots"][slot] = None
                idle.append(slot)
        self._edit(board, copies={}, fresh=fresh, idle=idle, generation=update)

    def _edit(self, board: Board, copies: dict[int, int], fresh: list[int], idle: list[int], generation: int) -> None:
        """Copies slots (state and key, the key folded apart), starts slots anew, idles slots, and
        puts the new hyperparameters: on the host, then placed again (small next to a chunk)."""
        pop = board.pop
        point, seed = pop.run_point[: pop.num_runs], pop.run_seed[: pop.num_runs]
        src = np.arange(pop.num_runs)
        for dst, s in copies.items():
            src[point == dst] = np.nonzero(point == s)[0][seed[point == dst]]
        mask = np.isin(point, fresh)
        revive, off = mask | np.isin(point, list(copies)), np.isin(point, idle)

        def fn(state, alive, hp):
            host = jax.tree.map(lambda x: np.asarray(x)[src], pop.gather_state(state))
            alive_h = np.asarray(pop.gather(alive))[src]
            if copies:
                moved = np.isin(point, list(copies))
                salt = ((point.astype(np.uint64) * 1_000_003 + generation) % 2**32).astype(np.uint32)
                keys = jax.vmap(lambda kd, i: jax.random.key_data(
                    jax.random.fold_in(jax.random.wrap_key_data(kd), i)))(host.key, salt)
                host = host._replace(key=np.where(moved[:, None], np.asarray(keys), host.key))
            if mask.any():
                new = pop.fresh(self.state["hp_runs"])
                host = jax.tree.map(lambda x, f: np.where(mask.reshape(-1, *[1] * (x.ndim - 1)), f, x), host, new)
            alive_h = np.where(revive, True, np.where(off, False, alive_h))
            board.alive[:] = alive_h
            placed, alive2 = pop.place(host._replace(key=jax.random.wrap_key_data(host.key)), alive_h)
            return placed, alive2, self._put_hp(board)

        board.edit(fn)
