"""xarray tells dask arrays apart without importing dask.array before anything does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arcoforge.pipeline import lazy_dask


def _run(code: str) -> list[str]:
    """The lines ``code`` prints in a new interpreter (this one has dask.array already)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_variables_are_made_without_dask_array_and_dask_arrays_still_recognised() -> None:
    printed = _run(
        """
import sys
import numpy as np
import xarray as xr
from arcoforge.pipeline.lazy_dask import defer_dask_array
print(defer_dask_array())
v = xr.Variable(("x",), np.arange(4))
print("dask.array" in sys.modules, type(v.data).__name__, v.chunks)
import dask.array as da
d = xr.Variable(("x",), da.arange(4, chunks=2))
print(type(d.data).__name__, d.chunks, int(d.sum().compute()))
print(defer_dask_array())
"""
    )
    assert printed == ["True", "False", "ndarray", "None", "Array", "((2,", "2),)", "6", "False"]


def test_an_xarray_that_already_looked_dask_up_is_left_alone() -> None:
    printed = _run(
        """
import xarray as xr
from xarray.namedarray import pycompat
from arcoforge.pipeline.lazy_dask import defer_dask_array
xr.Variable((), 0)  # xarray's own lookup: dask.array imported
kept = pycompat._cached_duck_array_modules["dask"]
print(defer_dask_array(), pycompat._cached_duck_array_modules["dask"] is kept)
"""
    )
    assert printed == ["False", "True"]


def test_an_xarray_without_the_expected_lookup_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from xarray.namedarray import pycompat

    monkeypatch.delitem(sys.modules, "dask.array", raising=False)  # as if not imported yet
    monkeypatch.delattr(pycompat, "_cached_duck_array_modules")
    assert lazy_dask.defer_dask_array() is False
