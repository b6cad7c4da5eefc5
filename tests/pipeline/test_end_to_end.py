"""Whole runs on generated archives: the Zarr result equals ``open_mfdataset`` of the sources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from arcoforge.demo.dataset import PACKED_INT16, Format, SampleFile, make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, trap_dataset, write_recipe


@dataclass
class Case:
    """A generated archive and the recipe outputs to run it with."""

    dataset: Callable[[], xr.Dataset]
    steps: int | list[int] = 1
    fmt: Format = "netcdf4"
    encoding: dict[str, Any] = field(default_factory=dict)
    per_file: Callable[[int, xr.Dataset], xr.Dataset] | None = None
    zarr: dict[str, Any] = field(default_factory=lambda: {"chunks": {"time": 4}})


def _own_units(i: int, ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.time.encoding["units"] = f"hours since 20{10 + i}-06-01"
    return ds


def _own_packing(i: int, ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.sst.encoding.update({**PACKED_INT16, "scale_factor": np.float32(0.01 * (i + 1))})
    return ds


def _no_time_units() -> xr.Dataset:
    ds = make_sst(days=6).assign_coords(time=np.arange(6) * 10)
    return ds


CASES = {
    "netcdf4 packed int16": Case(lambda: make_sst(days=9), encoding={"sst": PACKED_INT16}),
    "netcdf3, 360_day, uneven files": Case(
        lambda: make_sst(days=10, calendar="360_day"), steps=[3, 2, 5], fmt="netcdf3"
    ),
    "noleap, each file its own time units": Case(
        lambda: make_sst(days=8, calendar="noleap"), steps=2, per_file=_own_units
    ),
    "julian calendar": Case(lambda: make_sst(days=5, calendar="julian"), steps=[2, 3]),
    "packing differs between files": Case(lambda: make_sst(days=6), steps=2, per_file=_own_packing),
    "zarr format 2": Case(
        lambda: make_sst(days=7),
        encoding={"sst": PACKED_INT16},
        zarr={"chunks": {"time": 3}, "zarr_format": 2},
    ),
    "chunk_size and zstd": Case(
        lambda: make_sst(days=12), steps=4, zarr={"chunk_size": "50kB", "compression": "zstd"}
    ),
    "traps: unsigned, bounds, scalar, 2-D coordinate": Case(
        lambda: trap_dataset(days=6), steps=[1, 2, 3], zarr={"chunks": {"time": 2}}
    ),
    "an empty file in the middle": Case(lambda: make_sst(days=4), steps=[2, 0, 2]),
    "time without units": Case(_no_time_units, steps=3, zarr={"chunks": {"time": 2}}),
}


def _sources(case: Case, folder: Path) -> list[SampleFile]:
    return write_files(
        case.dataset(),
        folder,
        steps=case.steps,
        fmt=case.fmt,
        encoding=case.encoding,
        per_file=case.per_file,
        name="in{i:03d}.nc",
    )


@pytest.mark.parametrize("name", list(CASES))
def test_result_equals_sources(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    files = _sources(case, tmp_path / "src")
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": case.zarr},
        },
    )
    result = run_folder(recipe, tmp_path / "out")
    out = xr.open_zarr(result.zarr.url)
    engine = "scipy" if case.fmt == "netcdf3" else "h5netcdf"
    sources = open_sources([str(f.path) for f in files], "time", engine=engine)
    assert compare(out, sources) == []
    assert result.inputs == len(files) and not result.up_to_date
    assert out.attrs["arcoforge_recipe"] == "recipe"


def test_time_encoding_is_kept(tmp_path: Path) -> None:
    case = CASES["netcdf3, 360_day, uneven files"]
    files = _sources(case, tmp_path / "src")
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 4}}},
        },
    )
    out = xr.open_zarr(run_folder(recipe, tmp_path / "out").zarr.url)
    assert out.time.encoding["calendar"] == "360_day"
    assert out.time.encoding["units"] == "days since 1978-01-01T12:00:00"
    assert out.time.encoding["chunks"] == (10,)  # dimension coordinates in one chunk


def test_packing_is_kept(tmp_path: Path) -> None:
    files = _sources(CASES["netcdf4 packed int16"], tmp_path / "src")
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 4}}},
        },
    )
    result = run_folder(recipe, tmp_path / "out")
    array = zarr.open_array(result.zarr.url, path="sst")
    assert array.dtype == np.int16 and array.chunks == (4, 36, 72)
    assert array.attrs["scale_factor"] == pytest.approx(0.01)
    assert result.variables["sst"]["chunks"] == [4, 36, 72]


def test_template_over_http_with_a_merge_dim(http_server: SourceServer, tmp_path: Path) -> None:
    ds = make_sst(days=6)
    files = write_files(
        ds, http_server.root, steps=2, split_variables=True, name="{variable}/{time:%Y%m%d}.nc"
    )
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {
                "url": http_server.url + "/{variable}/{time:%Y%m%d}.nc",
                "concat": {"time": {"start": "2020-01-01", "end": "2020-01-05", "freq": "2D"}},
                "merge": {"variable": ["sst", "anom"]},
                "items_per_file": {"time": 2},
            },
            "outputs": {"zarr": {"chunks": {"time": 3}}},
        },
    )
    result = run_folder(recipe, tmp_path / "out")
    by_var = [[str(f.path) for f in files if f.variables == (v,)] for v in ("sst", "anom")]
    sources = open_sources(by_var, [None, "time"], engine="h5netcdf")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []
    assert result.inputs == 6
    assert {r.path for r in http_server.requests if r.method == "GET"} == {
        "/" + str(f.path.relative_to(http_server.root)) for f in files
    }


PREPROCESS = """
from arcoforge import FilePattern
import numpy as np

def preprocess(ds, index):
    ds = ds.rename({"anom": "anomaly"})
    ds["sst"] = ds.sst + np.float32(273.15)
    ds["sst"].attrs["units"] = "K"
    return ds
"""


def test_recipe_py_preprocess(tmp_path: Path) -> None:
    files = write_files(make_sst(days=6), tmp_path / "src", steps=2, encoding={"sst": PACKED_INT16})
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 4}}},
        },
        recipe_py=PREPROCESS,
    )
    out = xr.open_zarr(run_folder(recipe, tmp_path / "out").zarr.url)
    namespace: dict[str, Any] = {}
    exec(PREPROCESS, namespace)
    expected = xr.concat(
        [namespace["preprocess"](xr.open_dataset(f.path, engine="h5netcdf"), None) for f in files],
        "time",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="exact",
        combine_attrs="override",
    )
    assert compare(out, expected) == []
    assert out.sst.attrs["units"] == "K" and "anomaly" in out


def test_recipe_py_builds_the_pattern(tmp_path: Path) -> None:
    files = write_files(make_sst(days=4), tmp_path / "src", steps=1)
    src = tmp_path / "src"
    recipe = write_recipe(
        tmp_path / "recipe",
        recipe_py=f"""
import pandas as pd
from arcoforge import ConcatDim, FilePattern

def url(time):
    return f"file://{src}/sst.{{time:%Y%m%d}}.nc"

pattern = FilePattern(url, ConcatDim("time", pd.date_range("2020-01-01", periods=4), 1))
outputs = {{"zarr": {{"chunks": {{"time": 2}}}}}}
""",
    )
    result = run_folder(recipe, tmp_path / "out")
    sources = open_sources([str(f.path) for f in files], "time", engine="h5netcdf")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []


def test_prune_keeps_the_first_keys(tmp_path: Path) -> None:
    files = write_files(make_sst(days=6), tmp_path / "src")
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {}},
        },
    )
    result = run_folder(recipe, tmp_path / "out", prune=2)
    out = xr.open_zarr(result.zarr.url)
    assert out.sizes["time"] == 2 and out.attrs["arcoforge_pruned"] == 1
    assert compare(out, open_sources([str(f.path) for f in files[:2]], "time")) == []


def test_two_concat_dims(tmp_path: Path) -> None:
    members = []
    for m in range(2):
        ds = make_sst(days=4, seed=m).expand_dims(member=[m])
        members.append(
            write_files(ds, tmp_path / "src", steps=2, name=f"m{m}" + ".{time:%Y%m%d}.nc")
        )
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {
                "url": f"file://{tmp_path}/src/m{{member}}.{{time:%Y%m%d}}.nc",
                "concat": {
                    "member": [0, 1],
                    "time": {"start": "2020-01-01", "end": "2020-01-03", "freq": "2D"},
                },
                "items_per_file": {"time": 2, "member": 1},
            },
            "outputs": {"zarr": {"chunks": {"time": 3, "member": 1}}},
        },
    )
    result = run_folder(recipe, tmp_path / "out")
    nested = [[str(f.path) for f in files] for files in members]
    sources = open_sources(nested, ["member", "time"], engine="h5netcdf")
    out = xr.open_zarr(result.zarr.url)
    assert out.sizes["member"] == 2 and out.sizes["time"] == 4
    assert compare(out, sources) == []


def test_dimension_without_coordinate_and_strings(tmp_path: Path) -> None:
    ds = make_sst(days=4, nlat=4, nlon=6)
    ds["station_name"] = ("station", np.array(["Brest", "Nuuk", "Hobart"], dtype=object))
    ds["reading"] = (("time", "station"), np.arange(12.0).reshape(4, 3))
    files = write_files(ds, tmp_path / "src", steps=2)
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 2}}},
        },
    )
    result = run_folder(recipe, tmp_path / "out")
    out = xr.open_zarr(result.zarr.url)
    sources = open_sources([str(f.path) for f in files], "time", engine="h5netcdf")
    assert "station" not in out.coords
    assert out.station_name.values.tolist() == ["Brest", "Nuuk", "Hobart"]
    assert compare(out, sources) == []
