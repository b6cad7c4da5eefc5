"""Runs that fail, are killed, are repeated or meet other data: nothing is lost or half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import RecipeError, SourceNotFoundError, TargetExistsError
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe

# Blocks or fails once `done` tasks are marked, when the test sets ARCOFORGE_TEST_GATE.
GATED = """
import os, time
from pathlib import Path

def preprocess(ds, index):
    gate = os.environ.get("ARCOFORGE_TEST_GATE")
    if gate:
        action, folder, after = gate.split(":")
        done = Path(folder)
        if done.is_dir() and len(list(done.iterdir())) >= int(after):
            if action == "fail":
                raise RuntimeError("simulated failure")
            time.sleep(3600)
    return ds
"""


@pytest.fixture
def archive(tmp_path: Path) -> list[Path]:
    files = write_files(make_sst(days=12), tmp_path / "src", encoding={"sst": PACKED_INT16})
    return [f.path for f in files]


def _recipe(tmp_path: Path, files: list[Path], chunks: int = 3, py: str | None = None) -> Path:
    return write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [p.as_uri() for p in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": chunks}}},
        },
        recipe_py=py,
    )


def _published(url: str) -> bool:
    try:
        xr.open_zarr(url).close()
        return True
    except (FileNotFoundError, KeyError, ValueError):
        return False


def test_second_run_is_up_to_date(tmp_path: Path, archive: list[Path]) -> None:
    recipe = _recipe(tmp_path, archive)
    first = run_folder(recipe, tmp_path / "out")
    chunk = Path(first.zarr.url) / "sst" / "c" / "0" / "0" / "0"
    stamp = chunk.stat().st_mtime_ns
    again = run_folder(recipe, tmp_path / "out")
    assert again.up_to_date and again.zarr.url == first.zarr.url
    assert chunk.stat().st_mtime_ns == stamp  # nothing rewritten
    assert not (tmp_path / "out" / ".forge" / "recipe").exists()  # run state cleaned up


def test_a_different_dataset_is_not_replaced(tmp_path: Path, archive: list[Path]) -> None:
    first = run_folder(_recipe(tmp_path, archive), tmp_path / "out")
    before = xr.open_zarr(first.zarr.url).load()
    with pytest.raises(TargetExistsError, match=r"already holds a dataset.*--overwrite"):
        run_folder(_recipe(tmp_path, archive, chunks=4), tmp_path / "out")
    xr.testing.assert_identical(xr.open_zarr(first.zarr.url).load(), before)
    replaced = run_folder(_recipe(tmp_path, archive, chunks=4), tmp_path / "out", overwrite=True)
    assert xr.open_zarr(replaced.zarr.url).sst.encoding["chunks"] == (4, 36, 72)


def test_a_foreign_folder_is_left_alone(tmp_path: Path, archive: list[Path]) -> None:
    store = tmp_path / "out" / "recipe.zarr"
    store.mkdir(parents=True)
    (store / "notes.txt").write_text("mine")
    with pytest.raises(TargetExistsError, match="neither a finished dataset nor an unfinished"):
        run_folder(_recipe(tmp_path, archive), tmp_path / "out")
    assert (store / "notes.txt").read_text() == "mine"


def test_failed_fetch_names_the_url_and_writes_nothing(
    http_server: SourceServer, tmp_path: Path
) -> None:
    files = write_files(make_sst(days=4), http_server.root)
    http_server.faults.status[files[2].path.name] = 404
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {
                "urls": [f"{http_server.url}/{f.path.name}" for f in files],
                "concat_dim": "time",
            },
            "outputs": {"zarr": {}},
        },
    )
    with pytest.raises(SourceNotFoundError, match=files[2].path.name):
        run_folder(recipe, tmp_path / "out")  # read by byte range
    assert not (tmp_path / "out" / "recipe.zarr").exists()
    cache = str(tmp_path / "cache")
    with pytest.raises(SourceNotFoundError, match=files[2].path.name):
        run_folder(recipe, tmp_path / "out", cache=cache)
    assert not (tmp_path / "out" / "recipe.zarr").exists()
    del http_server.faults.status[files[2].path.name]
    result = run_folder(recipe, tmp_path / "out", cache=cache)  # it keeps what was fetched
    bodies = [a.path for a in http_server.answers if a.method == "GET" and a.status == 200]
    assert bodies.count("/" + files[0].path.name) == 1  # then only confirmed unchanged (304)
    assert result.inputs == 4


def test_failure_while_writing_then_run_again(
    tmp_path: Path, archive: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = _recipe(tmp_path, archive, py=GATED)
    done = tmp_path / "out" / ".forge" / "recipe" / "done"
    monkeypatch.setenv("ARCOFORGE_TEST_GATE", f"fail:{done}:1")
    with pytest.raises(RecipeError, match=r"preprocess failed on file://.*simulated failure"):
        run_folder(recipe, tmp_path / "out")
    assert not _published(str(tmp_path / "out" / "recipe.zarr"))
    assert len(list(done.iterdir())) >= 1
    monkeypatch.delenv("ARCOFORGE_TEST_GATE")
    result = run_folder(recipe, tmp_path / "out")
    assert result.zarr.skipped >= 1 and result.zarr.tasks == 4
    assert (
        compare(xr.open_zarr(result.zarr.url), open_sources(list(map(str, archive)), "time")) == []
    )


def test_killed_run_leaves_no_dataset_and_resumes(
    tmp_path: Path, archive: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = _recipe(tmp_path, archive, py=GATED)
    out = tmp_path / "out"
    done = out / ".forge" / "recipe" / "done"
    env = {**os.environ, "ARCOFORGE_TEST_GATE": f"hang:{done}:2"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arcoforge.cli",
            "run",
            str(recipe),
            "-o",
            str(out),
            "--workers",
            "2",
            "--allow-small-chunks",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (done.is_dir() and len(list(done.iterdir())) >= 2):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run did not reach its second task"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # With two workers, a third task may pass the gate before the second is done.
    finished = len(list(done.iterdir()))
    assert 2 <= finished < 4
    assert (out / "recipe.zarr").is_dir() and not _published(str(out / "recipe.zarr"))
    assert len(list((out / ".forge" / "recipe" / "headers").iterdir())) == len(archive)

    def unread(*args: object, **kwargs: object) -> None:
        raise AssertionError("a resumed run read a header again")

    # in this process (one worker): the headers the killed run read are not read again
    monkeypatch.setattr("arcoforge.pipeline.copy_stages.read_header", unread)
    result = run_folder(recipe, out)
    assert result.zarr.skipped == finished and result.zarr.tasks == 4
    assert (
        compare(xr.open_zarr(result.zarr.url), open_sources(list(map(str, archive)), "time")) == []
    )


def test_unfinished_run_of_another_recipe_is_discarded(
    tmp_path: Path, archive: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = tmp_path / "out" / ".forge" / "recipe" / "done"
    monkeypatch.setenv("ARCOFORGE_TEST_GATE", f"fail:{done}:1")
    with pytest.raises(RecipeError):
        run_folder(_recipe(tmp_path, archive, py=GATED), tmp_path / "out")
    monkeypatch.delenv("ARCOFORGE_TEST_GATE")
    (tmp_path / "recipe" / "recipe.py").unlink()
    result = run_folder(_recipe(tmp_path, archive, chunks=6), tmp_path / "out")
    assert result.zarr.skipped == 0 and result.zarr.tasks == 2
    assert (
        compare(xr.open_zarr(result.zarr.url), open_sources(list(map(str, archive)), "time")) == []
    )


@pytest.mark.parametrize("runner", ["direct", "dask"])
def test_multi_process_runners(tmp_path: Path, archive: list[Path], runner: str) -> None:
    result = run_folder(_recipe(tmp_path, archive), tmp_path / "out", workers=2, runner=runner)
    assert (
        compare(xr.open_zarr(result.zarr.url), open_sources(list(map(str, archive)), "time")) == []
    )
    assert result.zarr.tasks == 4


def test_output_and_cache_on_s3(s3_bucket: str, http_server: SourceServer, tmp_path: Path) -> None:
    files = write_files(make_sst(days=4), http_server.root, steps=2)
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {
                "urls": [f"{http_server.url}/{f.path.name}" for f in files],
                "concat_dim": "time",
            },
            "outputs": {"zarr": {"chunks": {"time": 2}}},
        },
    )
    # inputs are read by range unless a cache is asked for: here one on S3
    result = run_folder(
        recipe, f"s3://{s3_bucket}/arco", cache=f"s3://{s3_bucket}/arco/.forge/cache"
    )
    assert result.zarr.url == f"s3://{s3_bucket}/arco/recipe.zarr"
    sources = open_sources([str(f.path) for f in files], "time", engine="h5netcdf")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []
    import fsspec

    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    assert len(fs.ls(f"{s3_bucket}/arco/.forge/cache")) == 4  # two inputs, each with a sidecar
    assert not fs.exists(f"{s3_bucket}/arco/.forge/recipe")


def test_dask_runner_on_a_running_scheduler(tmp_path: Path, archive: list[Path]) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        result = run_folder(
            _recipe(tmp_path, archive),
            tmp_path / "out",
            runner="dask",
            scheduler=cluster.scheduler_address,
            workers=2,
        )
        ran = dict(cluster.scheduler.task_prefixes)
    assert ran, "the run did not use the scheduler it was given"
    assert (
        compare(xr.open_zarr(result.zarr.url), open_sources(list(map(str, archive)), "time")) == []
    )


def test_worker_processes_by_default() -> None:
    """One per core, except a DirectRunner run that only writes references: in-process."""
    from arcoforge.pipeline.runners import RunnerName, default_workers
    from arcoforge.run import RunOptions, workers_for

    assert workers_for(RunOptions(), references_only=True) == 1
    assert workers_for(RunOptions(), references_only=False) == default_workers()
    dask = RunOptions(runner=RunnerName.DASK)
    assert workers_for(dask, references_only=True) == default_workers()
    assert workers_for(RunOptions(workers=3), references_only=True) == 3


def test_ctrl_c_while_reading_headers_in_process_is_an_interruption(
    tmp_path: Path, archive: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beam re-raises it as a RuntimeError in-process; the CLI must still see Ctrl-C."""
    from arcoforge.pipeline import virtual_stages

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(virtual_stages, "read_virtual", interrupted)
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [p.as_uri() for p in archive], "concat_dim": "time"},
            "outputs": {"references": {"format": "json"}},
        },
    )
    with pytest.raises(KeyboardInterrupt):
        run_folder(recipe, tmp_path / "out")
    assert not (tmp_path / "out" / "recipe.json").exists()


def test_a_lost_edge_fetching_process_is_one_clear_error(
    tmp_path: Path, archive: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from arcoforge.errors import PipelineError
    from arcoforge.sources.fastheaders import prefetch

    broken = "import sys; sys.stderr.write('simulated crash\\n'); sys.exit(3)"
    monkeypatch.setattr(prefetch, "COMMAND", (sys.executable, "-c", broken))
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [p.as_uri() for p in archive], "concat_dim": "time"},
            "outputs": {"references": {"format": "json"}},
        },
    )
    message = r"^the process fetching the inputs' headers stopped \(exit status 3: simulated crash"
    with pytest.raises(PipelineError, match=message):
        run_folder(recipe, tmp_path / "out")
    assert not (tmp_path / "out" / "recipe.json").exists()
