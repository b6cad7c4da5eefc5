"""Plan: the target schema, its chunks and the tasks that write it, under one hash.

Two runs with equal plan hashes write equal datasets, so the hash decides
whether a run resumes an unfinished one, finds the dataset up to date, or
would replace a different one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from arcoforge.plan.chunks import choose_chunks
from arcoforge.plan.schema import Mode, TargetSchema, TargetVariable, combine
from arcoforge.plan.tasks import InputBox, Task, VarFootprint, cut_tasks
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.recipe.spec import ZarrOutput
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.headers import HeaderSet

#: Bumped whenever the same plan would be written differently.
PLAN_FORMAT = 1


@dataclass(frozen=True, slots=True)
class WriteVar:
    """How a task writes one variable."""

    name: str
    dims: tuple[str, ...]
    mode: Mode
    dtype: np.dtype
    stored_dtype: np.dtype
    encoding: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskWork:
    """A task with everything a worker needs to run it; a pipeline element."""

    task: Task
    variables: tuple[WriteVar, ...]
    inputs: dict[int, tuple[Index, CachedInput]]
    #: the memory estimate of the plan's largest task, which sets how many run at once
    largest: int = 0


@dataclass(frozen=True)
class Plan:
    """What to write and how the writing is cut into tasks."""

    schema: TargetSchema
    chunks: dict[str, int]
    tasks: tuple[Task, ...]
    output: ZarrOutput
    budget: int
    hash: str

    def var_chunks(self, dims: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(self.chunks[d] for d in dims)

    @property
    def nbytes(self) -> int:
        """Uncompressed bytes of the variables the tasks write."""
        return sum(t.nbytes for t in self.tasks)

    @cached_property
    def largest_task(self) -> int:
        """The memory estimate of the largest task, in bytes."""
        return max((t.memory for t in self.tasks), default=0)

    def work(self, task: Task) -> TaskWork:
        variables = tuple(
            WriteVar(
                name=v.name,
                dims=v.dims,
                mode=v.mode,
                dtype=v.dtype,
                stored_dtype=v.stored_dtype,
                encoding=v.encoding,
            )
            for v in (self.schema.variables[n] for n in task.variables)
        )
        inputs = {
            p.input: (self.schema.inputs[p.input].index, self.schema.inputs[p.input].input)
            for p in task.pieces
        }
        return TaskWork(task, variables, inputs, self.largest_task)


def make_plan(
    headers: HeaderSet,
    *,
    output: ZarrOutput,
    budget: int,
    fingerprint: str,
    merge_dims: tuple[str, ...] = (),
    items_per_file: dict[str, int | None] | None = None,
    preprocessed: bool = False,
    pinned: dict[str, int] | None = None,
    gaps: dict[str, dict[int, str]] | None = None,
) -> Plan:
    """Combine the headers, choose chunks, cut tasks; raises if any of it is impossible.

    ``pinned``: chunk lengths that override the chosen ones (those of a store to grow).
    ``gaps``: the positions of inputs left out as missing (see :func:`combine`).
    """
    schema = combine(
        headers,
        merge_dims=merge_dims,
        items_per_file=items_per_file,
        preprocessed=preprocessed,
        gaps=gaps,
    )
    chunks = choose_chunks(schema, output)
    chunks.update({d: c for d, c in (pinned or {}).items() if d in chunks})
    netcdf3 = {i.group for i in schema.inputs if i.input.file_type is FileType.NETCDF3}
    ranged = {i.group for i in schema.inputs if i.input.ranged}
    cached = {i.group for i in schema.inputs if not i.input.ranged}
    layouts = [
        replace(
            footprint(v, tuple(chunks[d] for d in v.dims), v.group in netcdf3),
            ranged=v.group in ranged,
            only_ranged=v.group not in cached,
        )
        for v in schema.variables.values()
    ]
    boxes = [InputBox(i.group, i.box) for i in schema.inputs]
    tasks = cut_tasks(layouts, boxes, schema.concat_dims, budget, preprocess=preprocessed)
    identity = {
        "format": PLAN_FORMAT,
        "recipe": fingerprint,
        "schema": schema.describe(),
        "chunks": chunks,
        "output": output.model_dump(mode="json", exclude={"chunks", "chunk_size"}),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    return Plan(schema, chunks, tuple(tasks), output, budget, digest.hexdigest())


def footprint(v: TargetVariable, chunks: tuple[int, ...], mapped: bool) -> VarFootprint:
    """What the cutter and the memory estimate need to know of a target variable."""
    enc = v.encoding
    fill = enc.get("_FillValue", enc.get("missing_value"))
    if "scale_factor" in enc or "add_offset" in enc or v.dtype.kind in "MO":
        copies = 2  # packing (or times): a float copy, then its rounded copy
    elif fill is not None and not pd.isnull(fill):
        copies = 1  # fill values put in: one copy
    else:
        copies = 0
    return VarFootprint(
        name=v.name,
        dims=v.dims,
        shape=v.shape,
        chunks=chunks,
        group=v.group,
        decoded_itemsize=_itemsize(v.dtype),
        stored_itemsize=v.stored_dtype.itemsize,
        raw=v.mode is Mode.RAW,
        source_chunk=v.source_chunk,
        compressed=v.compressed,
        mapped=mapped,
        encode_copies=copies,
        recast=v.stored_dtype != v.dtype,
    )


def _itemsize(dtype: np.dtype) -> int:
    return 8 if dtype.kind == "O" else dtype.itemsize
