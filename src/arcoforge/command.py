"""The ``forge`` executable: the command line, imported as :mod:`arcoforge.startup` says."""

from __future__ import annotations

from typing import NoReturn

from arcoforge.startup import imports_frozen


def main() -> NoReturn:
    """Import the command line with the collector off, freeze what it made, and run it."""
    with imports_frozen():
        from arcoforge import cli
    cli.main()
