"""Beyond one machine: a recipe on a dask.distributed cluster, inputs cached and outputs on S3."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import xarray as xr

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.demo.server import SourceServer
from tests.helpers import run_folder, write_recipe

DASK = str(Path(sys.executable).parent / "dask")
#: two worker processes of one thread each
WORKERS = ("--nworkers", "2", "--nthreads", "1", "--memory-limit", "2GB")


def forge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arcoforge.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """A scheduler and two worker processes, each a process of its own as on a real cluster."""
    from distributed import Client

    info = tmp_path / "scheduler.json"
    logs = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115 (closed below)
    local = ("--host", "127.0.0.1", "--no-dashboard")  # nothing listens beyond this machine
    scheduler = subprocess.Popen(
        [DASK, "scheduler", *local, "--port", "0", "--scheduler-file", str(info)],
        stdout=logs,
        stderr=logs,
    )
    workers = None
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = subprocess.Popen(
            [DASK, "worker", *local, "--scheduler-file", str(info), *WORKERS],
            stdout=logs,
            stderr=logs,
        )
        address = json.loads(info.read_text())["address"]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        logs.close()


def test_the_same_recipe_on_a_dask_cluster_equals_the_direct_runner(
    tmp_path: Path, http_server: SourceServer, s3_bucket: str, cluster: str
) -> None:
    files = write_files(
        make_sst(days=12, nlat=18, nlon=36),
        http_server.root,
        steps=[3, 4, 5],
        name="sst.{i:02d}.nc",
        encoding={"sst": PACKED_INT16},
    )
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {
                "urls": [f"{http_server.url}/{f.path.name}" for f in files],
                "concat_dim": "time",
            },
            "outputs": {"zarr": {"chunks": {"time": 4}}},
        },
    )
    direct = run_folder(recipe, tmp_path / "direct")

    root = f"s3://{s3_bucket}/arco"
    done = forge(
        "run", str(recipe), "--runner", "dask", "--scheduler", cluster, "--workers", "2",
        "-o", root, "--cache", f"s3://{s3_bucket}/cache", "--json", "--allow-small-chunks",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outputs"][0]["url"] == f"{root}/recipe.zarr"

    from distributed import Client

    with Client(cluster, timeout=30) as client:
        ran = client.run_on_scheduler(lambda dask_scheduler: dict(dask_scheduler.task_prefixes))
    assert ran, "the run did not use the cluster it was given"

    on_s3 = xr.open_zarr(f"{root}/recipe.zarr").load()
    local = xr.open_zarr(direct.zarr.url).load()
    assert on_s3.attrs.pop("arcoforge_created") >= local.attrs.pop("arcoforge_created")
    xr.testing.assert_identical(on_s3, local)  # values, coordinates, encodings' effects, attrs

    import fsspec

    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    cached = fs.ls(f"{s3_bucket}/cache")
    assert len(cached) == 2 * len(files)  # each input and its sidecar
    assert all(any(c.endswith(f.path.name) for c in cached) for f in files)
