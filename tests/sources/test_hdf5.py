"""The fast netCDF4 reader gives the headers xarray's own reader gives."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.hdf5 import open_contents, read_raw
from arcoforge.sources.headers import InputHeader, describe, read_header
from arcoforge.sources.opener import open_local
from arcoforge.verify import same_attrs
from tests.helpers import trap_dataset

INDEX = Index((("time", 0),))


def _cached(path: Path) -> CachedInput:
    return CachedInput(path.as_uri(), str(path), path.stat().st_size, "x", FileType.NETCDF4)


def _slow_header(path: Path) -> InputHeader:
    cached = _cached(path)
    with open_local(str(path), cached, INDEX, concat_dims=("time",)) as ds:
        return describe(ds.variables, set(map(str, ds.coords)), ds.attrs, INDEX, cached)


def _assert_same(fast: InputHeader, slow: InputHeader) -> None:
    assert fast.sizes == slow.sizes
    assert same_attrs(fast.attrs, slow.attrs)
    assert fast.variables.keys() == slow.variables.keys()
    for name, a in fast.variables.items():
        b = slow.variables[name]
        assert (a.dims, a.shape, a.dtype, a.is_coord) == (b.dims, b.shape, b.dtype, b.is_coord), (
            name
        )
        assert same_attrs(a.encoding, b.encoding), (name, a.encoding, b.encoding)
        assert same_attrs(a.attrs, b.attrs), (name, a.attrs, b.attrs)
    assert {k: c.hash for k, c in fast.coords.items()} == {
        k: c.hash for k, c in slow.coords.items()
    }


@pytest.mark.parametrize("calendar", ["standard", "360_day", "noleap", "julian"])
def test_fast_header_equals_xarray_header(tmp_path: Path, calendar: str) -> None:
    files = write_files(trap_dataset(calendar=calendar), tmp_path, steps=2)
    for f in files:
        with open_contents(str(f.path)) as contents:
            assert contents is not None  # the fast path took it
        fast = read_header(_cached(f.path), INDEX, concat_dims=("time",))
        _assert_same(fast, _slow_header(f.path))


def test_packed_and_unlimited_time(tmp_path: Path) -> None:
    ds = make_sst(days=3)
    path = tmp_path / "a.nc"
    ds.to_netcdf(
        path,
        engine="h5netcdf",
        unlimited_dims=["time"],
        encoding={"sst": PACKED_INT16, "anom": {"zlib": True, "complevel": 1}},
    )
    _assert_same(read_header(_cached(path), INDEX, concat_dims=("time",)), _slow_header(path))


def test_phony_dims_fall_back_to_xarray(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(6.0).reshape(2, 3)
    with open_contents(str(path)) as contents:
        assert contents is None


def test_raw_read_returns_stored_values(tmp_path: Path) -> None:
    ds = make_sst(days=2)
    path = tmp_path / "a.nc"
    ds.to_netcdf(path, engine="h5netcdf", encoding={"sst": PACKED_INT16})
    with h5py.File(path) as f:
        raw = read_raw(f, "sst", (slice(0, 1), slice(2, 5), slice(0, 4)))
        assert raw is not None and raw.dtype == np.int16
        expected = np.where(
            np.isnan(ds.sst.values[:1, 2:5, :4]),
            -999,
            np.round(ds.sst.values[:1, 2:5, :4] / np.float32(0.01)),
        )
        np.testing.assert_array_equal(raw, expected)
        assert read_raw(f, "sst", (slice(0, 1),)) is None  # a promoted dim: not for h5py
        assert read_raw(f, "nope", (slice(0, 1),)) is None
