"""Cutting the writing into tasks: whole target chunks, within a memory budget.

A task writes one block of target chunks of one or more variables that share
their dims and their inputs. It reads the slices of the inputs that overlap
the block (its pieces) into one buffer per variable and writes whole chunks,
so no two tasks touch the same chunk and a task's memory is known before it
runs (see :mod:`arcoforge.plan.memory`). Blocks span one chunk along the concat
dims and as many chunks along the other dims as the budget allows, so each input
is read about once.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from dask.utils import format_bytes

from arcoforge.errors import PlanError
from arcoforge.plan.memory import Block, VarFootprint, input_bytes, task_memory

__all__ = ["InputBox", "Piece", "Task", "VarFootprint", "cut_tasks", "task_key"]

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class InputBox:
    """An input's merge group and its span along each concat dim."""

    group: tuple[int, ...]
    box: tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class Piece:
    """The slice ``source`` of input ``input`` lands at ``dest`` within a task's block."""

    input: int
    source: tuple[Span, ...]
    dest: tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """Write ``region`` of ``variables`` (which share ``dims``) from ``pieces``."""

    key: str
    variables: tuple[str, ...]
    dims: tuple[str, ...]
    region: tuple[Span, ...]
    pieces: tuple[Piece, ...]
    nbytes: int
    memory: int


def cut_tasks(
    variables: Sequence[VarFootprint],
    inputs: Sequence[InputBox],
    concat_dims: tuple[str, ...],
    budget: int,
    *,
    preprocess: bool = False,
) -> list[Task]:
    """Tasks that write every chunk of every variable exactly once, each within ``budget``.

    With ``preprocess``, a task also holds the largest input it opens, decoded whole.
    """
    groups: dict[tuple[tuple[int, ...], tuple[str, ...]], list[VarFootprint]] = {}
    for v in variables:
        groups.setdefault((v.group, v.dims), []).append(v)
    tasks: list[Task] = []
    for (group, _dims), members in groups.items():
        boxes = [(i, b) for i, b in enumerate(inputs) if b.group == group]
        held = 0
        if preprocess:
            everything = [v for v in variables if v.group == group]
            held = max(
                (input_bytes(everything, _extent(b, concat_dims), concat_dims) for _, b in boxes),
                default=0,
            )
        tasks.extend(_group_tasks(members, boxes, concat_dims, budget, held))
    return tasks


def _extent(box: InputBox, concat_dims: tuple[str, ...]) -> dict[str, int]:
    return {d: b - a for d, (a, b) in zip(concat_dims, box.box, strict=True)}


def _group_tasks(
    members: list[VarFootprint],
    boxes: list[tuple[int, InputBox]],
    concat_dims: tuple[str, ...],
    budget: int,
    held: int,
) -> list[Task]:
    ref = members[0]
    dims, shape, chunks = ref.dims, ref.shape, ref.chunks
    if any(n == 0 for n in shape) or not boxes:
        return []
    axes = [concat_dims.index(d) if d in concat_dims else None for d in dims]
    longest = [max(b.box[a][1] - b.box[a][0] for _, b in boxes) for a in range(len(concat_dims))]
    steps = _block_steps(members, axes, longest, budget, held)
    ranges = [
        [(s, min(s + step * c, n)) for s in range(0, n, step * c)]
        for n, c, step in zip(shape, chunks, steps, strict=True)
    ]
    finder = _InputFinder(boxes, len(concat_dims))
    tasks = []
    for region in itertools.product(*ranges):
        pieces = finder.pieces(region, axes)
        extents = [b - a for a, b in region]
        block = Block(
            values=math.prod(extents),
            piece=max((math.prod(b - a for a, b in p.dest) for p in pieces), default=0),
            chunks=math.prod(-(-n // c) for n, c in zip(extents, chunks, strict=True)),
        )
        names = tuple(v.name for v in members)
        tasks.append(
            Task(
                key=task_key(names, region),
                variables=names,
                dims=dims,
                region=region,
                pieces=pieces,
                nbytes=block.values * sum(v.decoded_itemsize for v in members),
                memory=task_memory(members, block, held),
            )
        )
    return tasks


def _block_steps(
    members: list[VarFootprint],
    axes: list[int | None],
    longest: list[int],
    budget: int,
    held: int,
) -> list[int]:
    """Chunks per block along each dim: one along concat dims, the most that fit elsewhere.

    A block's pieces are bounded by the longest input along each concat dim, so the
    memory reckoned here is never less than that of any task cut from it.
    """
    ref = members[0]
    steps = [
        1 if a is not None else math.ceil(n / c)
        for a, n, c in zip(axes, ref.shape, ref.chunks, strict=True)
    ]

    def memory() -> int:
        extents = [min(s * c, n) for s, c, n in zip(steps, ref.chunks, ref.shape, strict=True)]
        piece = [e if a is None else min(e, longest[a]) for e, a in zip(extents, axes, strict=True)]
        block = Block(math.prod(extents), math.prod(piece), math.prod(steps))
        return task_memory(members, block, held)

    while memory() > budget:
        free = [i for i, a in enumerate(axes) if a is None and steps[i] > 1]
        if not free:
            raise PlanError(_too_big(ref, memory(), budget, held))
        i = max(free, key=lambda j: steps[j])
        steps[i] = math.ceil(steps[i] / 2)
    return steps


def _too_big(ref: VarFootprint, memory: int, budget: int, held: int) -> str:
    parts = []
    if ref.source_chunk and ref.compressed:
        parts.append(f"its compressed source chunks of {format_bytes(ref.source_chunk)} each")
    if held:
        parts.append(f"a preprocessed input of {format_bytes(held)} held whole")
    including = f" (including {' and '.join(parts)})" if parts else ""
    return (
        f"One chunk of {ref.name!r} ({' x '.join(map(str, ref.chunks))} values) needs "
        f"about {format_bytes(memory)} of memory to write{including}, more than the "
        f"budget of {format_bytes(budget)}. Choose smaller chunks in outputs.zarr or "
        "raise --max-memory."
    )


class _InputFinder:
    """Finds the inputs overlapping a block, by bisection along the first concat dim."""

    def __init__(self, boxes: list[tuple[int, InputBox]], n_concat: int):
        self.n_concat = n_concat
        if n_concat:
            boxes = sorted(boxes, key=lambda ib: ib[1].box[0])
        self.boxes = boxes
        self.starts = [b.box[0][0] for _, b in boxes] if n_concat else []

    def pieces(self, region: tuple[Span, ...], axes: list[int | None]) -> tuple[Piece, ...]:
        where = {a: k for k, a in enumerate(axes) if a is not None}
        if not where:  # a variable without concat dims comes from the group's first input
            i = self.boxes[0][0]
            return (Piece(i, region, tuple((0, b - a) for a, b in region)),)
        candidates = self.boxes
        if 0 in where:
            lo, hi = region[where[0]]
            below = bisect.bisect_right(self.starts, lo) - 1
            # several inputs share a start when there is more than one concat dim
            first = bisect.bisect_left(self.starts, self.starts[below]) if below >= 0 else 0
            last = bisect.bisect_left(self.starts, hi)
            candidates = self.boxes[first:last]
        out = []
        for i, box in candidates:
            source, dest = [], []
            for k, (lo, hi) in enumerate(region):
                a = axes[k]
                if a is None:
                    source.append((lo, hi))
                    dest.append((0, hi - lo))
                    continue
                start, stop = box.box[a]
                s, e = max(lo, start), min(hi, stop)
                if s >= e:
                    break
                source.append((s - start, e - start))
                dest.append((s - lo, e - lo))
            else:
                out.append(Piece(i, tuple(source), tuple(dest)))
        return tuple(out)


def task_key(names: tuple[str, ...], region: tuple[Span, ...]) -> str:
    """A task's key: its variables and region, whatever plan it belongs to."""
    text = ",".join(names) + "|" + ";".join(f"{a}-{b}" for a, b in region)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
