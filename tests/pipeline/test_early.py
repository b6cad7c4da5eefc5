"""Chunks written while headers still arrive: batches of whole chunks write them before the
plan, which adopts them where it agrees and writes everything afresh where it does not."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import IncompatibleInputsError, PipelineError
from arcoforge.pipeline import batches, copy_stages, early
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe

DAYS = 8


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many tasks were written early and by the plan; batches of 4 inputs at most."""
    counts = {"early": 0, "planned": 0}
    write_early, write_task = early.write_early, copy_stages.write_task

    def counted_early(*args: Any) -> int:
        n = write_early(*args)
        counts["early"] += n
        return n

    def counted_task(*args: Any) -> int:
        counts["planned"] += 1
        return write_task(*args)

    monkeypatch.setattr(early, "write_early", counted_early)
    monkeypatch.setattr(copy_stages, "write_task", counted_task)
    monkeypatch.setattr(batches, "RANGED_BATCH", 4)
    return counts


def _recipe(
    server: SourceServer,
    tmp_path: Path,
    chunk: int,
    scales: tuple[float, ...] = (),
    zarr_format: int = 3,
) -> tuple[Path, list[str]]:
    """Daily files of one step; with ``scales``, packed: the k-th 4 files by the k-th."""
    ds = make_sst(days=DAYS, nlat=30, nlon=60, variables=("sst",))
    files = []
    for k, scale in enumerate(scales or (None,)):
        part = ds.isel(time=slice(4 * k, None if not scales else 4 * k + 4))
        packed = {"sst": {**PACKED_INT16, "scale_factor": np.float32(scale)}} if scale else None
        files += write_files(part, server.root, encoding=packed)
    spec = {
        "sources": {
            "urls": [f"{server.url}/{f.path.name}" for f in files],
            "concat_dim": "time",
            "items_per_file": 1,
        },
        "outputs": {"zarr": {"chunks": {"time": chunk}, "zarr_format": zarr_format}},
    }
    return write_recipe(tmp_path / "recipe", spec), [str(f.path) for f in files]


def _stop_once(
    recipe: Path, output: Path, module: Any, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run ``recipe`` with ``module.name`` raising, as a run killed there would stop."""

    def fails(*args: Any) -> Any:
        raise PipelineError(f"stopped in {name}")

    with monkeypatch.context() as patched:
        patched.setattr(module, name, fails)
        with pytest.raises(PipelineError, match=f"stopped in {name}"):
            run_folder(recipe, output)


def _equal(out: Path, paths: list[str]) -> bool:
    with xr.open_zarr(out) as copy, open_sources(paths, "time", engine="h5netcdf") as want:
        return not compare(copy, want)


@pytest.mark.parametrize(("chunk", "zarr_format"), [(2, 3), (3, 3), (2, 2)])
def test_batches_write_their_chunks_before_the_plan(
    http_server: SourceServer,
    tmp_path: Path,
    counted: dict[str, int],
    chunk: int,
    zarr_format: int,
) -> None:
    """Batches of whole chunks (4 inputs for chunks of 2, 3 for chunks of 3, the last one
    short at the end of the dataset) write every task; the plan writes none again."""
    recipe, paths = _recipe(http_server, tmp_path, chunk, zarr_format=zarr_format)
    result = run_folder(recipe, tmp_path / "out")
    tasks = -(-DAYS // chunk)
    assert counted == {"early": tasks, "planned": 0}
    assert result.zarr is not None
    assert result.zarr.tasks == tasks and result.zarr.bytes_written == result.nbytes
    assert _equal(tmp_path / "out" / "recipe.zarr", paths)


def test_each_block_of_a_batch_is_read_while_the_one_before_is_written(
    http_server: SourceServer,
    tmp_path: Path,
    counted: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of 4 inputs, 2 tasks each: the first task's block is read while the
    arrays' documents are made, the second while the first is written."""
    readers: list[str] = []
    task_blocks = copy_stages.task_blocks

    def recorded(*args: Any) -> Any:
        for item in task_blocks(*args):
            readers.append(threading.current_thread().name)
            yield item

    monkeypatch.setattr(copy_stages, "task_blocks", recorded)
    recipe, paths = _recipe(http_server, tmp_path, 2)
    run_folder(recipe, tmp_path / "out")
    assert counted == {"early": DAYS // 2, "planned": 0}
    assert len(readers) == DAYS // 2
    assert all(name.startswith("arcoforge-ahead") for name in readers)
    assert _equal(tmp_path / "out" / "recipe.zarr", paths)


def test_a_batch_planned_otherwise_is_written_again(
    http_server: SourceServer, tmp_path: Path, counted: dict[str, int]
) -> None:
    """Each batch of 4 packs its values alike, but the two differ: alone, each plans to
    copy the packed integers; the whole dataset is decoded, then packed once. No task
    written early matches the plan, so the target is written afresh."""
    recipe, paths = _recipe(http_server, tmp_path, 2, scales=(0.01, 0.02))
    run_folder(recipe, tmp_path / "out")
    assert counted == {"early": 4, "planned": 4}
    assert _equal(tmp_path / "out" / "recipe.zarr", paths)


def test_a_run_stopped_at_its_plan_keeps_the_chunks_it_wrote_early(
    http_server: SourceServer,
    tmp_path: Path,
    counted: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recipe, paths = _recipe(http_server, tmp_path, 2)
    out = tmp_path / "out" / "recipe.zarr"
    _stop_once(recipe, out.parent, copy_stages, "plan_writes", monkeypatch)
    with pytest.raises(FileNotFoundError):
        xr.open_zarr(out)  # nothing a reader opens before the plan was made and published
    run_folder(recipe, out.parent)
    assert counted == {"early": 4, "planned": 0}  # the re-run read kept headers: none early
    assert _equal(out, paths)


def test_a_published_dataset_is_never_written_early(
    http_server: SourceServer, tmp_path: Path, counted: dict[str, int]
) -> None:
    """Its readers see its chunks until the new one is published: --overwrite writes them
    only after the plan."""
    recipe, paths = _recipe(http_server, tmp_path, 2)
    run_folder(recipe, tmp_path / "out")
    counted.update(early=0, planned=0)
    run_folder(recipe, tmp_path / "out", overwrite=True)
    assert counted == {"early": 0, "planned": 4}
    assert _equal(tmp_path / "out" / "recipe.zarr", paths)


def test_a_dataset_refused_whole_leaves_no_chunks(
    http_server: SourceServer, tmp_path: Path, counted: dict[str, int]
) -> None:
    """The first batch writes its chunks before the last input shows another grid: the
    run is refused, naming it, and the chunks written early are removed."""
    recipe, _ = _recipe(http_server, tmp_path, 2)
    last = sorted(http_server.root.glob("*.nc"))[-1]
    other = make_sst(days=1, nlat=20, nlon=60, variables=("sst",), start=_day(last))
    last.unlink()
    other.to_netcdf(last, engine="h5netcdf")
    with pytest.raises(IncompatibleInputsError, match=last.name):
        run_folder(recipe, tmp_path / "out")
    assert counted["early"] >= 1
    assert not (tmp_path / "out" / "recipe.zarr").exists()


def _day(path: Path) -> str:
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return str(ds.time.values[0])[:10]


def test_a_run_stopped_in_its_first_early_write_is_run_again(
    http_server: SourceServer,
    tmp_path: Path,
    counted: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopped after a batch wrote chunks but before it recorded any task: the unfinished
    target is still the recipe's own, and the re-run writes it afresh."""
    recipe, paths = _recipe(http_server, tmp_path, 2)
    out = tmp_path / "out" / "recipe.zarr"
    _stop_once(recipe, out.parent, early, "signature", monkeypatch)
    assert out.exists()  # chunks, and nothing a reader opens
    with pytest.raises(FileNotFoundError):
        xr.open_zarr(out)
    run_folder(recipe, tmp_path / "out")
    assert _equal(tmp_path / "out" / "recipe.zarr", paths)


def test_batches_write_early_to_object_storage(
    http_server: SourceServer, tmp_path: Path, counted: dict[str, int], s3_bucket: str
) -> None:
    from arcoforge.recipe import load_recipe
    from arcoforge.run import RunOptions, run_recipe

    recipe, paths = _recipe(http_server, tmp_path, 2)
    output = f"s3://{s3_bucket}/arco"
    options = RunOptions(output=output, workers=1, allow_small_chunks=True)
    run_recipe(load_recipe(recipe), options)
    assert counted == {"early": 4, "planned": 0}
    copy = xr.open_zarr(f"{output}/recipe.zarr")
    with copy, open_sources(paths, "time", engine="h5netcdf") as want:
        assert not compare(copy, want)


def test_threads_asking_for_the_same_documents_at_once_make_them_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The head start's threads reach their first writes together: the second waits for
    the documents the first is making rather than making them again."""
    from types import SimpleNamespace

    from arcoforge.targets import zarr as zarr_target

    made: list[str] = []

    def slow(plan: Any) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        made.append(threading.current_thread().name)
        time.sleep(0.2)
        return {}, {}

    monkeypatch.setattr(zarr_target, "array_documents", slow)
    monkeypatch.setattr(early, "_DOCUMENTS", {})
    output = SimpleNamespace(model_dump=lambda mode: {"zarr_format": 3}, zarr_format=3)
    plan = SimpleNamespace(output=output, schema=SimpleNamespace(variables={}), chunks={})
    threads = [threading.Thread(target=early._documents, args=(plan, {})) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
