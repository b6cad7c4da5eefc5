"""Whole runs against servers that need care: inputs that stay missing, servers without
Range, a per-host limit shared by the worker processes (a real aiohttp server)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import IncompatibleInputsError, SourceNotFoundError
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, run_context
from arcoforge.targets.manifest import read_manifest
from tests.helpers import run_folder, write_recipe


def _recipe(tmp_path: Path, server: SourceServer, files: list[Path], **sources: object) -> Path:
    spec = {
        "sources": {
            "urls": [f"{server.url}/{f.name}" for f in files],
            "concat_dim": "time",
            **sources,
        },
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    return write_recipe(tmp_path / "recipe", spec)


@pytest.fixture
def files(http_server: SourceServer) -> list[Path]:
    return [f.path for f in write_files(make_sst(days=5), http_server.root, steps=1)]


def test_skipped_inputs_are_left_out_and_listed(
    http_server: SourceServer, files: list[Path], tmp_path: Path
) -> None:
    gone = files[2]
    gone.unlink()
    recipe = _recipe(tmp_path, http_server, files, on_missing="skip")
    result = run_folder(recipe, tmp_path / "out")
    url = f"{http_server.url}/{gone.name}"
    assert result.missing == [{"index": "time=2", "url": url}]
    assert result.to_json()["missing"] == [{"index": "time=2", "url": url}]
    assert result.inputs == 4
    out = xr.open_zarr(result.zarr.url)
    kept = [f for f in files if f != gone]
    sources = xr.open_mfdataset(kept, engine="h5netcdf", combine="by_coords")
    xr.testing.assert_equal(out.load(), sources.load())
    manifest = read_manifest("zarr", result.zarr.url)
    assert manifest is not None and manifest.missing == {"time=2": url}
    assert url not in {i.url for i in manifest.inputs.values()}


def test_missing_inputs_fail_the_run_by_default(
    http_server: SourceServer, files: list[Path], tmp_path: Path
) -> None:
    files[1].unlink()
    with pytest.raises(SourceNotFoundError, match=files[1].name):
        run_folder(_recipe(tmp_path, http_server, files), tmp_path / "out")


def test_a_copy_from_a_server_without_range_keeps_to_the_limit(
    http_server: SourceServer, files: list[Path], tmp_path: Path
) -> None:
    http_server.faults.no_range.add("*")
    http_server.faults.delay["*"] = 0.3  # so that requests overlap if they may
    recipe = _recipe(tmp_path, http_server, files, max_concurrency=2)
    result = run_folder(recipe, tmp_path / "out", workers=2)
    out = xr.open_zarr(result.zarr.url)
    sources = xr.open_mfdataset(files, engine="h5netcdf", combine="by_coords")
    xr.testing.assert_equal(out.load(), sources.load())
    assert 1 <= http_server.max_in_flight <= 2  # each of the 2 workers sent 1 at a time


@pytest.mark.parametrize(("limit", "workers", "share"), [(None, 2, 4), (6, 3, 2), (2, 4, 1)])
def test_each_worker_gets_its_share_of_the_limit(
    http_server: SourceServer,
    files: list[Path],
    tmp_path: Path,
    limit: int | None,
    workers: int,
    share: int,
) -> None:
    extra = {} if limit is None else {"max_concurrency": limit}
    recipe = load_recipe(_recipe(tmp_path, http_server, files, **extra))
    ctx, _ = run_context(recipe, RunOptions(output=str(tmp_path / "out"), workers=workers))
    assert ctx.retry.per_host == share


def test_where_keys_fix_time_skipped_steps_hold_the_fill_value(
    http_server: SourceServer, files: list[Path], tmp_path: Path
) -> None:
    gone = files[2]
    gone.unlink()
    spec = {
        "sources": {
            "url": f"{http_server.url}/sst.{{time:%Y%m%d}}.nc",
            "concat": {"time": {"start": "2020-01-01", "end": "2020-01-05", "freq": "D"}},
            "items_per_file": {"time": 1},
            "on_missing": "skip",
        },
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    result = run_folder(write_recipe(tmp_path / "recipe", spec), tmp_path / "out")
    assert result.missing == [{"index": "time=2", "url": f"{http_server.url}/{gone.name}"}]
    out = xr.open_zarr(result.zarr.url).load()
    full = make_sst(days=5)
    xr.testing.assert_equal(out.time, full.time)  # the skipped day keeps its place
    assert out.sst.isel(time=2).isnull().all()
    kept = xr.open_mfdataset(
        [f for f in files if f != gone], engine="h5netcdf", combine="by_coords"
    ).load()
    xr.testing.assert_equal(out.drop_sel(time=full.time[2].values), kept)


def test_uneven_steps_around_a_gap_are_refused(http_server: SourceServer, tmp_path: Path) -> None:
    # Daily files of a year but one day a week: the missing file's time is unknown.
    ds = make_sst(days=3).assign_coords(
        time=[np.datetime64("2020-01-01"), np.datetime64("2020-01-02"), np.datetime64("2020-01-09")]
    )
    written = [f.path for f in write_files(ds, http_server.root, steps=1)]
    urls = [f"{http_server.url}/{p.name}" for p in written]
    urls.insert(2, f"{http_server.url}/sst.20200103.nc")  # never written
    spec = {
        "sources": {"urls": urls, "concat_dim": "time", "items_per_file": 1, "on_missing": "skip"},
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    with pytest.raises(IncompatibleInputsError, match=r"sst\.20200103\.nc\).*not evenly spaced"):
        run_folder(write_recipe(tmp_path / "recipe", spec), tmp_path / "out")


def test_references_leave_skipped_inputs_out(
    http_server: SourceServer, files: list[Path], tmp_path: Path
) -> None:
    gone = files[3]
    gone.unlink()
    spec = {
        "sources": {
            "urls": [f"{http_server.url}/{f.name}" for f in files],
            "concat_dim": "time",
            "on_missing": "skip",
        },
        "outputs": {"references": {"format": "json"}},
    }
    result = run_folder(write_recipe(tmp_path / "recipe", spec), tmp_path / "out")
    url = f"{http_server.url}/{gone.name}"
    assert result.missing == [{"index": "time=3", "url": url}]
    refs = xr.open_dataset(result.references.url, engine="kerchunk").load()
    kept = xr.open_mfdataset(
        [f for f in files if f != gone], engine="h5netcdf", combine="by_coords"
    ).load()
    xr.testing.assert_equal(refs, kept)
    manifest = read_manifest("json", result.references.url)
    assert manifest is not None and manifest.missing == {"time=3": url}


def test_the_command_lists_skipped_inputs(
    http_server: SourceServer, files: list[Path], tmp_path: Path
) -> None:
    import json

    from tests.test_cli import forge

    files[1].unlink()
    recipe = _recipe(tmp_path, http_server, files, on_missing="skip")
    url = f"{http_server.url}/{files[1].name}"
    out = str(tmp_path / "out")
    done = forge("run", str(recipe), "-o", out, "--workers", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["missing"] == [{"index": "time=1", "url": url}]
    shown = forge("run", str(recipe), "-o", str(tmp_path / "out2"), "--workers", "1")
    assert shown.returncode == 0, shown.stderr
    assert "missing" in shown.stdout and "1 left out (on_missing: skip)" in shown.stdout
    assert url in shown.stdout
