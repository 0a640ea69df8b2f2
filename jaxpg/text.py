"""Words for the messages people read: ``count(1, "seed")`` is ``1 seed``, ``count(8, "seed")`` ``8 seeds``."""

from __future__ import annotations

__all__ = ["count"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, the noun plural unless ``n`` is 1 (``plural`` for irregular ones).

    Example:
      >>> count(1, "seed"), count(4, "seed"), count(2, "process", "processes")
      ('1 seed', '4 seeds', '2 processes')
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
