"""``python -m jaxpg`` is the ``jaxpg`` command."""

from jaxpg.cli import entry

entry()
