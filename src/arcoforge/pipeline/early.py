"""Chunks written while headers still arrive, adopted by the plan where it agrees.

Where a recipe fixes its layout (one concat dim, ``items_per_file``, a chunk length along
it that is a whole number of files), a batch of inputs that holds whole chunks plans
itself alone as soon as it is parsed and writes the tasks it holds whole, before the
run's plan exists: fetching and parsing (one core, the GIL held) and writing chunks
(the GIL released) then go on together, and a run killed before its plan leaves tasks
done (on two cores, where both phases already keep the CPU busy, only the latter was
measured to pay: bench/README.md). Each such task is recorded with a signature of
everything that decides the bytes of its chunks. The run's own plan takes every task
written early whose signature one of its tasks shares, and writes the others; if any
early task matches none (the batches planned otherwise than the whole), the target is
removed and written afresh, as without this. Nothing is published before every input
was checked, as always.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from arcoforge.pipeline.ahead import ReadAhead
from arcoforge.pipeline.context import RunContext
from arcoforge.plan.copy_plan import Plan, TaskWork, WriteVar
from arcoforge.plan.tasks import task_key
from arcoforge.recipe.pattern import Index
from arcoforge.sources.headers import HeaderSet, InputHeader

if TYPE_CHECKING:
    import numpy as np

#: The run-state folder of the tasks written early, named ``<task key>.<signature>``.
EARLY = "early"
#: The marker a batch leaves there before its first write: the unfinished target is this
#: recipe's, even if the run is killed before a task is done.
WRITING = "writing"
#: Files a chunk may span for its batch to write it early: a batch holds the edges of
#: all its files at once (128 KiB each).
MOST_FILES = 128


def early_length(ctx: RunContext, inputs: list[tuple[Index, str]]) -> int:
    """The length of the copy along its concat dim if its batches may write early, else 0.

    Not for a published dataset (its chunks are read until the new one is published),
    an update, a preprocessed recipe or a layout that the recipe does not fix.
    """
    if ctx.output is None or ctx.update or ctx.preprocess is not None:
        return 0
    if len(ctx.concat_dims) != 1 or ctx.merge_dims or not inputs:
        return 0
    if not all(ctx.reads_by_range(url) for _, url in inputs):
        return 0
    dim = ctx.concat_dims[0]
    items, chunk = ctx.items_per_file.get(dim), (ctx.zarr.chunks or {}).get(dim)
    if not items or not chunk or chunk % items or chunk // items > MOST_FILES:
        return 0
    positions = sorted(index[dim] for index, _ in inputs)
    if positions != list(range(len(inputs))):
        return 0
    from arcoforge.targets.zarr import Status

    if ctx.target().status() is Status.PUBLISHED:
        return 0
    return len(inputs) * items


def aligned_batches(
    ctx: RunContext, inputs: list[tuple[Index, str]], most: int
) -> list[list[tuple[Index, str]]]:
    """``inputs`` in batches of whole chunks along the concat dim, of at most ``most``
    inputs where a chunk has fewer files than that."""
    dim = ctx.concat_dims[0]
    files = (ctx.zarr.chunks or {})[dim] // (ctx.items_per_file[dim] or 1)
    size = max(1, most // files) * files
    ordered = sorted(inputs, key=lambda item: item[0][dim])
    return [ordered[k : k + size] for k in range(0, len(ordered), size)]


def write_early(ctx: RunContext, headers: list[InputHeader]) -> int:
    """Write the tasks a parsed batch holds whole, each marked with its signature;
    returns how many. A batch that is not whole chunks, or that cannot be planned
    alone, writes nothing (the run's plan writes its tasks)."""
    from arcoforge.errors import ForgeError
    from arcoforge.pipeline.slots import SLOTS, task_limit, worker_memory

    dim = ctx.concat_dims[0]
    items, chunk = ctx.items_per_file[dim] or 1, (ctx.zarr.chunks or {})[dim]
    positions = sorted(h.index[dim] for h in headers)
    first = positions[0] if positions else 0
    if not positions or positions != list(range(first, first + len(positions))):
        return 0
    offset = first * items
    if offset % chunk:
        return 0
    found = HeaderSet(ctx.concat_dims)
    for header in sorted(headers, key=lambda h: h.index[dim]):
        found.add(header)
    from arcoforge.pipeline.copy_stages import copy_plan

    try:  # chunked as the dataset is, where the batch is shorter (its last)
        plan = copy_plan(ctx, found, [], pinned={dim: chunk})
    except ForgeError:
        return 0
    if plan.chunks.get(dim) != chunk:
        return 0
    shapes = _shapes(plan, dim, ctx.early_length)
    target, state, fmt = ctx.target(), ctx.state(), ctx.zarr.zarr_format
    limit = task_limit(worker_memory(ctx.worker_memory), plan.largest_task)
    works = []
    for task in plan.tasks:
        if dim not in task.dims:  # the plan's own tasks write variables without it
            continue
        axis = task.dims.index(dim)
        start, stop = (offset + a for a in task.region[axis])
        if stop - start != chunk and stop != ctx.early_length:
            continue  # a chunk this batch holds only part of
        region = tuple((start, stop) if k == axis else r for k, r in enumerate(task.region))
        moved = replace(task, key=task_key(task.variables, region), region=region)
        works.append(replace(plan.work(task), task=moved))
    if not works:
        return 0
    # each block is read while the one before is written, the first while the arrays'
    # documents are made (threads of one worker share its memory, as the writing
    # stage's do)
    documents: dict[str, str] = {}
    with ReadAhead(_blocks(ctx, works), limit) as blocks:
        for k, work in enumerate(works):
            with SLOTS.hold(limit):
                if k == 0:
                    blocks.start()
                    documents = _documents(plan, shapes)
                    state.mark(EARLY, WRITING)
                for _ in work.variables:
                    var, block = next(blocks)
                    target.write_region(var.name, documents[var.name], fmt, work.task.region, block)
                    del block
            chunks = {v.name: plan.var_chunks(v.dims) for v in work.variables}
            state.mark(EARLY, f"{work.task.key}.{signature(ctx, work, shapes, chunks)}")
    return len(works)


def _blocks(ctx: RunContext, works: list[TaskWork]) -> Iterator[tuple[WriteVar, np.ndarray]]:
    """Each variable of each task of ``works`` with its block, in order."""
    from arcoforge.pipeline.copy_stages import task_blocks

    for work in works:
        yield from task_blocks(ctx, work)


def adopted(ctx: RunContext, plan: Plan) -> set[str] | None:
    """The keys of the tasks of ``plan`` written early, or None if some task written
    early is none of them (its chunks may lie where this plan puts none)."""
    early = ctx.state().marks(EARLY) - {WRITING}
    if not early:
        return set()
    shapes = {name: v.shape for name, v in plan.schema.variables.items()}
    mine = set()
    for task in plan.tasks:
        work = plan.work(task)
        chunks = {v.name: plan.var_chunks(v.dims) for v in work.variables}
        mine.add(f"{task.key}.{signature(ctx, work, shapes, chunks)}")
    if not early <= mine:
        return None
    return {name.split(".", 1)[0] for name in early}


def signature(
    ctx: RunContext,
    work: TaskWork,
    shapes: dict[str, tuple[int, ...]],
    chunks: dict[str, tuple[int, ...]],
) -> str:
    """What decides the bytes of a task's chunks: its region, its variables as they are
    written (dtype, encoding, shape, chunks, the output's codec and format) and where
    each piece comes from (the input's URL and version, and the slices)."""
    task = work.task
    inputs = {n: cached for n, (_, cached) in work.inputs.items()}
    doc = {
        "key": task.key,
        "region": task.region,
        "code": ctx.sources_fingerprint,
        "output": ctx.zarr.model_dump(mode="json"),
        "variables": [
            {**asdict(v), "shape": shapes[v.name], "chunks": chunks[v.name]} for v in work.variables
        ],
        "pieces": [
            (inputs[p.input].url, inputs[p.input].version, p.source, p.dest) for p in task.pieces
        ],
    }
    text = json.dumps(doc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _shapes(plan: Plan, dim: str, length: int) -> dict[str, tuple[int, ...]]:
    """Each variable's shape in the whole dataset: the batch's, ``length`` along ``dim``."""
    return {
        name: tuple(length if d == dim else n for d, n in zip(v.dims, v.shape, strict=True))
        for name, v in plan.schema.variables.items()
    }


def _documents(plan: Plan, shapes: dict[str, tuple[int, ...]]) -> dict[str, str]:
    """Each variable's array document, with its shape in the whole dataset; made once
    per process for variables written alike (xarray writes a sample to make them)."""
    from arcoforge.targets.zarr import ARRAY_DOCS, array_documents, resized

    alike = json.dumps(
        [
            plan.output.model_dump(mode="json"),
            {
                name: (str(v.dtype), str(v.stored_dtype), v.encoding, shapes[name], v.dims)
                for name, v in plan.schema.variables.items()
            },
            plan.chunks,
        ],
        sort_keys=True,
        default=str,
    )
    with _MAKING:  # once: a thread that finds them being made waits for them
        found = _DOCUMENTS.get(alike)
        if found is None:
            fmt = plan.output.zarr_format
            meta = ARRAY_DOCS[fmt][0]
            _, arrays = array_documents(plan)
            found = {
                name: resized(
                    docs[meta], shapes[name], plan.var_chunks(plan.schema.variables[name].dims), fmt
                )
                for name, docs in arrays.items()
            }
            _DOCUMENTS[alike] = found
    return found


#: Array documents made in this process, by what decides them (see :func:`_documents`).
_DOCUMENTS: dict[str, dict[str, str]] = {}
_MAKING = threading.Lock()
