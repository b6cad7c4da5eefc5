"""A process's start: its imports made with the cyclic collector off, then frozen.

Importing the command line and Beam makes about a million objects that live until
the process ends, and Python's cyclic collector walks them again and again (every
700 new objects for the young generation, now and then the whole heap): 0.37 s of a
5 s copy of 1 GiB (bench/README.md, *Measurements behind the design*).
:func:`imports_frozen` runs the imports with the collector off, freezes what they
made out of its reach, and lets it collect every :data:`YOUNG_THRESHOLD` objects.
Used by the ``forge`` executable and the pipeline's worker processes.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

#: New container objects between two collections of the young generation (Python: 700).
#: A run's cyclic garbage is still collected, a few times a second while it works.
YOUNG_THRESHOLD = 50_000


@contextmanager
def imports_frozen() -> Iterator[None]:
    """Import inside this with the collector off; what was imported is then frozen.

    Also one OpenBLAS thread: numpy's and scipy's OpenBLAS each start a pool that
    spins about 0.1 s of CPU after loading, and nothing here does linear algebra
    (an ``OPENBLAS_NUM_THREADS`` already set is kept).
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD)
        gc.enable()
