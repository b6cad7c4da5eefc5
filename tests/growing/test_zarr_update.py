"""`forge run --update` on Zarr copies: grown over HTTP twice, equal to a single full run;
refusals name the inputs; killed at every step, readers see a complete version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import SourceChangedError, UpdateRefusedError
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions
from arcoforge.verify import PROVENANCE_PREFIX, compare, open_sources
from tests.helpers import run_folder, write_recipe
from tests.targets import harness
from tests.targets.harness import Faults, failed_at_every_step, run_stages, seen, which

DAYS = 10


def _recipe(folder: Path, url: str, end: str, fmt: int = 3, start: str = "2020-01-01") -> Path:
    """The recipe ``sst`` (its folder's name) over the days from ``start`` to ``end``."""
    folder = folder / "sst"
    spec = {
        "sources": {
            "url": url + "/sst.{time:%Y%m%d}.nc",
            "concat": {"time": {"start": start, "end": end, "freq": "D"}},
        },
        "outputs": {"zarr": {"chunks": {"time": 3}, "zarr_format": fmt}},
    }
    return write_recipe(folder, spec)


def _without_provenance(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith(PROVENANCE_PREFIX)}
    return ds


@pytest.fixture
def served(http_server: SourceServer) -> list[str]:
    """Ten daily files served over HTTP; returns their local paths."""
    files = write_files(make_sst(days=DAYS, nlat=6, nlon=8, seed=3), http_server.root)
    return [str(f.path) for f in files]


@pytest.mark.parametrize("fmt", [3, 2])
def test_grown_twice_equals_one_full_run(
    http_server: SourceServer, served: list[str], tmp_path: Path, fmt: int
) -> None:
    out = tmp_path / "out"
    first = run_folder(_recipe(tmp_path / "r4", http_server.url, "2020-01-04", fmt), out)
    assert first.inputs == 4 and first.zarr is not None and first.zarr.appended is None
    url = first.zarr.url
    for end, appended in (("2020-01-07", 3), ("2020-01-10", 3), ("2020-01-10", 0)):
        recipe = _recipe(tmp_path / f"r-{end}", http_server.url, end, fmt)
        grown = run_folder(recipe, out, update=True)
        assert grown.appended == appended
        assert grown.to_json()["appended"] == appended
        assert grown.zarr.to_json()["appended"] == appended
        assert grown.up_to_date == (appended == 0)
    full = run_folder(
        _recipe(tmp_path / "full", http_server.url, "2020-01-10", fmt), tmp_path / "f"
    )
    got, want = xr.open_zarr(url), xr.open_zarr(full.zarr.url)
    assert got.sizes["time"] == DAYS
    assert compare(got, _without_provenance(want)) == []
    assert compare(got, open_sources(served, "time")) == []
    assert got.attrs["arcoforge_inputs"] == DAYS and "arcoforge_updated" in got.attrs
    # readers that skip the consolidated metadata see the new shapes too
    raw = xr.open_zarr(url, consolidated=False)
    assert raw.sizes["time"] == DAYS
    np.testing.assert_array_equal(raw.sst.values, want.sst.values)


def test_update_of_nothing_builds_the_dataset(
    http_server: SourceServer, served: list[str], tmp_path: Path
) -> None:
    result = run_folder(
        _recipe(tmp_path / "r", http_server.url, "2020-01-05"), tmp_path / "o", update=True
    )
    assert result.inputs == 5
    assert compare(xr.open_zarr(result.zarr.url), open_sources(served[:5], "time")) == []


def _grown_from_four(http_server: SourceServer, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    run_folder(_recipe(tmp_path / "r4", http_server.url, "2020-01-04"), out)
    return out


def test_going_back_in_time_is_refused_naming_the_input(
    http_server: SourceServer, served: list[str], tmp_path: Path
) -> None:
    out = _grown_from_four(http_server, tmp_path)
    write_files(make_sst(start="2019-12-31", days=1, nlat=6, nlon=8, seed=9), http_server.root)
    recipe = _recipe(tmp_path / "r", http_server.url, "2020-01-06", start="2019-12-31")
    with pytest.raises(UpdateRefusedError, match=r"sst\.20191231\.nc.*going back in time"):
        run_folder(recipe, out, update=True)
    assert xr.open_zarr(_url(out)).sizes["time"] == 4


def _url(out: Path) -> str:
    return str(out / "sst.zarr")


def test_changed_input_is_refused(
    http_server: SourceServer, served: list[str], tmp_path: Path
) -> None:
    out = _grown_from_four(http_server, tmp_path)
    write_files(make_sst(start="2020-01-02", days=1, nlat=6, nlon=8, seed=7), http_server.root)
    recipe = _recipe(tmp_path / "r", http_server.url, "2020-01-06")
    with pytest.raises(SourceChangedError, match=r"sst\.20200102\.nc"):
        run_folder(recipe, out, update=True)


def test_schema_change_is_refused(
    http_server: SourceServer, served: list[str], tmp_path: Path
) -> None:
    out = _grown_from_four(http_server, tmp_path)
    later = make_sst(start="2020-01-05", days=1, nlat=6, nlon=8, seed=3, dtype="float64")
    write_files(later, http_server.root)
    recipe = _recipe(tmp_path / "r", http_server.url, "2020-01-05")
    with pytest.raises(UpdateRefusedError, match=r"float64 in http\S*sst\.20200105\.nc"):
        run_folder(recipe, out, update=True)
    assert xr.open_zarr(_url(out)).sizes["time"] == 4


def test_overlap_is_refused_naming_the_input(served: list[str], tmp_path: Path) -> None:
    overlap = write_files(
        make_sst(start="2020-01-04", days=2, nlat=6, nlon=8, seed=3), tmp_path / "o", steps=2
    )
    spec: dict[str, Any] = {
        "sources": {"urls": [Path(p).as_uri() for p in served[:4]], "concat_dim": "time"},
        "outputs": {"zarr": {"chunks": {"time": 3}}},
    }
    out = tmp_path / "out"
    run_folder(write_recipe(tmp_path / "a" / "sst", spec), out)
    spec["sources"]["urls"].append(overlap[0].path.as_uri())
    with pytest.raises(UpdateRefusedError, match=r"o/sst\.20200104\.nc.*increasing"):
        run_folder(write_recipe(tmp_path / "b" / "sst", spec), out, update=True)


def test_update_and_overwrite_together_is_a_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from arcoforge.cli import app

    result = CliRunner().invoke(app, ["run", str(tmp_path), "--update", "--overwrite"])
    assert result.exit_code == 1
    assert "choose one" in result.output


@pytest.mark.parametrize("fmt", [3, 2])
def test_update_killed_at_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: list[str], fmt: int
) -> None:
    uris = [Path(p).as_uri() for p in served]

    def recipe(n: int) -> Any:
        spec = {
            "sources": {"urls": uris[:n], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 3}, "zarr_format": fmt}},
        }
        loaded = load_recipe(write_recipe(tmp_path / f"r{n}", spec))
        return type(loaded)(**{**loaded.__dict__, "id": "ds"})  # one output for all

    monkeypatch.setitem(
        harness.STEPS, "zarr", [*harness.STEPS["zarr"], (harness.ZarrTarget, "write_region")]
    )
    output = str(tmp_path / "out")
    url = f"{output}/ds.zarr"
    versions = {"old": open_sources(served[:4], "time"), "new": open_sources(served[:7], "time")}
    options = RunOptions(output=output, update=True)
    run_stages(recipe(4), RunOptions(output=output))
    start = tmp_path / "start"
    _copy(Path(output), start)
    with Faults().installed(monkeypatch) as counted:
        run_stages(recipe(7), options)
    wanted = xr.open_zarr(url).load()
    assert which(wanted, versions) == "new"
    assert "ZarrTarget.write_region" in counted.seen
    steps = failed_at_every_step(
        monkeypatch, len(counted.seen), start, Path(output), lambda: run_stages(recipe(7), options)
    )
    for step, faults in enumerate(steps, 1):
        now = which(seen(url), versions)
        assert now in ("old", "new"), f"step {step} ({faults.seen[-1]}): reader saw {now}"
        assert zarr.open_group(url, mode="r")["sst"].shape[0] == {"old": 4, "new": 7}[now]
        results = run_stages(recipe(7), options)  # run again: it finishes
        assert results[0]["appended"] in (0, 3)
        again = xr.open_zarr(url).load()
        assert compare(again, _without_provenance(wanted)) == []
        assert xr.open_zarr(url, consolidated=False).sizes["time"] == 7
        manifest = json.loads((Path(url) / "arcoforge-manifest.json").read_text())
        assert manifest["count"] == 7


def _copy(src: Path, dst: Path) -> None:
    import shutil

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def test_grown_on_s3(served: list[str], tmp_path: Path, s3_bucket: str) -> None:
    uris = [Path(p).as_uri() for p in served]
    output = f"s3://{s3_bucket}/arco"

    def recipe(n: int) -> Any:
        spec = {
            "sources": {"urls": uris[:n], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 3}}},
        }
        return load_recipe(write_recipe(tmp_path / f"r{n}" / "sst", spec))

    run_stages(recipe(4), RunOptions(output=output))
    [grown] = run_stages(recipe(7), RunOptions(output=output, update=True))
    assert grown["appended"] == 3
    got = seen(f"{output}/sst.zarr")
    assert got is not None and compare(got, open_sources(served[:7], "time")) == []
