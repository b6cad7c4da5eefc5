"""Combining input headers into the target schema, and refusing what cannot be combined."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.errors import IncompatibleInputsError
from arcoforge.plan.schema import Mode, TargetSchema, combine
from arcoforge.recipe.pattern import Index
from arcoforge.sources.cache import InputCache
from arcoforge.sources.headers import HeaderSet, read_header


def headers(
    paths: Sequence[Path], *, merge: Sequence[int] | None = None, steps_dim: str = "time"
) -> HeaderSet:
    """Headers of ``paths`` concatenated along time (optionally merged in groups)."""
    cache = InputCache(str(paths[0].parent / ".cache"))
    out = HeaderSet((steps_dim,))
    for i, path in enumerate(paths):
        positions: tuple[tuple[str, int], ...] = ((steps_dim, i),)
        if merge is not None:
            positions = ((steps_dim, i // len(set(merge))), ("variable", merge[i]))
        cached = cache.fetch(path.as_uri())
        out.add(read_header(cached, Index(positions), concat_dims=(steps_dim,)))
    return out


def write(tmp: Path, ds: xr.Dataset, name: str, **encoding: dict) -> Path:
    path = tmp / name
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)
    return path


def schema_of(tmp: Path, pieces: Sequence[xr.Dataset], **kw) -> TargetSchema:
    paths = [write(tmp, p, f"in{i}.nc") for i, p in enumerate(pieces)]
    return combine(headers(paths), **kw)


def test_concatenates_along_time(tmp_path: Path) -> None:
    files = write_files(make_sst(days=10), tmp_path, steps=[3, 3, 4])
    schema = combine(headers([f.path for f in files]))
    assert schema.sizes == {"time": 10, "lat": 36, "lon": 72}
    assert [i.box for i in schema.inputs] == [((0, 3),), ((3, 6),), ((6, 10),)]
    assert schema.variables["sst"].shape == (10, 36, 72)
    assert schema.coords["time"].values.shape == (10,)
    assert schema.attrs["title"].startswith("Synthetic")


def test_identical_encodings_are_copied_raw(tmp_path: Path) -> None:
    files = write_files(make_sst(days=4), tmp_path, steps=2, encoding={"sst": PACKED_INT16})
    schema = combine(headers([f.path for f in files]))
    sst = schema.variables["sst"]
    assert sst.mode is Mode.RAW
    assert sst.encoding["dtype"] == np.int16 and sst.encoding["scale_factor"] == np.float32(0.01)
    assert (
        combine(headers([f.path for f in files]), preprocessed=True).variables["sst"].mode
        is Mode.DECODED
    )


def test_different_packing_is_decoded(tmp_path: Path) -> None:
    ds = make_sst(days=4)
    a = write(tmp_path, ds.isel(time=slice(0, 2)), "a.nc", sst=PACKED_INT16)
    b = write(
        tmp_path,
        ds.isel(time=slice(2, 4)),
        "b.nc",
        sst={**PACKED_INT16, "scale_factor": np.float32(0.02)},
    )
    sst = combine(headers([a, b])).variables["sst"]
    assert sst.mode is Mode.DECODED
    assert sst.encoding["dtype"] == np.float32 and np.isnan(sst.encoding["_FillValue"])


def test_different_time_units_give_one_axis(tmp_path: Path) -> None:
    ds = make_sst(days=4)
    a, b = ds.isel(time=slice(0, 2)), ds.isel(time=slice(2, 4)).copy()
    b.time.encoding["units"] = "hours since 2019-06-01"
    schema = schema_of(tmp_path, [a, b])
    np.testing.assert_array_equal(schema.coords["time"].values, ds.time.values)
    assert schema.coords["time"].encoding["units"] == "days since 1978-01-01T12:00:00"


def _refused(tmp: Path, pieces: Sequence[xr.Dataset], match: str, **kw) -> str:
    with pytest.raises(IncompatibleInputsError, match=match) as info:
        schema_of(tmp, pieces, **kw)
    return str(info.value)


def _halves(ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    return ds.isel(time=slice(0, 2)), ds.isel(time=slice(2, 4))


REFUSALS: list[tuple[str, Callable[[xr.Dataset], list[xr.Dataset]], str]] = [
    (
        "grid size",
        lambda ds: [_halves(ds)[0], _halves(ds)[1].isel(lat=slice(0, 30))],
        "Different grids: dimension 'lat' has length 36",
    ),
    (
        "grid values",
        lambda ds: [_halves(ds)[0], _halves(ds)[1].assign_coords(lat=ds.lat + 0.5)],
        "Different grids: coordinate 'lat' differs",
    ),
    (
        "dtype",
        lambda ds: [_halves(ds)[0], _halves(ds)[1].assign(anom=lambda d: d.anom.astype("f8"))],
        "Different dtypes: variable 'anom' decodes to float32",
    ),
    (
        "variables",
        lambda ds: [_halves(ds)[0], _halves(ds)[1].drop_vars("anom")],
        "Different variables.*lacks 'anom'",
    ),
    (
        "overlap",
        lambda ds: [ds.isel(time=slice(0, 3)), ds.isel(time=slice(2, 4))],
        "'time' repeats between",
    ),
    ("unsorted", lambda ds: [_halves(ds)[1], _halves(ds)[0]], "'time' goes backwards between"),
    (
        "within a file",
        lambda ds: [ds.isel(time=[0, 1]), ds.isel(time=[3, 2])],
        "'time' goes backwards in",
    ),
]


@pytest.mark.parametrize(("case", "pieces", "match"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_inputs(tmp_path: Path, case: str, pieces, match: str) -> None:
    message = _refused(tmp_path, pieces(make_sst(days=4)), match)
    assert "in1.nc" in message  # the input that does not fit is named


def test_calendars_must_agree(tmp_path: Path) -> None:
    a = make_sst(days=2, calendar="noleap")
    b = make_sst(start="2020-01-03", days=2, calendar="360_day")
    message = _refused(tmp_path, [a, b], "calendar 'noleap' in .*in0.nc but '360_day' in .*in1.nc")
    assert "convert_calendar" in message


def test_undecodable_time_units_must_agree(tmp_path: Path) -> None:
    def monthly(start: int, units: str) -> xr.Dataset:
        ds = xr.Dataset({"v": (("time",), [1.0, 2.0])}, coords={"time": [start, start + 1]})
        ds.time.attrs["units"] = units
        return ds

    _refused(
        tmp_path,
        [monthly(0, "months since 2000-01-01"), monthly(0, "months since 2001-01-01")],
        "units 'months since 2000-01-01' in .*in0.nc but 'months since 2001-01-01'",
    )
    schema = schema_of(
        tmp_path, [monthly(0, "months since 2000-01-01"), monthly(2, "months since 2000-01-01")]
    )
    np.testing.assert_array_equal(schema.coords["time"].values, [0, 1, 2, 3])


def test_items_per_file_is_checked(tmp_path: Path) -> None:
    files = write_files(make_sst(days=4), tmp_path, steps=2)
    with pytest.raises(IncompatibleInputsError, match=r"says each input has 1 step.*has 2"):
        combine(headers([f.path for f in files]), items_per_file={"time": 1})


def test_merge_groups(tmp_path: Path) -> None:
    files = write_files(
        make_sst(days=4),
        tmp_path,
        steps=2,
        split_variables=True,
        name="{variable}.{time:%Y%m%d}.nc",
    )
    schema = combine(headers([f.path for f in files], merge=[0, 1, 0, 1]), merge_dims=("variable",))
    assert schema.variables["sst"].group == (0,) and schema.variables["anom"].group == (1,)
    assert schema.sizes["time"] == 4


def test_merged_inputs_share_only_equal_variables(tmp_path: Path) -> None:
    ds = make_sst(days=2)
    paths = [write(tmp_path, ds, "a.nc"), write(tmp_path, ds[["sst"]], "b.nc")]
    schema = combine(headers(paths, merge=[0, 1]), merge_dims=("variable",))
    assert schema.variables["sst"].group == (0,)  # equal in both: kept once, from the first
    paths[1] = write(tmp_path, ds[["sst"]] + 1, "c.nc")
    with pytest.raises(
        IncompatibleInputsError, match=r"Variable 'sst' is in .*a.nc and in .*c.nc.*differs"
    ):
        combine(headers(paths, merge=[0, 1]), merge_dims=("variable",))


def test_scalar_time_becomes_a_dimension(tmp_path: Path) -> None:
    ds = make_sst(days=2)
    pieces = [ds.isel(time=i) for i in range(2)]  # time is a scalar coordinate in each file
    schema = schema_of(tmp_path, pieces)
    assert schema.sizes["time"] == 2 and schema.variables["sst"].dims == ("time", "lat", "lon")


def test_missing_concat_dim_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, make_sst(days=1).isel(time=0, drop=True), "flat.nc")
    with pytest.raises(IncompatibleInputsError, match=r"flat.nc: expected a dimension .time."):
        headers([path])
