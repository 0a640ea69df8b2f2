"""jaxpg's version, in a module of its own so that every module can import it without the package root.

Keep it equal to ``[project].version`` in ``pyproject.toml`` (``tests/test_layers.py`` checks).
"""

__version__ = "0.1.0"
