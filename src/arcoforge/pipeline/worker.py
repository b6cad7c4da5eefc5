"""Entry point of the DirectRunner's worker processes: Beam's SDK harness, exited promptly.

Beam's harness returns once the runner closes its control channel. The
interpreter's own teardown (collecting every loaded module) then took about a
second per worker, while the runner waited for the process to end, and could abort
a worker that fetched with obstore (:mod:`arcoforge.exiting`). All output is written
and closed by then, so the worker flushes its logs and exits.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

from arcoforge.exiting import flush


def main() -> NoReturn:
    """Run Beam's SDK harness with this process's arguments, then exit at once."""
    import importlib

    from arcoforge.startup import imports_frozen

    with imports_frozen():
        import arcoforge.pipeline.quiet  # noqa: F401  (Beam, imported quietly first)
        from arcoforge.pipeline.lazy_dask import defer_dask_array

        defer_dask_array()

        sdk_worker_main = importlib.import_module("apache_beam.runners.worker.sdk_worker_main")

    code = 0
    try:
        sdk_worker_main.main(sys.argv)
    except BaseException:
        traceback.print_exc()
        code = 1
    flush()  # Beam's exit handlers stay unrun: the runner has closed the channels
    os._exit(code)


if __name__ == "__main__":
    main()
