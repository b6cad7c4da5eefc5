"""Cutting the writing into tasks: whole target chunks, within a memory budget.

A task writes one block of target chunks of one or more variables that share
their dims and their inputs. It reads the slices of the inputs that overlap
the block (its pieces) into one buffer per variable and writes whole chunks,
so no two tasks touch the same chunk and a task's memory is known before it
runs. Blocks span one chunk along the concat dims and as many chunks along the
other dims as the budget allows, so each input is read about once.
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

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class VarLayout:
    """What the cutter needs to know of a variable."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    group: tuple[int, ...]
    decoded_itemsize: int
    stored_itemsize: int
    raw: bool

    @property
    def bytes_per_item(self) -> int:
        """Peak bytes per value while writing: buffers, one input slice, compressed chunks."""
        if self.raw:
            return 3 * self.stored_itemsize
        return 2 * self.decoded_itemsize + 2 * self.stored_itemsize


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
    variables: Sequence[VarLayout],
    inputs: Sequence[InputBox],
    concat_dims: tuple[str, ...],
    budget: int,
) -> list[Task]:
    """Tasks that write every chunk of every variable exactly once, each within ``budget``."""
    groups: dict[tuple[tuple[int, ...], tuple[str, ...]], list[VarLayout]] = {}
    for v in variables:
        groups.setdefault((v.group, v.dims), []).append(v)
    tasks: list[Task] = []
    for (group, _dims), members in groups.items():
        boxes = [(i, b) for i, b in enumerate(inputs) if b.group == group]
        tasks.extend(_group_tasks(members, boxes, concat_dims, budget))
    return tasks


def _group_tasks(
    members: list[VarLayout],
    boxes: list[tuple[int, InputBox]],
    concat_dims: tuple[str, ...],
    budget: int,
) -> list[Task]:
    ref = members[0]
    dims, shape, chunks = ref.dims, ref.shape, ref.chunks
    if any(n == 0 for n in shape) or not boxes:
        return []
    axes = [concat_dims.index(d) if d in concat_dims else None for d in dims]
    per_item = max(v.bytes_per_item for v in members)
    steps = _block_steps(ref, axes, per_item, budget)
    ranges = [
        [(s, min(s + step * c, n)) for s in range(0, n, step * c)]
        for n, c, step in zip(shape, chunks, steps, strict=True)
    ]
    finder = _InputFinder(boxes, len(concat_dims))
    tasks = []
    for region in itertools.product(*ranges):
        pieces = finder.pieces(region, axes)
        elems = math.prod(b - a for a, b in region)
        names = tuple(v.name for v in members)
        tasks.append(
            Task(
                key=_key(names, region),
                variables=names,
                dims=dims,
                region=region,
                pieces=pieces,
                nbytes=elems * sum(v.decoded_itemsize for v in members),
                memory=elems * per_item,
            )
        )
    return tasks


def _block_steps(ref: VarLayout, axes: list[int | None], per_item: int, budget: int) -> list[int]:
    """Chunks per block along each dim: one along concat dims, the most that fit elsewhere."""
    steps = [
        1 if a is not None else math.ceil(n / c)
        for a, n, c in zip(axes, ref.shape, ref.chunks, strict=True)
    ]

    def memory() -> int:
        return per_item * math.prod(
            min(s * c, n) for s, c, n in zip(steps, ref.chunks, ref.shape, strict=True)
        )

    while memory() > budget:
        free = [i for i, a in enumerate(axes) if a is None and steps[i] > 1]
        if not free:
            chunk = math.prod(min(c, n) for c, n in zip(ref.chunks, ref.shape, strict=True))
            raise PlanError(
                f"One chunk of {ref.name!r} ({' x '.join(map(str, ref.chunks))} values) needs "
                f"about {format_bytes(chunk * per_item)} of memory to write, more than the "
                f"budget of {format_bytes(budget)}. Choose smaller chunks in outputs.zarr or "
                "raise --max-memory."
            )
        i = max(free, key=lambda j: steps[j])
        steps[i] = math.ceil(steps[i] / 2)
    return steps


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


def _key(names: tuple[str, ...], region: tuple[Span, ...]) -> str:
    text = ",".join(names) + "|" + ";".join(f"{a}-{b}" for a, b in region)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
