"""`forge run --update` fills in inputs an earlier run skipped (``on_missing: skip``) that
are there now, with any new inputs at the end, in one update equal to a full run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import icechunk
import numpy as np
import pytest
import xarray as xr

import arcoforge
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import UpdateRefusedError
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions
from arcoforge.targets.manifest import read_manifest
from arcoforge.verify import PROVENANCE_PREFIX, compare, open_sources
from tests.helpers import run_folder, write_recipe
from tests.targets import harness
from tests.targets.harness import Faults, failed_at_every_step, run_stages, seen, which

DAYS = 9
#: The day (its index) missing from the first run.
GAP = 4


def _spec(url: str, end: str, output: dict[str, Any], room: bool) -> dict[str, Any]:
    sources: dict[str, Any] = {
        "url": url + "/sst.{time:%Y%m%d}.nc",
        "concat": {"time": {"start": "2020-01-01", "end": end, "freq": "D"}},
        "on_missing": "skip",
    }
    if room:  # the skipped day keeps its step, as fill values
        sources["items_per_file"] = {"time": 1}
    return {"sources": sources, "outputs": output}


def _without_provenance(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith(PROVENANCE_PREFIX)}
    return ds


@pytest.fixture
def served(http_server: SourceServer, tmp_path: Path) -> list[Path]:
    """Nine daily files on the server, the fifth (2020-01-05) moved aside: it answers 404."""
    files = [
        f.path for f in write_files(make_sst(days=DAYS, nlat=6, nlon=8, seed=4), http_server.root)
    ]
    files[GAP].rename(tmp_path / files[GAP].name)
    return files


def _restore(served: list[Path], tmp_path: Path) -> None:
    (tmp_path / served[GAP].name).rename(served[GAP])


def _chunk_times(store: Path) -> dict[str, int]:
    """The modification time of each chunk file of ``sst`` (Zarr 3), by chunk index along time."""
    return {p.parts[-3]: p.stat().st_mtime_ns for p in (store / "sst" / "c").glob("*/*/*")}


@pytest.mark.parametrize("room", [True, False], ids=["steps-kept", "steps-left-out"])
def test_a_skipped_input_is_filled_in_with_new_ones_after(
    http_server: SourceServer, served: list[Path], tmp_path: Path, room: bool
) -> None:
    output = {"zarr": {"chunks": {"time": 3}}}
    out = tmp_path / "out"
    first = run_folder(
        write_recipe(tmp_path / "a" / "sst", _spec(http_server.url, "2020-01-07", output, room)),
        out,
    )
    gap_url = f"{http_server.url}/{served[GAP].name}"
    assert first.missing == [{"index": f"time={GAP}", "url": gap_url}]
    store = out / "sst.zarr"
    before = _chunk_times(store)
    _restore(served, tmp_path)
    recipe = write_recipe(
        tmp_path / "b" / "sst", _spec(http_server.url, "2020-01-09", output, room)
    )
    grown = run_folder(recipe, out, update=True)
    assert grown.to_json()["appended"] == 2 and grown.to_json()["filled"] == 1
    assert grown.zarr is not None and grown.zarr.to_json()["filled"] == 1
    assert grown.missing == []
    full = run_folder(recipe, tmp_path / "full")
    got = xr.open_zarr(grown.zarr.url).load()
    assert compare(got, _without_provenance(xr.open_zarr(full.zarr.url).load())) == []
    assert compare(got, open_sources([str(p) for p in served], "time")) == []
    assert got.attrs["arcoforge_inputs"] == DAYS and got.attrs["arcoforge_dataset_version"] == 2
    manifest = read_manifest("zarr", grown.zarr.url)
    assert manifest is not None and manifest.missing == {} and len(manifest) == DAYS
    assert gap_url in {i.url for i in manifest.inputs.values()}
    after = _chunk_times(store)
    # the chunk of days 1-3 lies before the gap: not written again
    assert after["0"] == before["0"]
    assert after["1"] != before["1"]  # the gap's chunk, days 4-6
    # a second update finds nothing to add
    again = run_folder(recipe, out, update=True)
    assert again.up_to_date and again.to_json()["appended"] == 0 and again.to_json()["filled"] == 0


def test_an_input_never_recorded_as_skipped_is_still_refused(
    http_server: SourceServer, served: list[Path], tmp_path: Path
) -> None:
    output = {"zarr": {"chunks": {"time": 3}}}
    spec = _spec(http_server.url, "2020-01-07", output, True)
    spec["sources"]["on_missing"] = "fail"
    spec["sources"]["concat"]["time"]["start"] = "2020-01-06"  # after the gap
    out = tmp_path / "out"
    run_folder(write_recipe(tmp_path / "a" / "sst", spec), out)
    _restore(served, tmp_path)
    spec["sources"]["concat"]["time"]["start"] = "2020-01-05"  # an earlier day, never skipped
    with pytest.raises(UpdateRefusedError, match=r"sst\.20200105\.nc.*going back in time"):
        run_folder(write_recipe(tmp_path / "b" / "sst", spec), out, update=True)


SUFFIX = {"json": ".json", "parquet": ".parquet", "icechunk": ".icechunk"}


@pytest.mark.parametrize("fmt", ["json", "parquet", "icechunk"])
def test_references_fill_in_a_skipped_input(
    http_server: SourceServer, served: list[Path], tmp_path: Path, fmt: str
) -> None:
    output = {"references": {"format": fmt}}
    out = tmp_path / "out"
    first = run_folder(
        write_recipe(tmp_path / "a" / "sst", _spec(http_server.url, "2020-01-07", output, False)),
        out,
    )
    assert first.references is not None and len(first.missing) == 1
    _restore(served, tmp_path)
    recipe = write_recipe(
        tmp_path / "b" / "sst", _spec(http_server.url, "2020-01-08", output, False)
    )
    grown = run_folder(recipe, out, update=True)
    assert grown.to_json()["appended"] == 1 and grown.to_json()["filled"] == 1
    url = str(out / f"sst{SUFFIX[fmt]}")
    full = run_folder(recipe, tmp_path / "full")
    got = arcoforge.open_dataset(url).load()
    want = _without_provenance(arcoforge.open_dataset(full.references.url).load())
    assert compare(got, want) == []
    assert compare(got, open_sources([str(p) for p in served[:8]], "time")) == []
    if fmt == "icechunk":  # the commit names the input filled in and the one appended
        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(url))
        message = next(iter(repo.ancestry(branch="main"))).message
        assert message == (
            f"sst: appended 1 inputs: {http_server.url}/{served[7].name}; "
            f"filled in 1 inputs: {http_server.url}/{served[GAP].name}"
        )
    again = run_folder(recipe, out, update=True)
    assert again.up_to_date and again.to_json()["filled"] == 0


def _copy(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def _chunkwise_old_or_new(ds: xr.Dataset | None, old: xr.Dataset, new: xr.Dataset) -> None:
    """``ds`` has the old version's shape, and each chunk (2 steps) of its variables holds
    the old version's values or the new version's (see docs/growing-datasets.md)."""
    assert ds is not None and ds.sizes["time"] == old.sizes["time"]
    for name in old.data_vars:
        for a in range(0, old.sizes["time"], 2):
            have = ds[name].values[a : a + 2]
            was, now = old[name].values[a : a + 2], new[name].values[a : a + 2]
            same = np.array_equal(have, was, equal_nan=True)
            assert same or np.array_equal(have, now, equal_nan=True), (name, a)


@pytest.mark.parametrize("room", [True, False], ids=["steps-kept", "steps-left-out"])
def test_fill_killed_at_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: bool
) -> None:
    files = [
        f.path for f in write_files(make_sst(days=7, nlat=6, nlon=8, seed=6), tmp_path / "src")
    ]
    aside = tmp_path / files[2].name
    uris = [p.as_uri() for p in files]

    def recipe(n: int) -> Any:
        sources: dict[str, Any] = {"urls": uris[:n], "concat_dim": "time", "on_missing": "skip"}
        if room:
            sources["items_per_file"] = 1
        spec = {"sources": sources, "outputs": {"zarr": {"chunks": {"time": 2}}}}
        return load_recipe(write_recipe(tmp_path / f"r{n}" / "sst", spec))

    output = str(tmp_path / "out")
    url = f"{output}/sst.zarr"
    files[2].rename(aside)
    run_stages(recipe(5), RunOptions(output=output))
    found = seen(url)
    assert found is not None and found.sizes["time"] == (5 if room else 4)
    old = _without_provenance(found)
    aside.rename(files[2])
    new = open_sources([str(p) for p in files], "time")
    start = tmp_path / "start"
    _copy(Path(output), start)
    options = RunOptions(output=output, update=True)
    monkeypatch.setitem(
        harness.STEPS, "zarr", [*harness.STEPS["zarr"], (harness.ZarrTarget, "write_region")]
    )
    with Faults().installed(monkeypatch) as counted:
        run_stages(recipe(7), options)
    assert compare(seen(url), new) == []
    # the chunks that replace published ones are put in place just before the commit
    last_write = len(counted.seen) - counted.seen[::-1].index("ZarrTarget.write")
    assert "ZarrTarget.write_region" in counted.seen
    steps = failed_at_every_step(
        monkeypatch, len(counted.seen), start, Path(output), lambda: run_stages(recipe(7), options)
    )
    for step, faults in enumerate(steps, 1):
        now = seen(url)
        if step <= last_write + 1:  # no staged chunk was put in place yet
            assert which(now, {"old": old, "new": new}) == "old", f"step {step}"
        elif now is not None and now.sizes["time"] != 7:  # putting them in place
            _chunkwise_old_or_new(now, old, new)
        else:  # committed
            assert which(now, {"old": old, "new": new}) == "new", f"step {step}"
        [result] = run_stages(recipe(7), options)  # run again: it finishes
        assert compare(seen(url), new) == [], f"step {step} ({faults.seen[-1]})"
        assert xr.open_zarr(url, consolidated=False).sizes["time"] == 7
        manifest = json.loads((Path(url) / "arcoforge-manifest.json").read_text())
        assert manifest["count"] == 7 and manifest["missing"] == []
        assert result["filled"] in (0, 1)
    assert not os.path.exists(f"{output}/.forge/sst/staged.zarr")


def test_filled_on_s3(tmp_path: Path, s3_bucket: str) -> None:
    files = [
        f.path for f in write_files(make_sst(days=6, nlat=6, nlon=8, seed=1), tmp_path / "src")
    ]
    aside = tmp_path / files[1].name
    uris = [p.as_uri() for p in files]

    def recipe(n: int) -> Any:
        sources = {"urls": uris[:n], "concat_dim": "time", "on_missing": "skip"}
        spec = {"sources": sources, "outputs": {"zarr": {"chunks": {"time": 2}}}}
        return load_recipe(write_recipe(tmp_path / f"r{n}" / "sst", spec))

    output = f"s3://{s3_bucket}/arco"
    files[1].rename(aside)
    run_stages(recipe(4), RunOptions(output=output))
    aside.rename(files[1])
    [grown] = run_stages(recipe(6), RunOptions(output=output, update=True))
    assert grown["appended"] == 2 and grown["filled"] == 1
    got = seen(f"{output}/sst.zarr")
    assert got is not None and compare(got, open_sources([str(p) for p in files], "time")) == []
