"""A run resumed after its headers were all read is finished by the launcher, no pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import PipelineError
from arcoforge.pipeline import copy_stages, early
from arcoforge.pipeline.runners import RunnerName
from arcoforge.running import orchestrate
from arcoforge.running.options import RunOptions
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe

DAYS = 8


def _recipe(server: SourceServer, tmp_path: Path, **sources: Any) -> tuple[Path, list[str]]:
    """Daily files of one step, in chunks of 2 steps: 4 tasks (of 64 KiB: the chunk-size
    check reads the first input, and with its probe the run's workers are threads)."""
    ds = make_sst(days=DAYS, nlat=64, nlon=128, variables=("sst",))
    files = write_files(ds, server.root)
    spec = {
        "sources": {
            "urls": [f"{server.url}/{f.path.name}" for f in files],
            "concat_dim": "time",
            **sources,
        },
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    return write_recipe(tmp_path / "recipe", spec), [str(f.path) for f in files]


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the pipelines run (each call of orchestrate._execute)."""
    ran: list[int] = []
    execute = orchestrate._execute

    def counted(*args: Any) -> None:
        ran.append(1)
        execute(*args)

    monkeypatch.setattr(orchestrate, "_execute", counted)
    return ran


def _written(monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> list[str]:
    """The tasks written from now on (their keys); the ``fail_at``-th one fails."""
    keys: list[str] = []
    write_task = copy_stages.write_task

    def counted(ctx: Any, work: Any) -> int:
        keys.append(work.task.key)
        if fail_at is not None and len(keys) == fail_at:
            raise PipelineError(f"stopped in task {len(keys)}")
        return write_task(ctx, work)

    monkeypatch.setattr(copy_stages, "write_task", counted)
    return keys


def _run(recipe: Path, out: Path, **options: Any) -> Any:
    return run_folder(recipe, out, allow_small_chunks=False, **options)


def _equal(out: Path, paths: list[str]) -> bool:
    with xr.open_zarr(out) as copy, open_sources(paths, "time", engine="h5netcdf") as want:
        return not compare(copy, want)


def test_the_tasks_a_stopped_run_left_are_written_here(
    http_server: SourceServer,
    tmp_path: Path,
    pipelines: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe, paths = _recipe(http_server, tmp_path)  # no items_per_file: nothing early
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        first = _written(patched, fail_at=3)  # two tasks done, then the run stops
        with pytest.raises(PipelineError, match="stopped in task 3"):
            _run(recipe, out)
    assert len(pipelines) == 1
    with monkeypatch.context() as patched:
        again = _written(patched)
        result = _run(recipe, out, workers=2)
    assert len(pipelines) == 1  # the re-run started none
    assert len(again) == 2 and not set(again) & set(first[:2])  # only the tasks left
    assert not result.up_to_date and result.zarr is not None and result.zarr.tasks == 4
    assert _equal(out / "recipe.zarr", paths)
    assert not (out / ".forge" / "recipe").exists()  # the run's state went with the publish


def test_a_run_stopped_at_its_plan_finishes_from_its_early_chunks(
    http_server: SourceServer,
    tmp_path: Path,
    pipelines: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe, paths = _recipe(http_server, tmp_path, items_per_file=1)  # chunks written early
    out = tmp_path / "out"
    with monkeypatch.context() as patched:

        def stopped(*args: Any) -> Any:
            raise PipelineError("stopped at the plan")

        patched.setattr(copy_stages, "plan_writes", stopped)
        with pytest.raises(PipelineError, match="stopped at the plan"):
            _run(recipe, out)
    with monkeypatch.context() as patched:
        again = _written(patched)
        _run(recipe, out)
    assert len(pipelines) == 1 and again == []  # every task adopted, none written again
    assert _equal(out / "recipe.zarr", paths)


def test_a_task_that_fails_here_is_one_clear_error_and_the_next_run_finishes(
    http_server: SourceServer,
    tmp_path: Path,
    pipelines: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe, paths = _recipe(http_server, tmp_path)
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        _written(patched, fail_at=2)
        with pytest.raises(PipelineError, match="stopped in task 2"):
            _run(recipe, out)
    with monkeypatch.context() as patched:
        _written(patched, fail_at=1)  # the first task left fails, here
        with pytest.raises(PipelineError, match="stopped in task 1"):
            _run(recipe, out)
    with pytest.raises(FileNotFoundError):
        xr.open_zarr(out / "recipe.zarr")  # still nothing a reader opens
    _run(recipe, out)
    assert len(pipelines) == 1
    assert _equal(out / "recipe.zarr", paths)


@pytest.mark.parametrize(
    ("options", "threads", "here"),
    [
        (RunOptions(workers=3), True, 3),
        (RunOptions(workers=3), False, None),  # worker processes: the pipeline's tasks
        (RunOptions(runner=RunnerName.DASK, workers=3), True, None),
    ],
)
def test_tasks_are_written_here_only_for_the_direct_runners_threads(
    options: RunOptions, threads: bool, here: int | None
) -> None:
    assert orchestrate._threads_here(options, threads) == here


def test_a_run_stopped_with_a_batch_unread_reads_it_here(
    http_server: SourceServer,
    tmp_path: Path,
    pipelines: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from arcoforge.pipeline import batches

    recipe, paths = _recipe(http_server, tmp_path, items_per_file=1)
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        patched.setattr(batches, "RANGED_BATCH", 4)  # two batches of 4 inputs
        keep, kept = copy_stages.keep_headers, []

        def second_fails(ctx: Any, read: list[Any]) -> None:
            kept.append(len(read))
            if len(kept) == 2:
                raise PipelineError("stopped in the second batch")
            keep(ctx, read)

        patched.setattr(copy_stages, "keep_headers", second_fails)
        with pytest.raises(PipelineError, match="stopped in the second batch"):
            _run(recipe, out)
    http_server.requests.clear()
    with monkeypatch.context() as patched:
        write_early, early_tasks = early.write_early, []
        patched.setattr(early, "write_early", lambda *a: early_tasks.append(write_early(*a)))
        _run(recipe, out)
    assert len(pipelines) == 1  # the 4 headers left were read here
    assert early_tasks == [2]  # and their chunks written as they were parsed, as a worker would
    edges = {r.path for r in http_server.requests if (r.range or "").startswith("bytes=-")}
    assert len(edges) == 4 + 1  # those of the batch left, and the check of one kept
    names = [f"/{Path(p).name}" for p in paths]
    assert set(names[4:]) <= edges  # the batch left: read as a first run reads it
    heads = sorted(r.path for r in http_server.requests if r.method == "HEAD")
    assert heads == names[:4]  # the kept ones, asked whether they changed
    assert _equal(out / "recipe.zarr", paths)


def test_a_first_run_of_few_inputs_runs_the_pipeline(
    http_server: SourceServer, tmp_path: Path, pipelines: list[int]
) -> None:
    recipe, paths = _recipe(http_server, tmp_path, items_per_file=1)
    _run(recipe, tmp_path / "out")
    assert len(pipelines) == 1
    assert _equal(tmp_path / "out" / "recipe.zarr", paths)
