"""What a virtual dataset cannot represent is refused before writing, naming the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import PACKED_INT16, SampleFile, make_sst, write_files
from arcoforge.errors import IncompatibleInputsError, InputFormatError, SourceNotFoundError
from arcoforge.plan.virtual import UnrepresentableError, combine_virtual
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.sources.virtual import VirtualInput, open_virtual
from tests.helpers import run_folder, write_recipe

ZLIB = {"zlib": True, "complevel": 1, "shuffle": True, "chunksizes": (1, 36, 72)}


def _open(files: list[SampleFile]) -> list[VirtualInput]:
    return [open_virtual(Index((("time", i),)), f.path.as_uri()) for i, f in enumerate(files)]


def _combine(files: list[SampleFile]) -> xr.Dataset:
    return combine_virtual(_open(files), concat_dims=("time",))


def _files(tmp_path: Path, **kwargs: Any) -> list[SampleFile]:
    kwargs.setdefault("steps", 2)
    return write_files(make_sst(days=kwargs.pop("days", 4)), tmp_path, **kwargs)


def test_different_compressed_chunk_shapes(tmp_path: Path) -> None:
    files = _two_halves(tmp_path, {"sst": ZLIB}, {"sst": {**ZLIB, "chunksizes": (2, 36, 72)}})
    with pytest.raises(UnrepresentableError, match=r"chunks of \[1, 36, 72\].*\[2, 36, 72\]") as e:
        _combine(files)
    assert files[0].path.name in str(e.value) and files[1].path.name in str(e.value)
    assert "cannot be cut by byte range" in str(e.value) and "zarr output" in str(e.value)


def test_contiguous_files_of_uneven_length_are_cut(tmp_path: Path) -> None:
    files = _files(tmp_path, days=5, steps=[2, 3])  # contiguous: one chunk per file
    ds = _combine(files)
    assert ds.sst.data.metadata.chunks == (1, 36, 72) and ds.sizes["time"] == 5
    assert len(ds.sst.data.manifest) == 5


def test_different_codecs(tmp_path: Path) -> None:
    zlib = {**ZLIB, "chunksizes": (2, 36, 72)}
    with pytest.raises(UnrepresentableError, match=r"compressed differently"):
        _combine(_two_halves(tmp_path, {}, {"sst": zlib}))


def _two_halves(tmp_path: Path, first: dict[str, Any], second: dict[str, Any]) -> list[SampleFile]:
    """Days 1-2 and 3-4 of one dataset, each half written with its own ``sst`` encoding."""
    ds = make_sst(days=4)
    a = write_files(ds.isel(time=slice(0, 2)), tmp_path, steps=2, name="a{i}.nc", encoding=first)
    b = write_files(ds.isel(time=slice(2, 4)), tmp_path, steps=2, name="b{i}.nc", encoding=second)
    return a + b


def test_different_packing(tmp_path: Path) -> None:
    other = {**PACKED_INT16, "scale_factor": np.float32(0.02)}
    files = _two_halves(tmp_path, {"sst": PACKED_INT16}, {"sst": other})
    with pytest.raises(UnrepresentableError, match=r"scale_factor .* wrong") as e:
        _combine(files)
    assert str(files[1].path) in str(e.value)


def test_different_fill_values(tmp_path: Path) -> None:
    other = {**PACKED_INT16, "_FillValue": np.int16(-1)}
    with pytest.raises(UnrepresentableError, match=r"_FillValue"):
        _combine(_two_halves(tmp_path, {"sst": PACKED_INT16}, {"sst": other}))


def test_strings(tmp_path: Path) -> None:
    ds = make_sst(days=4)
    ds["station_name"] = ("station", np.array(["Brest", "Nuuk"], dtype=object))
    files = write_files(ds, tmp_path, steps=2)
    with pytest.raises(UnrepresentableError, match=r"'station_name' holds strings"):
        _combine(files)


def test_partial_compressed_chunk_inside_the_dataset(tmp_path: Path) -> None:
    enc = {"sst": {**ZLIB, "chunksizes": (2, 36, 72)}, "anom": {**ZLIB, "chunksizes": (2, 36, 72)}}
    files = write_files(make_sst(days=6), tmp_path, steps=3, encoding=enc)
    with pytest.raises(UnrepresentableError, match=r"3 steps along 'time'.*cannot be cut"):
        _combine(files)


def test_partial_uncompressed_chunk_inside_the_dataset_is_cut(tmp_path: Path) -> None:
    enc = {"sst": {"chunksizes": (2, 36, 72)}, "anom": {"chunksizes": (2, 36, 72)}}
    files = write_files(make_sst(days=6), tmp_path, steps=3, encoding=enc)
    assert _combine(files).sst.data.metadata.chunks == (1, 36, 72)


def test_uneven_netcdf3_files(tmp_path: Path) -> None:
    files = write_files(make_sst(days=5), tmp_path, steps=[2, 3], fmt="netcdf3")
    ds = _combine(files)
    assert ds.sst.data.metadata.chunks[0] == 1 and len(ds.sst.data.manifest) == 5


def test_different_grids(tmp_path: Path) -> None:
    ds = make_sst(days=4)
    a = write_files(ds.isel(time=slice(0, 2)), tmp_path, steps=2, name="a{i}.nc")
    moved = ds.isel(time=slice(2, 4)).assign_coords(lon=ds.lon + 1)
    b = write_files(moved, tmp_path, steps=2, name="b{i}.nc")
    with pytest.raises(IncompatibleInputsError, match=r"Different grids: coordinate 'lon' differs"):
        _combine(a + b)


def test_overlapping_times(tmp_path: Path) -> None:
    files = _files(tmp_path)
    again = [open_virtual(Index((("time", 2),)), files[1].path.as_uri())]
    with pytest.raises(IncompatibleInputsError, match=r"'time' (repeats|goes backwards)"):
        combine_virtual(_open(files) + again, concat_dims=("time",))


def test_time_units_that_differ_give_correct_times(tmp_path: Path) -> None:
    def own(i: int, ds: xr.Dataset) -> xr.Dataset:
        ds = ds.copy()
        ds.time.encoding["units"] = f"hours since 20{10 + i}-06-01"
        return ds

    files = _files(tmp_path, per_file=own)
    combined = _combine(files)
    expected = np.concatenate([xr.open_dataset(f.path).time.values for f in files])
    assert np.array_equal(combined.time.values, expected)


def test_what_is_loaded_and_what_is_referenced(tmp_path: Path) -> None:
    [vi] = _open(write_files(make_sst(days=2), tmp_path, steps=2))
    assert vi.loaded == ("lat", "lon", "time") and vi.file_type is FileType.NETCDF4
    assert type(vi.dataset.sst.data).__name__ == "ManifestArray"


def test_not_netcdf(tmp_path: Path) -> None:
    page = tmp_path / "login.nc"
    page.write_text("<!DOCTYPE html><html>Sign in</html>")
    with pytest.raises(InputFormatError, match=r"login.nc.*HTML page"):
        open_virtual(Index((("time", 0),)), page.as_uri())


def test_declared_type_is_checked(tmp_path: Path) -> None:
    [f] = write_files(make_sst(days=2), tmp_path, steps=2)
    with pytest.raises(InputFormatError, match=r"expected netcdf3"):
        open_virtual(Index((("time", 0),)), f.path.as_uri(), file_type=FileType.NETCDF3)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match=r"gone.nc"):
        open_virtual(Index((("time", 0),)), (tmp_path / "gone.nc").as_uri())


def test_a_refused_run_writes_nothing(tmp_path: Path) -> None:
    files = _two_halves(
        tmp_path / "src", {"sst": ZLIB}, {"sst": {**ZLIB, "chunksizes": (2, 36, 72)}}
    )
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"references": {"format": "json"}},
        },
    )
    with pytest.raises(UnrepresentableError, match=r"Use format: icechunk .* zarr output"):
        run_folder(recipe, tmp_path / "out")
    assert not (tmp_path / "out" / "recipe.json").exists()
