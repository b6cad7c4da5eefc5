"""forge plan: a run's plan from a few headers and sizes, checked against real runs and requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.many import daily_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import SourceNotFoundError
from arcoforge.plan.costs import Prices
from arcoforge.plan.estimate import MAX_HEADERS, MAX_HEADS, PlanOptions, estimate, sample, spread
from arcoforge.recipe import load_recipe
from tests.helpers import run_folder, write_recipe


def forge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arcoforge.cli", *args], capture_output=True, text=True, timeout=300
    )


def _served_recipe(tmp_path: Path, server: SourceServer, *, days: int, steps: int = 1) -> Path:
    if steps == 1:
        names = [p.name for p in daily_files(server.root, days)]
    else:
        ds = make_sst(days=days, nlat=18, nlon=36)
        files = write_files(ds, server.root, steps=steps, name="sst.{i:05d}.nc")
        names = [f.path.name for f in files]
    return write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f"{server.url}/{n}" for n in names], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 4}}},
        },
    )


def test_spread_keeps_the_ends_and_the_cap() -> None:
    assert spread(5, 32) == [0, 1, 2, 3, 4]
    picked = spread(10_000, 32)
    assert len(picked) == 32 and picked[0] == 0 and picked[-1] == 9_999
    assert spread(10, 1) == [0] and spread(0, 4) == []


def test_sample_takes_whole_merge_groups(tmp_path: Path) -> None:
    from arcoforge.recipe.pattern import ConcatDim, FilePattern, MergeDim

    pattern = FilePattern(
        lambda time, variable: f"{variable}-{time}.nc",
        ConcatDim("time", list(range(100))),
        MergeDim("variable", ["a", "b", "c"]),
    )
    items = list(pattern.items())
    picked = sample(items, ("time",), 32)
    assert len(picked) <= 32
    times = {items[k][0]["time"] for k in picked}
    assert {0, 99} <= times
    for t in times:  # every variable at each time read
        assert sum(items[k][0]["time"] == t for k in picked) == 3


def test_small_recipe_is_exact_and_matches_the_run(
    tmp_path: Path, http_server: SourceServer
) -> None:
    recipe = _served_recipe(tmp_path, http_server, days=12, steps=2)
    plan = estimate(load_recipe(recipe), PlanOptions(workers=2)).to_json()
    files = sorted(http_server.root.iterdir())
    assert plan["inputs"] == {
        "count": 6,
        "bytes": sum(f.stat().st_size for f in files),
        "estimated": False,
        "sizes_known": 6,
        "headers_read": 6,
        "head_requests": 0,
    }
    assert plan["schema"]["dims"] == {"time": 12, "lat": 18, "lon": 36}
    assert plan["schema"]["extrapolated"] is False
    assert "schema" not in plan["extrapolated"]
    zarr = plan["outputs"]["zarr"]
    assert zarr["chunks"] == {"time": 4, "lat": 18, "lon": 36}
    assert zarr["variables"]["sst"] == {
        "chunks": [4, 18, 36],
        "chunk_bytes": 4 * 18 * 36 * 4,
        "objects": 3,
        "bytes": 12 * 18 * 36 * 4,
    }
    # no data fetched: only ranged GETs of headers, no whole-file GET
    assert all(r.method != "GET" or r.range for r in http_server.requests)

    result = run_folder(recipe, tmp_path / "out")
    assert zarr["tasks"] == result.zarr.tasks
    ds = xr.open_zarr(result.zarr.url)
    for name, v in zarr["variables"].items():
        assert list(ds[name].encoding["chunks"]) == v["chunks"]
        assert ds[name].nbytes == v["bytes"] or ds[name].dtype.kind == "M"
    assert dict(ds.sizes) == plan["schema"]["dims"]


def test_large_recipe_reads_within_the_caps_and_marks_what_it_extrapolates(
    tmp_path: Path, http_server: SourceServer
) -> None:
    recipe = _served_recipe(tmp_path, http_server, days=2000)
    files = sorted(http_server.root.iterdir())
    plan = estimate(load_recipe(recipe), PlanOptions(workers=2)).to_json()

    gets = {r.path for r in http_server.requests if r.method == "GET"}
    heads = [r for r in http_server.requests if r.method == "HEAD"]
    assert len(gets) <= MAX_HEADERS
    assert len(heads) <= MAX_HEADS
    assert all(r.range for r in http_server.requests if r.method == "GET")
    assert {f"/{files[0].name}", f"/{files[-1].name}"} <= gets  # the ends are read

    inputs = plan["inputs"]
    assert inputs["count"] == 2000 and inputs["estimated"] is True
    assert inputs["headers_read"] == len(gets) and inputs["head_requests"] == len(heads)
    true_bytes = sum(f.stat().st_size for f in files)
    assert abs(inputs["bytes"] - true_bytes) <= 0.01 * true_bytes
    assert {"inputs.bytes", "schema", "estimates"} <= set(plan["extrapolated"])
    assert plan["schema"]["dims"] == {"time": 2000, "lat": 18, "lon": 36}
    assert plan["schema"]["extrapolated"] is True
    assert plan["schema"]["coords"]["time"]["last"].startswith("2025-06-22")
    assert plan["outputs"]["zarr"]["variables"]["sst"]["objects"] == 500
    assert plan["outputs"]["zarr"]["tasks"] == 500  # sst and anom written together, 4 days a task
    assert any("assumed" in a for a in plan["assumptions"])


def test_json_and_prices_from_the_command_line(tmp_path: Path, http_server: SourceServer) -> None:
    recipe = _served_recipe(tmp_path, http_server, days=8)
    done = forge("plan", str(recipe), "--json", "--workers", "2")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert set(plan) >= {"inputs", "schema", "outputs", "estimates", "extrapolated", "assumptions"}
    assert set(plan["inputs"]) >= {"count", "bytes", "estimated"}
    assert plan["estimates"]["cost"] is None
    e = plan["estimates"]
    assert e["bytes_read"] == plan["inputs"]["bytes"]
    # a copy writes its dataset (uncompressed: an upper bound) and the input cache
    assert e["bytes_written"] == plan["outputs"]["zarr"]["bytes"] + plan["inputs"]["bytes"]
    assert e["seconds"] > 0 and e["worker_hours"] > 0

    priced = forge(
        "plan", str(recipe), "--json", "--workers", "2",
        "--price-per-gb-egress", "90", "--price-per-worker-hour", "3600000",
    )  # fmt: skip
    cost = json.loads(priced.stdout)["estimates"]["cost"]
    assert cost["egress"] == round(e["bytes_read"] / 1e9 * 90, 4)
    assert cost["workers"] == pytest.approx(e["worker_hours"] * 3600000, rel=1e-3)
    assert cost["total"] == pytest.approx(cost["egress"] + cost["workers"], abs=1e-3)
    assert "storage_per_month" not in cost

    text = forge("plan", str(recipe), "--workers", "2")
    assert text.returncode == 0, text.stderr
    assert "8 inputs" in text.stdout and "Assumptions" in text.stdout


def test_prices_apply_only_where_given() -> None:
    from arcoforge.plan import costs
    from arcoforge.plan.costs import Work, estimate_costs

    work = Work(
        copy_bytes=10**9,
        copy_inputs=100,
        reference_inputs=0,
        input_bytes=2 * 10**9,
        header_bytes=0,
        dataset_bytes=10**9,
        cache_bytes=2 * 10**9,
    )
    free = estimate_costs(work, workers=2)
    assert free.cost is None and free.bytes_written == 3 * 10**9
    per_worker = 10**9 / costs.COPY_BYTES_PER_WORKER_S + 100 * costs.COPY_INPUT_WORKER_S
    assert free.seconds == pytest.approx(costs.COPY_STARTUP_S + per_worker / 2)
    assert free.worker_hours == pytest.approx(per_worker / 3600)
    priced = estimate_costs(work, workers=2, prices=Prices(storage_per_gb_month=0.02))
    assert priced.cost == {"storage_per_month": 0.02, "total": 0.02}
    slow = estimate_costs(work, workers=2, bandwidth=10**6)
    assert slow.network_bound and slow.seconds > 2000 > free.seconds


def test_a_missing_input_is_one_clear_error(tmp_path: Path, http_server: SourceServer) -> None:
    recipe = _served_recipe(tmp_path, http_server, days=4)
    (http_server.root / "sst.00003.nc").unlink()
    with pytest.raises(SourceNotFoundError, match=r"sst\.00003\.nc"):
        estimate(load_recipe(recipe))
    done = forge("plan", str(recipe), "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    error = json.loads(done.stdout)["error"]
    assert "sst.00003.nc" in error["message"]


def test_a_references_only_recipe_reads_headers_and_writes_no_copy(
    tmp_path: Path, http_server: SourceServer
) -> None:
    names = [p.name for p in daily_files(http_server.root, 40)]
    recipe = write_recipe(
        tmp_path / "refs",
        {
            "sources": {"urls": [f"{http_server.url}/{n}" for n in names], "concat_dim": "time"},
            "outputs": {"references": {"format": "parquet"}},
        },
    )
    plan = estimate(load_recipe(recipe), PlanOptions(max_headers=8)).to_json()
    assert "zarr" not in plan["outputs"]
    refs = plan["outputs"]["references"]
    assert refs["format"] == "parquet"
    assert {"schema", "outputs.references"} <= set(plan["extrapolated"])
    assert not plan["inputs"]["estimated"]  # 8 headers and 32 HEADs cover every size
    # files this small are read whole by their two 64 KiB edges
    assert plan["estimates"]["bytes_read"] == refs["header_bytes"] == plan["inputs"]["bytes"]
    assert plan["schema"]["dims"]["time"] == 40


def test_inputs_a_plan_cannot_read_by_range_are_named(
    tmp_path: Path, http_server: SourceServer
) -> None:
    from arcoforge.errors import PlanError

    files = write_files(make_sst(days=2, nlat=18, nlon=36), http_server.root, fmt="netcdf3")
    recipe = write_recipe(
        tmp_path / "nc3",
        {
            "sources": {
                "urls": [f"{http_server.url}/{f.path.name}" for f in files],
                "concat_dim": "time",
            },
            "outputs": {"zarr": {"chunks": {"time": 1}}},
        },
    )
    with pytest.raises(PlanError, match=rf"{files[0].path.name}: forge plan reads netCDF4"):
        estimate(load_recipe(recipe))


def test_help_and_bad_options(tmp_path: Path) -> None:
    helped = forge("plan", "--help")
    assert helped.returncode == 0 and "Example:" in helped.stdout
    bad = forge("plan", str(tmp_path), "--max-memory", "lots")
    assert bad.returncode == 1 and "--max-memory: expected a size such as 2GB" in bad.stderr
