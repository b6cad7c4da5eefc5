"""A copy's first batches are read while its pipeline starts, each batch once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import InputFormatError
from arcoforge.pipeline import batches, copy_stages, transforms
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.headstart import HeadStart, head_start
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe

DAYS = 8


def _recipe(server: SourceServer, tmp_path: Path) -> tuple[Path, list[str]]:
    """Daily files in chunks of 2 steps, written early; the chunk-size check probes the
    first input, so the run's workers are threads (and it has a head start)."""
    files = write_files(make_sst(days=DAYS, nlat=64, nlon=128, variables=("sst",)), server.root)
    spec = {
        "sources": {
            "urls": [f"{server.url}/{f.path.name}" for f in files],
            "concat_dim": "time",
            "items_per_file": 1,
        },
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    return write_recipe(tmp_path / "recipe", spec), [str(f.path) for f in files]


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, ...]]]:
    """Batches of 2 inputs (4 a run), a pipeline that starts 0.5 s late, and each batch
    read: the thread that read it and its URLs."""
    monkeypatch.setattr(batches, "RANGED_BATCH", 2)
    build = transforms.build

    def late(*args: Any) -> None:
        time.sleep(0.5)  # the head start reads meanwhile
        build(*args)

    monkeypatch.setattr(transforms, "build", late)
    read: list[tuple[str, tuple[str, ...]]] = []
    fetch_batch = copy_stages.fetch_batch

    def counted(ctx: RunContext, batch: list[Any]) -> Any:
        read.append((threading.current_thread().name, tuple(url for _, url in batch)))
        return fetch_batch(ctx, batch)

    monkeypatch.setattr(copy_stages, "fetch_batch", counted)
    return read


def _context() -> RunContext:
    return RunContext("r", "f", "t", "s", "c", None, ("time",), run_id="head")


def _head_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("arcoforge-head")]


def test_batches_read_before_the_pipeline_started_are_not_read_again(
    http_server: SourceServer, tmp_path: Path, fetched: list[tuple[str, tuple[str, ...]]]
) -> None:
    recipe, paths = _recipe(http_server, tmp_path)
    result = run_folder(recipe, tmp_path / "out", allow_small_chunks=False, workers=2)
    assert result.zarr is not None and result.zarr.tasks == DAYS // 2
    urls = [batch for _, batch in fetched]
    assert len(urls) == len(set(urls)) == DAYS // 2  # every batch read, once
    assert any(name.startswith("arcoforge-head") for name, _ in fetched)
    assert not _head_threads()  # gone with the run
    with (
        xr.open_zarr(tmp_path / "out" / "recipe.zarr") as copy,
        open_sources(paths, "time", engine="h5netcdf") as want,
    ):
        assert not compare(copy, want)


def test_a_batch_that_fails_in_the_head_start_is_the_runs_error(
    http_server: SourceServer, tmp_path: Path, fetched: list[tuple[str, tuple[str, ...]]]
) -> None:
    recipe, paths = _recipe(http_server, tmp_path)
    out = tmp_path / "out"
    broken = Path(paths[4])  # the third batch's first input
    kept = broken.read_bytes()
    broken.write_bytes(b"not a NetCDF file".ljust(len(kept), b"."))
    with pytest.raises(InputFormatError, match=broken.name):
        run_folder(recipe, out, allow_small_chunks=False, workers=2)
    assert any(
        name.startswith("arcoforge-head") and broken.name in batch[0] for name, batch in fetched
    )
    assert not _head_threads()
    assert not (out / "recipe.zarr" / "zarr.json").exists()  # nothing opens
    broken.write_bytes(kept)
    run_folder(recipe, out, allow_small_chunks=False, workers=2)  # the next run finishes
    with (
        xr.open_zarr(out / "recipe.zarr") as copy,
        open_sources(paths, "time", engine="h5netcdf") as want,
    ):
        assert not compare(copy, want)


def test_a_batch_being_read_is_waited_for_and_none_starts_after_a_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    started: list[str] = []

    def slow(ctx: Any, batch: list[Any]) -> list[Any]:
        started.append(batch[0][1])
        release.wait(10)
        return [(index, f"read {url}") for index, url in batch]

    monkeypatch.setattr(copy_stages, "fetch_batch", slow)
    runs = [[((k,), f"u{k}")] for k in range(4)]
    head = HeadStart(_context(), runs, threads=2)
    head.start()
    while len(started) < 2:
        time.sleep(0.01)
    future = head.take(runs[0])  # being read: its result, once there
    assert future is not None and not future.done()
    assert head.take(runs[3]) is None  # not started: the caller's to read
    release.set()
    assert future.result(timeout=10) == [((0,), "read u0")]
    head.close()
    assert head.started == 2 and started == ["u0", "u1"]  # none started after a take


def test_no_head_start_where_the_workers_are_not_threads_of_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(HeadStart, "start", lambda self: pytest.fail("a head start"))
    with head_start(_context(), [((0,), "u0")], None):  # worker processes, or another runner
        pass


#: Runs a recipe in a new interpreter and prints the threads that imported dask.array.
_WHO_IMPORTS_DASK_ARRAY = """
import sys, threading
names = []
class Finder:
    def find_spec(self, name, path=None, target=None):
        if name == "dask.array":
            names.append(threading.current_thread().name)
sys.meta_path.insert(0, Finder())
from arcoforge.exiting import exit_now
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, run_recipe
run_recipe(load_recipe(sys.argv[1]), RunOptions(output=sys.argv[2], workers=2))
print(names)
exit_now(0)
"""


def test_a_copy_on_threads_never_imports_dask_array(
    http_server: SourceServer, tmp_path: Path
) -> None:
    """Not in a head-start thread, where it held the lock every thread's headers wait
    for, nor on the launcher's thread while Beam imports (:mod:`~arcoforge.pipeline.lazy_dask`)."""
    recipe, paths = _recipe(http_server, tmp_path)
    args = [str(recipe), str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-c", _WHO_IMPORTS_DASK_ARRAY, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    with (
        xr.open_zarr(tmp_path / "out" / "recipe.zarr") as copy,
        open_sources(paths, "time", engine="h5netcdf") as want,
    ):
        assert not compare(copy, want)


def test_the_edge_prefetcher_warmed_at_the_start_is_the_one_the_run_uses(
    http_server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started while the launcher imports and plans, with the settings the fetch stage
    asks for: not replaced by another one when the first batch comes."""
    from arcoforge.sources.fastheaders import prefetch

    made: list[prefetch.EdgePrefetcher] = []
    init = prefetch.EdgePrefetcher.__init__

    def recorded(self: prefetch.EdgePrefetcher, *args: Any) -> None:
        made.append(self)
        init(self, *args)

    feeds = prefetch.SharedPrefetcher()  # none of this process's earlier runs
    monkeypatch.setattr(prefetch.EdgePrefetcher, "__init__", recorded)
    monkeypatch.setattr(prefetch, "FEEDS", feeds)
    monkeypatch.setattr(copy_stages, "FEEDS", feeds)
    recipe, _ = _recipe(http_server, tmp_path)
    try:
        run_folder(recipe, tmp_path / "out", allow_small_chunks=False, workers=2)
    finally:
        for feed in made:
            feed.close()
    assert len(made) == 1
