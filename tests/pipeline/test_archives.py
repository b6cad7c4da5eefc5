"""Real-shaped archives through every output: scalars, uneven files, shared bounds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import icechunk as ic
import numpy as np
import pytest
import xarray as xr

import arcoforge
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import IncompatibleInputsError, PlanError, UnrepresentableError
from arcoforge.plan.mixed import plan_native
from arcoforge.plan.small import SmallChunksError
from arcoforge.plan.virtual import combine_mixed
from arcoforge.recipe.pattern import Index
from arcoforge.sources.virtual import open_virtual
from arcoforge.verify import compare, open_sources
from tests.archives import NC_FILL_INT, cmip_files, scalar_files
from tests.helpers import run_folder, write_recipe

FORMATS = ["json", "parquet", "icechunk"]


def _recipe(folder: Path, urls: list[str], outputs: dict[str, Any], **sources: Any) -> Path:
    spec = {"sources": {"urls": urls, "concat_dim": "time", **sources}, "outputs": outputs}
    return write_recipe(folder, spec)


def _served(server: SourceServer, paths: list[Path]) -> list[str]:
    return [f"{server.url}/{p.relative_to(server.root).as_posix()}" for p in paths]


@pytest.mark.parametrize("fmt", FORMATS)
def test_scalar_variables_read_back_equal(
    http_server: SourceServer, tmp_path: Path, fmt: str
) -> None:
    paths = scalar_files(http_server.root)
    recipe = _recipe(
        tmp_path / "recipe", _served(http_server, paths), {"references": {"format": fmt}}
    )
    refs = run_folder(recipe, tmp_path / "out").references
    assert refs is not None
    out = arcoforge.open_dataset(refs.url)
    sources = open_sources([str(p) for p in paths], "time", engine="h5netcdf")
    assert compare(out, sources) == []
    # the never-written grid mapping holds netCDF's default fill, not 0
    assert out.rotated_latitude_longitude.values == NC_FILL_INT
    assert out.forecast_period.values == 6.0 and out.height.values == 1.5
    assert out.forecast_reference_time.values == sources.forecast_reference_time.values
    if fmt == "json":  # Zarr v2 readers ask for a 0-d array's chunk as name/0
        refs_doc = json.loads(Path(refs.url).read_text())["refs"]
        assert "forecast_period/0" in refs_doc and "forecast_period/" not in refs_doc
        assert "rotated_latitude_longitude/0" in refs_doc


def test_scalar_variables_in_a_copy(http_server: SourceServer, tmp_path: Path) -> None:
    paths = scalar_files(http_server.root)
    recipe = _recipe(tmp_path / "recipe", _served(http_server, paths), {"zarr": {}})
    result = run_folder(recipe, tmp_path / "out")
    assert result.zarr is not None
    sources = open_sources([str(p) for p in paths], "time", engine="h5netcdf")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []
    assert np.asarray(xr.open_zarr(result.zarr.url).rotated_latitude_longitude) == NC_FILL_INT


def _cmip_sources(paths: list[Path], engine: str) -> xr.Dataset:
    return open_sources([str(p) for p in paths], "time", engine=engine)


UNEVEN = {
    # CMIP6-like: contiguous, uncompressed, split by decade with a short last file
    "netcdf4 contiguous by decade": ({"lengths": (24, 24, 24, 24, 12)}, "h5netcdf", 12),
    # daily files of a leap year and two others: only one step divides them all
    "netcdf4 contiguous years": ({"lengths": (366, 365, 365)}, "h5netcdf", 1),
    "netcdf3 fixed time": ({"lengths": (30, 30, 18), "fmt": "netcdf3"}, "scipy", 6),
    "netcdf3 records": ({"lengths": (5, 7, 3), "fmt": "netcdf3", "record": True}, "scipy", 1),
}


#: Every layout as JSON; two of them in every format.
UNEVEN_RUNS = [(name, "json") for name in UNEVEN] + [
    (name, fmt)
    for name in ("netcdf4 contiguous by decade", "netcdf3 records")
    for fmt in FORMATS[1:]
]


@pytest.mark.parametrize(("name", "fmt"), UNEVEN_RUNS)
def test_uneven_uncompressed_files_are_cut_and_read_back(
    http_server: SourceServer, tmp_path: Path, name: str, fmt: str
) -> None:
    kwargs, engine, length = UNEVEN[name]
    paths = cmip_files(http_server.root, **kwargs)
    outputs = {"references": {"format": fmt}}
    recipe = _recipe(tmp_path / "recipe", _served(http_server, paths), outputs)
    result = run_folder(recipe, tmp_path / "out")
    refs = result.references
    assert refs is not None
    assert compare(arcoforge.open_dataset(refs.url), _cmip_sources(paths, engine)) == []
    assert result.to_json()["variables"]["tas"]["chunks"] == [length, 3, 4]
    # one reference per cut chunk of tas, plus one per loaded variable
    steps = sum(kwargs["lengths"])
    assert refs.references == -(-steps // length) + len(result.to_json()["variables"]) - 1


def test_compressed_chunks_of_other_shapes_are_refused(
    http_server: SourceServer, tmp_path: Path
) -> None:
    zlib = {"zlib": True, "complevel": 1}
    encodings = [{"tas": {**zlib, "chunksizes": (n, 3, 4)}} for n in (12, 12, 6)]
    paths = cmip_files(http_server.root, (24, 24, 12), encodings=encodings)
    recipe = _recipe(tmp_path / "recipe", _served(http_server, paths), {"references": {}})
    with pytest.raises(UnrepresentableError) as e:
        run_folder(recipe, tmp_path / "out")
    message = str(e.value)
    assert paths[0].name in message and paths[2].name in message
    assert "chunks of [12, 3, 4]" in message and "chunks of [6, 3, 4]" in message
    assert "compressed (bytes+zlib)" in message and "Use format: icechunk" in message
    assert "zarr output" in message
    assert not (tmp_path / "out" / "recipe.json").exists()


def _merged_recipe(folder: Path, server: SourceServer, outputs: dict[str, Any]) -> Path:
    name = "{variable}_Amon_ARCO-TEST_historical_r1i1p1f1_gn_{time}.nc"
    spec = {
        "sources": {
            "url": f"{server.url}/{name}",
            "concat": {"time": ["185001-185112", "185201-185312", "185401-185412"]},
            "merge": {"variable": ["tas", "uas", "vas"]},
        },
        "outputs": outputs,
    }
    return write_recipe(folder, spec)


def _merged_sources(by_variable: dict[str, list[Path]]) -> xr.Dataset:
    parts = [
        xr.open_mfdataset(
            [str(p) for p in paths],
            engine="h5netcdf",
            combine="nested",
            concat_dim="time",
            data_vars="minimal",
            coords="minimal",
            compat="override",
        )
        for paths in by_variable.values()
    ]
    return xr.merge(parts, compat="no_conflicts", join="exact", combine_attrs="override")


@pytest.mark.parametrize("output", ["zarr", *FORMATS])
def test_merged_variables_sharing_bounds(
    http_server: SourceServer, tmp_path: Path, output: str
) -> None:
    """tas, uas and vas files each carry the same lat/lon/time bounds: kept once."""
    by_variable = {v: cmip_files(http_server.root, variable=v) for v in ("tas", "uas", "vas")}
    outputs = {"zarr": {}} if output == "zarr" else {"references": {"format": output}}
    result = run_folder(_merged_recipe(tmp_path / "recipe", http_server, outputs), tmp_path / "out")
    url = result.zarr.url if result.zarr is not None else result.references.url
    out = xr.open_zarr(url) if output == "zarr" else arcoforge.open_dataset(url)
    expected = _merged_sources(by_variable)
    assert compare(out, expected) == []
    assert {"tas", "uas", "vas", "lat_bnds", "lon_bnds", "time_bnds"} <= set(out.variables)


def _shifted_bounds(folder: Path) -> dict[str, list[Path]]:
    """tas and uas files whose lat_bnds differ in one value of the uas files."""
    out = {"tas": cmip_files(folder, variable="tas")}
    out["uas"] = cmip_files(folder, variable="uas")
    for path in out["uas"]:
        with h5py.File(path, "a") as f:
            f["lat_bnds"][1, 0] = -31.5
    return out


@pytest.mark.parametrize("output", ["zarr", "json"])
def test_merged_variables_that_differ_are_refused_alike(
    http_server: SourceServer, tmp_path: Path, output: str
) -> None:
    paths = _shifted_bounds(http_server.root)
    name = "{variable}_Amon_ARCO-TEST_historical_r1i1p1f1_gn_{time}.nc"
    spec = {
        "sources": {
            "url": f"{http_server.url}/{name}",
            "concat": {"time": ["185001-185112", "185201-185312", "185401-185412"]},
            "merge": {"variable": ["tas", "uas"]},
        },
        "outputs": {"zarr": {}} if output == "zarr" else {"references": {"format": output}},
    }
    recipe = write_recipe(tmp_path / "recipe", spec)
    with pytest.raises(IncompatibleInputsError) as e:
        run_folder(recipe, tmp_path / "out")
    first = paths["tas"][0].name
    other = paths["uas"][0].name
    assert str(e.value) == (
        f"Variable 'lat_bnds' is in {http_server.url}/{first} and in {http_server.url}/{other}, "
        "which are merged, but differs between them: 1 of 6 values differ, the first at "
        "[lat=1, bnds=0]: -30.0 vs -31.5. A variable found in several merged inputs is kept "
        "once only if it is equal in all of them; drop or fix it in a preprocess step of "
        "recipe.py, or merge other files."
    )


def test_local_paths_as_inputs(tmp_path: Path) -> None:
    paths = cmip_files(tmp_path / "data")
    folder = tmp_path / "recipes" / "cmip-tas"
    urls = ["../../data/" + paths[0].name, *(str(p) for p in paths[1:])]  # relative, absolute
    recipe = _recipe(folder, urls, {"zarr": {}, "references": {"format": "json"}})
    result = run_folder(recipe, tmp_path / "out")
    assert result.zarr is not None and result.references is not None
    sources = _cmip_sources(paths, "h5netcdf")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []
    assert compare(arcoforge.open_dataset(result.references.url), sources) == []


def test_tiny_copy_chunks_are_refused_before_fetching(
    http_server: SourceServer, tmp_path: Path
) -> None:
    files = write_files(make_sst(days=4, nlat=36, nlon=72), http_server.root, steps=2)
    urls = [f"{http_server.url}/{f.path.name}" for f in files]
    chunks = {"time": 1, "lat": 4, "lon": 4}
    recipe = _recipe(tmp_path / "recipe", urls, {"zarr": {"chunks": chunks}})
    with pytest.raises(SmallChunksError) as e:
        run_folder(recipe, tmp_path / "out", allow_small_chunks=False)
    assert "chunks of {time: 1, lat: 4, lon: 4} make each chunk of 'sst' 64 B" in str(e.value)
    assert "648 objects" in str(e.value) and "--allow-small-chunks" in str(e.value)
    # only the first input's header was read, by ranges: no input was fetched whole
    gets = [r for r in http_server.requests if r.method == "GET"]
    assert gets and all(r.range for r in gets)
    assert {r.path for r in gets} == {f"/{files[0].path.name}"}
    assert not (tmp_path / "out" / "recipe.zarr").exists()
    result = run_folder(recipe, tmp_path / "out", allow_small_chunks=True)
    assert result.zarr is not None
    out = xr.open_zarr(result.zarr.url)
    assert out.sst.encoding["chunks"] == (1, 4, 4)
    assert compare(out, open_sources([str(f.path) for f in files], "time")) == []


def test_tiny_chunks_from_the_command_line(tmp_path: Path) -> None:
    files = write_files(make_sst(days=2), tmp_path / "src", steps=1)
    urls = [f.path.as_uri() for f in files]
    recipe = _recipe(tmp_path / "recipe", urls, {"zarr": {"chunks": {"time": 1, "lat": 1}}})
    command = [sys.executable, "-m", "arcoforge.cli", "run", str(recipe), "-o", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--allow-small-chunks" in done.stderr and "288 B" in done.stderr
    done = subprocess.run(
        [*command, "--allow-small-chunks", "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert xr.open_zarr(tmp_path / "recipe.zarr").sst.encoding["chunks"] == (1, 1, 72)


#: Archives references alone refuse, as files of each layout, in order.
MIXED = {
    # a short last file whose compressed chunks are shorter: written, the rest virtual
    "short last file, compressed": ([24, 24, 12], [12, 12, 6], 4, 1),
    # a file in the middle written contiguous among zlib-chunked ones
    "one contiguous file among chunked ones": ([24, 24, 24], [12, None, 12], 4, 2),
    # a file ending inside a chunk: it and the next, off the grid, are written
    "other chunks, not on the grid": ([24, 18, 30], [12, 12, 12], 2, 4),
}


@pytest.mark.parametrize("name", list(MIXED))
def test_icechunk_writes_the_chunks_references_cannot_hold(
    http_server: SourceServer, tmp_path: Path, name: str
) -> None:
    lengths, chunks, virtual, written = MIXED[name]
    zlib = {"zlib": True, "complevel": 1}
    encodings = [
        {"tas": {"contiguous": True} if c is None else {**zlib, "chunksizes": (c, 3, 4)}}
        for c in chunks
    ]
    paths = cmip_files(http_server.root, tuple(lengths), encodings=encodings)
    urls = _served(http_server, paths)
    refused = _recipe(tmp_path / "json", urls, {"references": {"format": "json"}})
    with pytest.raises(UnrepresentableError, match="format: icechunk"):
        run_folder(refused, tmp_path / "out")
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {"format": "icechunk"}})
    refs = run_folder(recipe, tmp_path / "out").references
    assert refs is not None
    assert refs.chunks == {"virtual": virtual, "written": written}
    assert refs.to_json()["chunks"] == {"virtual": virtual, "written": written}
    out = arcoforge.open_dataset(refs.url)
    assert compare(out, _cmip_sources(paths, "h5netcdf")) == []
    assert out.tas.encoding["chunks"] == (12, 3, 4)  # one grid: the one most inputs use
    repo = ic.Repository.open(ic.local_filesystem_storage(refs.url))
    assert len(list(repo.ancestry(branch="main"))) == 2  # the repository's first, and ours


def test_mixed_icechunk_from_the_command_line(tmp_path: Path) -> None:
    zlib = {"zlib": True, "complevel": 1}
    encodings = [{"tas": {**zlib, "chunksizes": (c, 3, 4)}} for c in (12, 12, 6)]
    paths = cmip_files(tmp_path / "src", (24, 24, 12), encodings=encodings)
    outputs = {"references": {"format": "icechunk"}}
    recipe = _recipe(tmp_path / "recipe", [p.as_uri() for p in paths], outputs)
    command = [sys.executable, "-m", "arcoforge.cli", "run", str(recipe), "-o", str(tmp_path)]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [refs] = json.loads(done.stdout)["outputs"]
    assert refs["chunks"] == {"virtual": 4, "written": 1} and refs["references"] == 4 + 6
    done = subprocess.run([*command, "--overwrite"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = " ".join(done.stdout.split())
    assert "4 virtual chunks into 3 inputs and 1 chunks written from the inputs" in summary


def test_mixed_icechunk_of_merged_variables(http_server: SourceServer, tmp_path: Path) -> None:
    """tas, uas and vas, each with a short last file of shorter compressed chunks."""
    zlib = {"zlib": True, "complevel": 1}
    by_variable = {
        v: cmip_files(
            http_server.root,
            variable=v,
            encodings=[{v: {**zlib, "chunksizes": (c, 3, 4)}} for c in (12, 12, 6)],
        )
        for v in ("tas", "uas", "vas")
    }
    outputs = {"references": {"format": "icechunk"}}
    refs = run_folder(_merged_recipe(tmp_path / "recipe", http_server, outputs), tmp_path / "out")
    assert refs.references is not None
    assert refs.references.chunks == {"virtual": 12, "written": 3}
    out = arcoforge.open_dataset(refs.references.url)
    assert compare(out, _merged_sources(by_variable)) == []


def _labelled_files(folder: Path, chunks: list[int | None]) -> list[Path]:
    """CMIP-like files with variable-length strings: a label per step, one per latitude."""
    lengths = (24, 24, 12)
    zlib = {"zlib": True, "complevel": 1}
    encodings = [
        {"tas": {"contiguous": True} if c is None else {**zlib, "chunksizes": (c, 3, 4)}}
        for c in chunks
    ]
    paths = cmip_files(folder, lengths, encodings=encodings)
    start = 0
    for path, n in zip(paths, lengths, strict=True):
        with h5py.File(path, "a") as f:
            text = h5py.string_dtype()
            labels = [f"month {m} é" for m in range(start, start + n)]
            f.create_dataset("label", data=np.array(labels, dtype=object), dtype=text)
            f["label"].dims[0].attach_scale(f["time"])
            zones = np.array(["south", "equator", "north"], dtype=object)
            f.create_dataset("zone", data=zones, dtype=text)
            f["zone"].dims[0].attach_scale(f["lat"])
        start += n
    return paths


@pytest.mark.parametrize(
    ("name", "chunks", "chunk_counts"),
    [
        # only the strings are written; tas stays virtual, cut into 12 steps
        ("contiguous files", [None, None, None], {"virtual": 5, "written": 0}),
        # the short last file's tas chunks are written too
        ("short last file, compressed", [12, 12, 6], {"virtual": 4, "written": 1}),
    ],
)
def test_icechunk_writes_variable_length_strings(
    http_server: SourceServer,
    tmp_path: Path,
    name: str,
    chunks: list[int | None],
    chunk_counts: dict[str, int],
) -> None:
    paths = _labelled_files(http_server.root / name.replace(" ", "_"), chunks)
    urls = _served(http_server, paths)
    refused = _recipe(tmp_path / "json", urls, {"references": {"format": "json"}})
    with pytest.raises(UnrepresentableError, match=r"'label' holds strings.*format: icechunk"):
        run_folder(refused, tmp_path / "out")
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {"format": "icechunk"}})
    refs = run_folder(recipe, tmp_path / "out").references
    assert refs is not None and refs.chunks == chunk_counts
    out = arcoforge.open_dataset(refs.url)
    sources = _cmip_sources(paths, "h5netcdf")
    assert list(out.label.values) == [f"month {m} é" for m in range(60)]
    assert list(out.zone.values) == ["south", "equator", "north"]
    assert compare(out, sources) == []


def test_mixed_icechunk_native_writes_within_max_memory(
    http_server: SourceServer, tmp_path: Path
) -> None:
    """With a budget below one block of the written file, its chunks are written in
    several tasks (planned the same way here), and read back equal."""
    zlib = {"zlib": True, "complevel": 1}
    encodings = [{"tas": {**zlib, "chunksizes": (c, 30, 40)}} for c in (12, 12, 6)]
    paths = cmip_files(http_server.root, (24, 24, 12), encodings=encodings, nlat=60, nlon=80)
    urls = _served(http_server, paths)
    inputs = [open_virtual(Index((("time", i),)), url) for i, url in enumerate(urls)]
    ds, native = combine_mixed(inputs, concat_dims=("time",))
    [whole] = plan_native(ds, native, 10**9)
    budget = whole.memory - 1
    assert len(plan_native(ds, native, budget)) == 2
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {"format": "icechunk"}})
    refs = run_folder(recipe, tmp_path / "out", max_memory=budget).references
    assert refs is not None and refs.chunks == {"virtual": 16, "written": 4}
    assert compare(arcoforge.open_dataset(refs.url), _cmip_sources(paths, "h5netcdf")) == []
    with pytest.raises(PlanError, match=r"One chunk of 'tas'"):
        run_folder(recipe, tmp_path / "small", max_memory=100_000)
    assert not (tmp_path / "small" / "recipe.icechunk").exists()
