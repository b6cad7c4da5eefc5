"""Ending a process that used obstore: exit handlers run, then no interpreter teardown.

obstore's network threads (Tokio) outlive the asyncio loops that used them. One that
calls back into Python while the interpreter tears itself down is stopped by the
interpreter mid-call, which aborts the whole process (SIGABRT): about one exit in
twenty, after all work was done and written. Every entry point of this package that
may have fetched with obstore therefore ends through :func:`exit_now`, which also
spares the teardown's collection of every loaded module.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Run the exit handlers, flush the standard streams, and end with ``code``."""
    atexit._run_exitfuncs()
    flush()
    os._exit(code)


def flush() -> None:
    """Write out the logs and the standard streams (what teardown would have done)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed: nothing left to write
            stream.flush()


def code_of(exit: SystemExit) -> int:
    """The status :class:`SystemExit` ends a process with (a message is printed, as Python does)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1
