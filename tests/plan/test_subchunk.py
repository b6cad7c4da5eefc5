"""Cutting uncompressed chunks by byte range: exact offsets, one length, a ceiling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arcoforge.plan.subchunk import UncuttableError, cut_array
from arcoforge.plan.virtual import combine_virtual
from arcoforge.recipe.pattern import Index
from arcoforge.sources.virtual import VirtualInput, open_virtual
from tests.archives import cmip_files


def _open(paths: list[Path]) -> list[VirtualInput]:
    return [open_virtual(Index((("time", i),)), p.as_uri()) for i, p in enumerate(paths)]


def test_a_cut_chunk_points_at_its_rows(tmp_path: Path) -> None:
    (path,) = cmip_files(tmp_path, (12,))
    marr = _open([path])[0].dataset.tas.data
    ((_, entry),) = marr.manifest.dict().items()
    cut = cut_array(marr, 4)
    assert cut.metadata.chunks == (4, 3, 4) and cut.shape == (12, 3, 4)
    row = 3 * 4 * 4  # bytes of one float32 step
    entries = cut.manifest.dict()
    assert [entries[f"{k}.0.0"]["offset"] for k in range(3)] == [
        entry["offset"] + k * 4 * row for k in range(3)
    ]
    assert {e["length"] for e in entries.values()} == {4 * row}
    # the bytes at each cut range are the file's values for those steps
    raw = path.read_bytes()
    import xarray as xr

    values = xr.open_dataset(path, engine="h5netcdf", mask_and_scale=False).tas.values
    for k in range(3):
        e = entries[f"{k}.0.0"]
        got = np.frombuffer(raw[e["offset"] : e["offset"] + e["length"]], dtype="<f4")
        assert np.array_equal(got.reshape(4, 3, 4), values[4 * k : 4 * (k + 1)])


def test_the_largest_length_that_divides_every_file(tmp_path: Path) -> None:
    ds = combine_virtual(_open(cmip_files(tmp_path, (36, 24, 30))), concat_dims=("time",))
    assert ds.tas.data.metadata.chunks == (6, 3, 4) and ds.sizes["time"] == 90
    assert len(ds.tas.data.manifest) == 15  # 6 + 4 + 5 cut chunks


def test_too_many_references_are_refused_with_the_count(tmp_path: Path) -> None:
    inputs = _open(cmip_files(tmp_path, (366, 365, 365)))
    with pytest.raises(UncuttableError, match=r"1,096 references, more than 1,000 ") as e:
        combine_virtual(inputs, concat_dims=("time",), max_references=1000)
    assert "format: icechunk" in str(e.value) and "zarr output" in str(e.value)
    # without a ceiling (Icechunk), the same inputs are cut to one step
    ds = combine_virtual(inputs, concat_dims=("time",), max_references=None)
    assert ds.tas.data.metadata.chunks == (1, 3, 4)


def test_a_concat_dim_inside_a_variable_cannot_be_cut(tmp_path: Path) -> None:
    import xarray as xr

    from tests.archives import cmip_dataset

    ds = cmip_dataset(months=6).transpose("lat", "time", "lon", "bnds")
    paths = []
    for i, (a, b) in enumerate([(0, 4), (4, 6)]):
        paths.append(tmp_path / f"t{i}.nc")
        piece = ds.isel(time=slice(a, b))
        piece.to_netcdf(paths[-1], engine="h5netcdf", encoding={"tas": {"contiguous": True}})
    with pytest.raises(UncuttableError, match=r"outermost dimension of 'tas'.*\['lat', 'time'"):
        combine_virtual(_open(paths), concat_dims=("time",))
    assert isinstance(xr.open_dataset(paths[0], engine="h5netcdf"), xr.Dataset)
