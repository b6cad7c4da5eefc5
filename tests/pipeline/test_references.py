"""Virtual datasets: references that open equal to the sources, in every format."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import icechunk as ic
import numpy as np
import pytest
import xarray as xr

import arcoforge
from arcoforge.demo.dataset import PACKED_INT16, Format, SampleFile, make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import RecipeError, SourceNotFoundError, TargetExistsError
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, trap_dataset, write_recipe

FORMATS = ["json", "parquet", "icechunk"]


@dataclass
class Case:
    """A generated archive a virtual dataset can represent."""

    dataset: Callable[[], xr.Dataset]
    steps: int | list[int] = 1
    fmt: Format = "netcdf4"
    encoding: dict[str, Any] = field(default_factory=dict)
    per_file: Callable[[int, xr.Dataset], xr.Dataset] | None = None


def _own_units(i: int, ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.time.encoding["units"] = f"hours since 20{10 + i}-06-01"
    return ds


ZLIB = {"zlib": True, "complevel": 1, "shuffle": True, "chunksizes": (1, 36, 72)}

CASES = {
    "netcdf4 packed int16": Case(lambda: make_sst(days=5), encoding={"sst": PACKED_INT16}),
    "netcdf3, 360_day": Case(lambda: make_sst(days=10, calendar="360_day"), steps=2, fmt="netcdf3"),
    "noleap, each file its own time units": Case(
        lambda: make_sst(days=8, calendar="noleap"), steps=2, per_file=_own_units
    ),
    "zlib chunks, uneven files": Case(
        lambda: make_sst(days=7), steps=[3, 4], encoding={"sst": ZLIB, "anom": ZLIB}
    ),
    "traps: unsigned, bounds, scalar, 2-D coordinate": Case(lambda: trap_dataset(days=6), steps=2),
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


def _recipe(folder: Path, urls: list[str], outputs: dict[str, Any]) -> Path:
    return write_recipe(
        folder, {"sources": {"urls": urls, "concat_dim": "time"}, "outputs": outputs}
    )


#: Every case as JSON; two cases in every format.
RUNS = [(name, "json") for name in CASES] + [
    (name, fmt)
    for name in ("netcdf4 packed int16", "noleap, each file its own time units")
    for fmt in FORMATS[1:]
]


@pytest.mark.parametrize(("name", "fmt"), RUNS)
def test_references_open_equal_to_the_sources(
    http_server: SourceServer, tmp_path: Path, name: str, fmt: str
) -> None:
    case = CASES[name]
    files = _sources(case, http_server.root)
    urls = [f"{http_server.url}/{f.path.name}" for f in files]
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {"format": fmt}})
    result = run_folder(recipe, tmp_path / "out")
    refs = result.references
    assert refs is not None and result.zarr is None
    assert refs.url == str(tmp_path / "out" / f"recipe.{fmt}") and refs.format == fmt
    out = arcoforge.open_dataset(refs.url)
    engine = "scipy" if case.fmt == "netcdf3" else "h5netcdf"
    assert compare(out, open_sources([str(f.path) for f in files], "time", engine=engine)) == []
    assert out.attrs["arcoforge_recipe"] == "recipe" and out.attrs["arcoforge_inputs"] == len(files)
    # inputs are read by ranges (headers, small coordinates), never downloaded whole
    gets = [r for r in http_server.requests if r.method == "GET"]
    assert gets and all(r.range for r in gets)


def test_the_summary_line_opens_each_format(http_server: SourceServer, tmp_path: Path) -> None:
    files = _sources(CASES["netcdf4 packed int16"], http_server.root)
    urls = [f"{http_server.url}/{f.path.name}" for f in files]
    sources = open_sources([str(f.path) for f in files], "time")
    for fmt in ("json", "parquet"):
        recipe = _recipe(tmp_path / fmt, urls, {"references": {"format": fmt}})
        refs = run_folder(recipe, tmp_path / "out").references
        assert refs is not None
        out = eval(refs.open_code, {"xr": xr, "arcoforge": arcoforge})
        assert compare(out, sources) == []


def test_icechunk_commit_names_the_recipe_and_its_hash(
    http_server: SourceServer, tmp_path: Path
) -> None:
    files = _sources(CASES["netcdf4 packed int16"], http_server.root)
    urls = [f"{http_server.url}/{f.path.name}" for f in files]
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {"format": "icechunk"}})
    refs = run_folder(recipe, tmp_path / "out").references
    assert refs is not None and refs.snapshot
    repo = ic.Repository.open(ic.local_filesystem_storage(refs.url))
    head = next(iter(repo.ancestry(branch="main")))
    digest = xr.open_zarr(repo.readonly_session("main").store).attrs["arcoforge_plan"]
    assert head.id == refs.snapshot
    assert head.message == f"recipe: {len(files)} inputs, references {digest[:12]}"
    assert head.metadata["recipe"] == "recipe" and head.metadata["hash"] == digest
    # without authorising the inputs' prefix, a reader cannot reach the chunks
    with pytest.raises(Exception, match=r"(?i)authoriz|virtual chunk"):
        xr.open_zarr(repo.readonly_session("main").store).sst.load()


@pytest.mark.parametrize("fmt", FORMATS)
def test_rerun_is_up_to_date_and_changes_need_overwrite(tmp_path: Path, fmt: str) -> None:
    files = write_files(make_sst(days=4), tmp_path / "src", steps=1)
    urls = [f.path.as_uri() for f in files]
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {"format": fmt}})
    first = run_folder(recipe, tmp_path / "out")
    again = run_folder(recipe, tmp_path / "out")
    assert not first.up_to_date and again.up_to_date
    fewer = _recipe(tmp_path / "recipe", urls[:3], {"references": {"format": fmt}})
    with pytest.raises(TargetExistsError, match=r"recipe\." + fmt + ".*--overwrite"):
        run_folder(fewer, tmp_path / "out")
    assert arcoforge.open_dataset(first.references.url).sizes["time"] == 4  # left alone
    replaced = run_folder(fewer, tmp_path / "out", overwrite=True)
    assert not replaced.up_to_date
    assert arcoforge.open_dataset(replaced.references.url).sizes["time"] == 3
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if "partial" in p.name]
    assert leftovers == []
    if fmt == "icechunk":  # the history is kept: one commit per run that wrote
        repo = ic.Repository.open(ic.local_filesystem_storage(replaced.references.url))
        assert len(list(repo.ancestry(branch="main"))) == 3


def test_copy_and_references_together(http_server: SourceServer, tmp_path: Path) -> None:
    files = write_files(make_sst(days=6), http_server.root, steps=2)
    urls = [f"{http_server.url}/{f.path.name}" for f in files]
    recipe = _recipe(tmp_path / "recipe", urls, {"zarr": {"chunks": {"time": 3}}, "references": {}})
    result = run_folder(recipe, tmp_path / "out", workers=2)
    assert result.zarr is not None and result.references is not None
    assert result.references.format == "json"
    sources = open_sources([str(f.path) for f in files], "time")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []
    assert compare(arcoforge.open_dataset(result.references.url), sources) == []
    kinds = [o["kind"] for o in result.to_json()["outputs"]]
    assert kinds == ["zarr", "references"]


def test_merge_dim_over_http(http_server: SourceServer, tmp_path: Path) -> None:
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
            "outputs": {"references": {"format": "json"}},
        },
    )
    result = run_folder(recipe, tmp_path / "out", workers=2)
    by_var = [[str(f.path) for f in files if f.variables == (v,)] for v in ("sst", "anom")]
    sources = open_sources(by_var, [None, "time"], engine="h5netcdf")
    assert compare(arcoforge.open_dataset(result.references.url), sources) == []


def test_sources_and_output_on_s3(s3_bucket: str, tmp_path: Path) -> None:
    import fsspec

    files = write_files(make_sst(days=4), tmp_path / "src", steps=2)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    for f in files:
        fs.put_file(str(f.path), f"{s3_bucket}/in/{f.path.name}")
    urls = [f"s3://{s3_bucket}/in/{f.path.name}" for f in files]
    sources = open_sources([str(f.path) for f in files], "time")
    for fmt in ("json", "icechunk"):
        recipe = _recipe(tmp_path / fmt, urls, {"references": {"format": fmt}})
        result = run_folder(recipe, f"s3://{s3_bucket}/arco")
        assert result.references.url == f"s3://{s3_bucket}/arco/{fmt}.{fmt}"
        out = arcoforge.open_dataset(result.references.url)
        assert compare(out, sources) == []


def test_a_missing_input_is_named(http_server: SourceServer, tmp_path: Path) -> None:
    files = write_files(make_sst(days=2), http_server.root, steps=1)
    urls = [f"{http_server.url}/{f.path.name}" for f in files] + [f"{http_server.url}/gone.nc"]
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {}})
    with pytest.raises(SourceNotFoundError, match=r"gone.nc") as e:
        run_folder(recipe, tmp_path / "out")
    assert str(e.value) == f"{http_server.url}/gone.nc: not found (404)."
    assert not (tmp_path / "out" / "recipe.json").exists()


def test_preprocess_cannot_make_references(tmp_path: Path) -> None:
    folder = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": ["https://example.org/a.nc"], "concat_dim": "time"},
            "outputs": {"zarr": {}, "references": {}},
        },
        recipe_py="def preprocess(ds, index):\n    return ds\n",
    )
    with pytest.raises(RecipeError, match=r"recipe.py: a `preprocess` function"):
        arcoforge.load_recipe(folder)


def test_json_holds_zarr_v2_references_with_inlined_times(tmp_path: Path) -> None:
    files = write_files(make_sst(days=4), tmp_path / "src", steps=2)
    recipe = _recipe(tmp_path / "recipe", [f.path.as_uri() for f in files], {"references": {}})
    result = run_folder(recipe, tmp_path / "out")
    refs = json.loads(Path(result.references.url).read_text())["refs"]
    assert ".zgroup" in refs and "sst/.zarray" in refs
    assert isinstance(refs["time/0"], str)  # inlined, not a pointer into a file
    assert refs["sst/1.0.0"][0] in (files[1].path.as_uri(), str(files[1].path))
    assert np.array_equal(
        arcoforge.open_dataset(result.references.url).time.values,
        open_sources([str(f.path) for f in files], "time").time.values,
    )


@pytest.mark.parametrize("runner", ["direct", "dask"])
def test_references_from_worker_processes(
    http_server: SourceServer, tmp_path: Path, runner: str
) -> None:
    """Headers read in worker processes (each with its own layouts) give the same dataset."""
    case = CASES["noleap, each file its own time units"]
    files = _sources(case, http_server.root)
    urls = [f"{http_server.url}/{f.path.name}" for f in files]
    recipe = _recipe(tmp_path / "recipe", urls, {"references": {"format": "json"}})
    result = run_folder(recipe, tmp_path / "out", workers=2, runner=runner)
    assert result.references is not None
    sizes = [f.path.stat().st_size for f in files]
    assert result.references.manifest == {"count": len(files), "bytes": sum(sizes)}
    out = arcoforge.open_dataset(result.references.url)
    assert compare(out, open_sources([str(f.path) for f in files], "time")) == []
