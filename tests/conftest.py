"""Test-wide JAX settings: implicit rank promotion (a common source of silent
shape bugs such as [T, N] + [T]) raises instead of broadcasting."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
