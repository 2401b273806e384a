"""``python -m mplink.cli``: the same as the ``mplink`` command."""

from mplink.cli import run

run()
