"""``jaxpg.clear_caches()``: drops every compiled program jaxpg and JAX hold in this process.

Each compiled XLA:CPU program maps its machine code into the process (three memory maps per
kernel): a small CartPole run leaves about 1,000 maps behind, kept for reuse as long as the
process lives. Linux refuses a process more than ``vm.max_map_count`` maps (65,530 by default),
and past it XLA cannot load code and the process dies. A long-lived process that trains many
different settings (a notebook, a hand-written loop over configs, a test worker) calls this
between them; the next run of the same settings then reads its programs back from the
persistent compilation cache instead of compiling.
"""

from __future__ import annotations

import gc

import jax

from jaxpg import agent, render
from jaxpg.runner import population

__all__ = ["clear_caches"]


def clear_caches() -> None:
    """Forgets jaxpg's compiled programs (the run layer's chunk and evaluation programs, the
    compiled ``Agent.act``/``greedy``, the render programs) and ``jax.clear_caches()``, then
    collects garbage, so their code is unmapped once nothing else holds them."""
    population.forget_programs()
    agent._compiled.cache_clear()
    render._episode_fn.cache_clear()
    render._batched_renderer.cache_clear()
    jax.clear_caches()
    gc.collect()
