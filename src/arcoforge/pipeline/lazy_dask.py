"""xarray's test for dask arrays, answered without importing dask.array until it is imported.

The first time xarray makes a Variable it asks whether the data is a dask array, and
to ask it imports dask.array, which imports scipy.sparse and scipy.fft: 0.15–0.25 s on
the one busy core at the start of a copy that never makes a dask array (bench/README.md,
*Compressed inputs probed from their own bytes, dask.array left unimported*). No object
can be a dask array before dask.array is imported, so :func:`defer_dask_array` gives
xarray an answer that is the empty set of types until then and dask.array's ``Array``
once it is, whoever imports it.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

from packaging.version import InvalidVersion, Version

_log = logging.getLogger(__name__)


def defer_dask_array() -> bool:
    """Let xarray tell dask arrays apart without importing dask.array first; False, and
    nothing changed, if dask.array is already imported or already looked up by xarray,
    if dask is not installed, or if this xarray does not look it up as expected."""
    if "dask.array" in sys.modules:
        return False
    try:
        from xarray.namedarray import pycompat
    except ImportError:  # pragma: no cover  (xarray is a dependency)
        return False
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    base = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cache, dict) or not isinstance(base, type) or "dask" in cache:
        _log.debug("xarray's duck-array lookup is not as expected: dask.array is left to it")
        return False
    try:
        dask = importlib.import_module("dask")
        version = Version(dask.__version__)
    except (ImportError, AttributeError, InvalidVersion):
        return False
    cache["dask"] = _when_imported(base, dask, version)
    return True


def _when_imported(base: type, dask: Any, version: Version) -> Any:
    """An instance of xarray's ``DuckArrayModule`` for dask whose ``type`` is looked up
    in the modules imported so far, each time it is read."""

    class DaskWhenImported(base):  # type: ignore[misc]
        def __init__(self) -> None:
            self.module = dask
            self.version = version
            self.available = True

        @property
        def type(self) -> tuple[type, ...]:
            array = getattr(sys.modules.get("dask.array"), "Array", None)
            return () if array is None else (array,)

    return DaskWhenImported()
