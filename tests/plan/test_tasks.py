"""Cutting the writing into tasks: every chunk written exactly once, within the budget."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arcoforge.errors import PlanError
from arcoforge.plan.memory import Block, input_bytes, task_memory
from arcoforge.plan.tasks import InputBox, Task, VarFootprint, cut_tasks


def _layout(name, dims, shape, chunks, *, group=(0,), raw=True, itemsize=4) -> VarFootprint:
    return VarFootprint(name, dims, shape, chunks, group, itemsize, itemsize, raw)


def _boxes(lengths: list[int], group=(0,)) -> list[InputBox]:
    starts = [0, *itertools.accumulate(lengths)]
    return [InputBox(group, ((a, b),)) for a, b in itertools.pairwise(starts)]


def _chunk_ids(var: VarFootprint, region) -> set[tuple[int, ...]]:
    """The chunks a region covers; asserts it covers them whole."""
    ranges = []
    for (a, b), c, n in zip(region, var.chunks, var.shape, strict=True):
        assert a % c == 0, "a task must start on a chunk boundary"
        assert b == n or b % c == 0, "a task must end on a chunk boundary or the array's end"
        ranges.append(range(a // c, math.ceil(b / c)))
    return set(itertools.product(*ranges))


def _check_plan(
    variables: list[VarFootprint], boxes: list[InputBox], tasks: list[Task], budget: int
) -> None:
    written: dict[str, list[tuple[int, ...]]] = {v.name: [] for v in variables}
    by_name = {v.name: v for v in variables}
    for task in tasks:
        assert task.memory <= budget
        for name in task.variables:
            written[name].extend(_chunk_ids(by_name[name], task.region))
        # the pieces tile the block exactly, from inputs of the right group
        ref = by_name[task.variables[0]]
        covered = 0
        for piece in task.pieces:
            assert boxes[piece.input].group == ref.group
            sizes = [b - a for a, b in piece.dest]
            assert sizes == [b - a for a, b in piece.source]
            covered += math.prod(sizes)
        assert covered == math.prod(b - a for a, b in task.region)
    for v in variables:
        every = set(
            itertools.product(
                *(range(math.ceil(n / c)) for n, c in zip(v.shape, v.chunks, strict=True))
            )
        )
        assert sorted(written[v.name]) == sorted(every), f"{v.name}: each chunk exactly once"


def test_one_task_per_time_chunk_across_file_boundaries() -> None:
    sst = _layout("sst", ("time", "lat", "lon"), (10, 4, 8), (4, 4, 8))
    tasks = cut_tasks([sst], _boxes([3, 3, 4]), ("time",), budget=10**9)
    assert [t.region[0] for t in tasks] == [(0, 4), (4, 8), (8, 10)]
    first = tasks[0]
    assert [(p.input, p.source[0], p.dest[0]) for p in first.pieces] == [
        (0, (0, 3), (0, 3)),
        (1, (0, 1), (3, 4)),
    ]
    # a block of one chunk: itself and the compressor's output
    assert first.nbytes == 4 * 4 * 8 * 4 and first.memory == 2 * first.nbytes


def test_variables_sharing_dims_share_tasks() -> None:
    a = _layout("a", ("time", "x"), (6, 5), (3, 5))
    b = _layout("b", ("time", "x"), (6, 5), (3, 5))
    c = _layout("c", ("x",), (5,), (5,))
    tasks = cut_tasks([a, b, c], _boxes([6]), ("time",), budget=10**6)
    assert [t.variables for t in tasks] == [("a", "b"), ("a", "b"), ("c",)]
    assert tasks[2].pieces[0].input == 0  # a variable without concat dims comes from input 0


def test_a_tight_budget_splits_the_grid_not_the_chunks() -> None:
    sst = _layout("sst", ("time", "lat"), (4, 100), (2, 10))
    per_chunk = 2 * 10 * 4 * 3
    tasks = cut_tasks([sst], _boxes([4]), ("time",), budget=3 * per_chunk)
    assert all(t.memory <= 3 * per_chunk for t in tasks)
    assert {t.region[1][1] - t.region[1][0] for t in tasks} <= {10, 20, 30}
    _check_plan([sst], _boxes([4]), tasks, 3 * per_chunk)


def test_a_chunk_larger_than_the_budget_is_refused() -> None:
    sst = _layout("sst", ("time", "lat"), (4, 100), (4, 100))
    with pytest.raises(PlanError, match=r"One chunk of 'sst' .* more than the budget"):
        cut_tasks([sst], _boxes([4]), ("time",), budget=1000)


def test_empty_dims_make_no_tasks() -> None:
    sst = _layout("sst", ("time", "lat"), (0, 4), (1, 4))
    assert cut_tasks([sst], _boxes([0]), ("time",), budget=10**6) == []


def test_task_keys_are_stable_and_distinct() -> None:
    sst = _layout("sst", ("time", "lat"), (8, 4), (2, 4))
    once = cut_tasks([sst], _boxes([8]), ("time",), budget=10**6)
    again = cut_tasks([sst], _boxes([1] * 8), ("time",), budget=10**6)
    assert [t.key for t in once] == [t.key for t in again]  # keys depend on regions only
    assert len({t.key for t in once}) == len(once)


@st.composite
def layouts(draw):
    n_concat = draw(st.integers(1, 2))
    concat_dims = ("time", "member")[:n_concat]
    lengths = [draw(st.lists(st.integers(0, 5), min_size=1, max_size=6)) for _ in concat_dims]
    other = draw(st.lists(st.integers(1, 12), min_size=0, max_size=2))
    dims = (*concat_dims, *(f"d{i}" for i in range(len(other))))
    shape = (*(sum(ls) for ls in lengths), *other)
    chunks = tuple(draw(st.integers(1, max(1, n))) for n in shape)
    n_groups = draw(st.integers(1, 2))
    raw = draw(st.booleans())
    storage = {
        "source_chunk": draw(st.integers(0, 2000)),
        "compressed": draw(st.booleans()),
        "mapped": draw(st.booleans()),
        "encode_copies": 0 if raw else draw(st.integers(0, 2)),
        "recast": not raw and draw(st.booleans()),
        "ranged": draw(st.booleans()),
    }
    storage["only_ranged"] = storage["ranged"] and draw(st.booleans())
    variables = [
        VarFootprint(f"v{g}", dims, shape, chunks, (g,), 4, 2 if not raw else 4, raw, **storage)
        for g in range(n_groups)
    ]
    starts = [[0, *itertools.accumulate(ls)] for ls in lengths]
    boxes = [
        InputBox((g,), combo)
        for g in range(n_groups)
        for combo in itertools.product(*(list(itertools.pairwise(s)) for s in starts))
    ]
    preprocess = draw(st.booleans())
    held = 0
    if preprocess:
        extents = [{d: b - a for d, (a, b) in zip(concat_dims, x.box, strict=True)} for x in boxes]
        held = max(input_bytes(variables[:1], e, concat_dims) for e in extents)
    one = math.prod(min(c, n) for c, n in zip(chunks, shape, strict=True))
    chunk_memory = task_memory(variables, Block(one, one, 1), held)
    budget = draw(st.integers(max(chunk_memory, 1), max(chunk_memory, 1) * 20))
    return variables, boxes, concat_dims, budget, preprocess


@settings(max_examples=300, deadline=None)
@given(layouts())
def test_every_chunk_exactly_once_within_budget(case) -> None:
    variables, boxes, concat_dims, budget, preprocess = case
    tasks = cut_tasks(variables, boxes, concat_dims, budget, preprocess=preprocess)
    _check_plan(variables, boxes, tasks, budget)
