"""Tasks a worker runs at once: as many as its memory holds of the largest, never more."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.pipeline import copy_stages
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.slots import TaskSlots, task_limit, worker_memory
from arcoforge.pipeline.transforms import _Write
from arcoforge.plan.copy_plan import make_plan
from arcoforge.recipe.spec import ZarrOutput
from arcoforge.verify import compare, open_sources
from tests.plan.test_schema import headers

GB = 10**9


def test_the_limit_is_the_workers_memory_over_the_largest_task() -> None:
    assert task_limit(8 * GB, 2 * GB) == 4
    assert task_limit(8 * GB, 3 * GB) == 2
    assert task_limit(1 * GB, 3 * GB) == 1  # one task always runs, however large
    assert task_limit(0, 3 * GB) == 1
    assert task_limit(8 * GB, 0) == 1


def test_outside_a_dask_worker_memory_is_the_share_given() -> None:
    assert worker_memory(3 * GB) == 3 * GB
    assert worker_memory(0) > 0  # the machine's


class _Recorder:
    """Counts the tasks inside their slot; each waits (bounded) for a companion to overlap."""

    def __init__(self, wait_for: int):
        self.cond = threading.Condition()
        self.active = self.most = 0
        self.wait_for = wait_for
        self.largest: set[int] = set()

    def enter(self, largest: int) -> None:
        with self.cond:
            self.active += 1
            self.most = max(self.most, self.active)
            self.largest.add(largest)
            self.cond.notify_all()
            # not a timing assertion: overlap is made likely, then only counted
            self.cond.wait_for(lambda: self.active >= self.wait_for, timeout=2)

    def leave(self) -> None:
        with self.cond:
            self.active -= 1


def test_threads_of_one_process_wait_at_the_limit() -> None:
    slots, recorder = TaskSlots(), _Recorder(wait_for=5)

    def task() -> None:
        with slots.hold(2):
            recorder.enter(0)
            recorder.leave()

    threads = [threading.Thread(target=task) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert recorder.most == slots.most == 2
    assert slots.active == 0


def test_a_task_that_does_not_wait_runs_only_if_there_is_room() -> None:
    slots = TaskSlots()
    assert slots.acquire(2, wait=False) and slots.acquire(2, wait=False)
    assert not slots.acquire(2, wait=False)  # not counted
    assert slots.active == slots.most == 2
    slots.release()
    assert slots.acquire(2, wait=False)
    slots.release()
    slots.release()
    assert slots.active == 0


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    """Records how many tasks write at once, in this process (an in-process Dask cluster)."""
    recorder = _Recorder(wait_for=4)
    write = copy_stages.write_task

    def recording(ctx: Any, work: Any) -> int:
        recorder.enter(work.largest)
        try:
            return write(ctx, work)
        finally:
            recorder.leave()

    monkeypatch.setattr(copy_stages, "write_task", recording)
    return recorder


def _plan(tmp_path: Path) -> tuple[RunContext, list[Any], list[Path]]:
    """A planned copy of 8 daily files, one task per day, its target prepared."""
    files = [f.path for f in write_files(make_sst(days=8), tmp_path / "src")]
    output = ZarrOutput(chunks={"time": 1})
    plan = make_plan(headers(files), output=output, budget=10**9, fingerprint="slots")
    ctx = RunContext(
        recipe_id="slots",
        fingerprint="slots",
        target_url=str(tmp_path / "out.zarr"),
        state_url=str(tmp_path / "state"),
        cache_url=str(tmp_path / "cache"),
        output=output,
        concat_dims=("time",),
    )
    ctx.state().write_json("root.json", ctx.target().prepare(plan))
    return ctx, [plan.work(t) for t in plan.tasks], files


def _on_dask_worker(ctx: RunContext, works: list[Any], memory_limit: int) -> None:
    """Run the writing DoFn on each task, as Dask tasks of one worker with four threads."""
    import dask
    from distributed import Client, LocalCluster

    write = _Write(ctx)
    # the test process is far larger than the limit: Dask must not pause its worker for it
    never = {f"distributed.worker.memory.{k}": False for k in ("target", "spill", "pause")}
    with (
        dask.config.set({**never, "distributed.worker.memory.terminate": False}),
        LocalCluster(
            n_workers=1,
            threads_per_worker=4,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            memory_limit=memory_limit,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        futures = client.map(lambda w: list(write.process(w)), works, pure=False)
        client.gather(futures)


def test_a_dask_worker_with_four_threads_runs_what_its_memory_holds(
    tmp_path: Path, recorded: _Recorder
) -> None:
    ctx, works, files = _plan(tmp_path)
    largest = works[0].largest
    assert largest == max(w.task.memory for w in works) > 0
    _on_dask_worker(ctx, works, memory_limit=100 * largest)
    assert recorded.most == 4  # memory for all: as many as the worker has threads

    recorded.most = 0
    _on_dask_worker(ctx, works, memory_limit=int(2.5 * largest))
    assert recorded.most == 2
    assert ctx.state().marks("done") == {w.task.key for w in works}
    ctx.target().write_root(ctx.state().read_json("root.json"), {}, 3)
    sources = open_sources(list(map(str, files)), "time")
    assert compare(xr.open_zarr(ctx.target_url), sources) == []
