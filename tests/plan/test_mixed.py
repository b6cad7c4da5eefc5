"""Planning the native writes of a mixed Icechunk output: tasks within the budget."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from arcoforge.errors import PlanError, UnrepresentableError
from arcoforge.plan.mixed import NativeTask, plan_native, written_chunks
from arcoforge.plan.virtual import combine_mixed
from arcoforge.recipe.pattern import Index
from arcoforge.sources.virtual import open_virtual
from tests.archives import cmip_dataset, cmip_files

#: Monthly files of 24, 24 and 12 steps on a 60 x 80 grid, zlib chunks of 12 x 30 x 40,
#: the last file's 6 long: it is written, the others stay virtual.
CHUNKS = (12, 30, 40)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder = tmp_path_factory.mktemp("mixed")
    zlib = {"zlib": True, "complevel": 1}
    encodings = [{"tas": {**zlib, "chunksizes": (c, 30, 40)}} for c in (12, 12, 6)]
    paths = cmip_files(folder, (24, 24, 12), encodings=encodings, nlat=60, nlon=80)
    inputs = [open_virtual(Index((("time", i),)), p.as_uri()) for i, p in enumerate(paths)]
    return combine_mixed(inputs, concat_dims=("time",))


def _chunks(tasks: list[NativeTask]) -> list[tuple[int, ...]]:
    """Every chunk index the tasks write, with repeats."""
    out = []
    for task in tasks:
        ranges = [range(a // c, -(-b // c)) for (a, b), c in zip(task.region, CHUNKS, strict=True)]
        out.extend(itertools.product(*ranges))
    return out


def test_native_tasks_write_each_chunk_once(mixed: tuple) -> None:
    ds, native = mixed
    assert [(r.name, r.start, r.stop) for r in native] == [("tas", 48, 60)]
    tasks = plan_native(ds, native, 10**9)
    chunks = _chunks(tasks)
    assert len(chunks) == len(set(chunks)) == written_chunks(ds, native) == 4
    assert {c[0] for c in chunks} == {4}  # only the chunks of the written file
    # each task's pieces come from the written file's six-month chunks, decompressed
    assert all(p.region.url.endswith("185401-185412.nc") for t in tasks for p in t.pieces)
    assert native[0].compressed and native[0].source_chunk == 6 * 30 * 40 * 4


def test_native_tasks_fit_a_smaller_budget(mixed: tuple) -> None:
    ds, native = mixed
    whole = plan_native(ds, native, 10**9)
    assert len(whole) == 1  # one block holds the file's four chunks
    budget = whole[0].memory - 1
    tasks = plan_native(ds, native, budget)
    assert len(tasks) > 1 and all(t.memory <= budget for t in tasks)
    chunks = _chunks(tasks)
    assert sorted(chunks) == sorted(_chunks(whole)) and len(chunks) == len(set(chunks))
    # every piece lands inside its task's block, from inside the written file's steps
    for task in tasks:
        for piece in task.pieces:
            shape = [b - a for a, b in task.region]
            assert all(0 <= a < b <= n for (a, b), n in zip(piece.dest, shape, strict=True))
            assert piece.source[0][1] <= piece.region.stop - piece.region.start


def test_a_chunk_larger_than_the_budget_is_refused(mixed: tuple) -> None:
    ds, native = mixed
    with pytest.raises(PlanError, match=r"One chunk of 'tas' \(12 x 30 x 40 values\)"):
        plan_native(ds, native, 100_000)


def test_layouts_that_differ_along_two_concat_dims_are_refused(tmp_path: Path) -> None:
    """Native chunks are placed along one concat dim; along two, the refusal says so."""
    ds = cmip_dataset(months=24, nlat=4, nlon=4).drop_vars(["lat_bnds", "time_bnds"])
    zlib = {"zlib": True, "complevel": 1}
    inputs = []
    for i, j in itertools.product(range(2), range(2)):
        piece = ds.isel(time=slice(12 * i, 12 * (i + 1)), lat=slice(2 * j, 2 * (j + 1)))
        steps = 6 if (i, j) == (1, 1) else 12  # one file chunked otherwise
        path = tmp_path / f"tas_{i}_{j}.nc"
        piece.to_netcdf(
            path, engine="h5netcdf", encoding={"tas": {**zlib, "chunksizes": (steps, 2, 4)}}
        )
        inputs.append(open_virtual(Index((("time", i), ("lat", j))), path.as_uri()))
    with pytest.raises(UnrepresentableError) as refused:
        combine_mixed(inputs, concat_dims=("time", "lat"))
    message = str(refused.value)
    assert "tas_1_1.nc" in message and "[12, 2, 4]" in message and "[6, 2, 4]" in message
    assert "concatenates along 2 (time, lat)" in message
    assert "Use format: icechunk" not in message  # it is one already
