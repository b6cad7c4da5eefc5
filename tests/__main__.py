"""``python -m tests``: pytest, ended without the interpreter's teardown.

The suite fetches with obstore in its own process; teardown could then abort it
(SIGABRT) after every result was in (see :mod:`arcoforge.exiting`). Arguments are
pytest's.
"""

from __future__ import annotations

import sys

import pytest

from arcoforge.exiting import exit_now

if __name__ == "__main__":
    exit_now(int(pytest.main(sys.argv[1:])))
