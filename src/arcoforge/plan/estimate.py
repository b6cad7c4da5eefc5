"""A recipe's plan before its run: inputs, schema, chunks, tasks, memory, time and cost.

Nothing but headers is fetched. At most :data:`MAX_HEADERS` inputs' headers are read
(spread evenly over the archive, its first and last included) and at most
:data:`MAX_HEADS` other inputs' sizes are asked for; the rest is extrapolated from
them, and the plan says which of its numbers are.
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dask.utils import format_bytes

from arcoforge.errors import PlanError
from arcoforge.plan.chunks import choose_chunks
from arcoforge.plan.copy_plan import footprint
from arcoforge.plan.costs import REFERENCE_BYTES, Costs, Prices, Work, estimate_costs
from arcoforge.plan.schema import InputPlacement, TargetSchema, combine
from arcoforge.plan.small import Planned, SmallChunksError, check_chunk_sizes
from arcoforge.plan.tasks import InputBox, Task, cut_tasks
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.recipe.validated import Recipe
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.headers import HeaderSet
from arcoforge.sources.probe import ProbedHeader, as_url, head_sizes, read_headers
from arcoforge.sources.retry import RetryPolicy

#: Inputs whose headers a plan reads at most.
MAX_HEADERS = 32
#: Other inputs whose sizes a plan asks for at most (one HEAD request each).
MAX_HEADS = 256
#: Memory of a worker process before its first task (bench/, memory_benchmark.py).
PROCESS_BYTES = 190 * 10**6


@dataclass(frozen=True)
class PlanOptions:
    """How to plan: the run's memory budget and workers, the network, the prices."""

    max_memory: int = 2 * 10**9
    workers: int | None = None
    bandwidth: float | None = None
    prices: Prices = field(default_factory=Prices)
    max_headers: int = MAX_HEADERS
    max_heads: int = MAX_HEADS
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class Estimate:
    """A recipe's plan, with what was measured, what extrapolated and what assumed."""

    recipe: str
    inputs: dict[str, Any]
    schema: dict[str, Any]
    outputs: dict[str, Any]
    costs: Costs
    extrapolated: tuple[str, ...]
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "inputs": self.inputs,
            "schema": self.schema,
            "outputs": self.outputs,
            "estimates": self.costs.to_json(),
            "extrapolated": list(self.extrapolated),
            "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
            "plan_seconds": round(self.seconds, 3),
        }


def spread(n: int, k: int) -> list[int]:
    """At most ``k`` positions of ``range(n)``, evenly spread, the first and last included."""
    if k <= 0 or n <= 0:
        return []
    if n <= k:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def sample(
    items: Sequence[tuple[Index, str]], concat_dims: tuple[str, ...], limit: int
) -> list[int]:
    """Positions in ``items`` of the inputs whose headers to read.

    Whole positions along the concat dims are taken (every merged input at each),
    so each merge group's variables are seen.
    """
    at: dict[tuple[int, ...], list[int]] = {}
    for k, (index, _) in enumerate(items):
        at.setdefault(tuple(index[d] for d in concat_dims), []).append(k)
    positions = sorted(at)
    width = max(len(v) for v in at.values())
    chosen = spread(len(positions), max(1, limit // width))
    picked = [k for p in chosen for k in at[positions[p]]]
    return sorted(picked[: max(limit, width)] if width > limit else picked)


def estimate(recipe: Recipe, options: PlanOptions = PlanOptions()) -> Estimate:
    """Plan ``recipe`` from a few headers and sizes; raises a ForgeError if it cannot run."""
    start = time.monotonic()
    pattern = recipe.pattern
    items = list(pattern.items())
    concat_dims = tuple(d.name for d in pattern.concat_dims)
    picked = sample(items, concat_dims, options.max_headers)
    probed = read_headers(
        [items[k] for k in picked],
        concat_dims=concat_dims,
        file_type=pattern.file_type,
        storage_options=pattern.storage_options,
        retry=options.retry,
    )
    sizes, asked = _sizes(recipe, items, dict(zip(picked, probed, strict=True)), options)
    mean_size = statistics.fmean(sizes.values())
    unknown = len(items) - len(sizes)
    input_bytes = sum(sizes.values()) + round(mean_size * unknown)
    sampled = _combine(recipe, probed)
    lengths, guessed = _lengths(sampled, pattern.concat_dims)
    merge_dims = tuple(d.name for d in pattern.merge_dims)
    schema = _extrapolated(sampled, items, lengths, sizes, round(mean_size), merge_dims)
    partial = len(picked) < len(items)

    extrapolated = [
        *(["inputs.bytes"] if unknown else []),
        *(["schema"] if partial else []),
        *(["schema.dims"] if guessed else []),
    ]
    assumptions = [
        f"read {len(picked)} of {len(items)} headers and {len(asked)} more sizes; "
        + (
            "every other input is assumed to hold the same variables, dtypes and grid as these"
            if partial
            else "every input was seen"
        ),
        *(
            [
                f"the {unknown} inputs not asked are assumed {format_bytes(round(mean_size))} "
                "each (the mean of those asked)"
            ]
            if unknown
            else []
        ),
        *guessed.values(),
    ]
    if recipe.preprocess is not None:
        assumptions.append(
            "recipe.py's preprocess is not run by a plan: the schema is the inputs' own"
        )
    workers = options.workers or _cores()
    outputs, warnings, work = _outputs(recipe, schema, probed, input_bytes, options)
    if "references" in outputs and partial:
        extrapolated.append("outputs.references")
    costs = estimate_costs(
        work, workers=workers, bandwidth=options.bandwidth, prices=options.prices
    )
    extrapolated.append("estimates")
    assumptions.extend(_model_assumptions(work, workers, options))
    busy = _busy(workers)
    if busy:
        warnings.append(busy)
    return Estimate(
        recipe=recipe.id,
        inputs={
            "count": len(items),
            "bytes": input_bytes,
            "estimated": bool(unknown),
            "sizes_known": len(sizes),
            "headers_read": len(picked),
            "head_requests": len(asked),
        },
        schema=_describe(schema, sampled, partial),
        outputs=outputs,
        costs=costs,
        extrapolated=tuple(extrapolated),
        assumptions=tuple(assumptions),
        warnings=tuple(warnings),
        seconds=time.monotonic() - start,
    )


def _sizes(
    recipe: Recipe,
    items: Sequence[tuple[Index, str]],
    probed: dict[int, ProbedHeader],
    options: PlanOptions,
) -> tuple[dict[int, int], list[int]]:
    """The sizes known, by position in ``items``: those probed, and up to ``max_heads`` more."""
    sizes = {k: p.size for k, p in probed.items()}
    others = [k for k in range(len(items)) if k not in sizes]
    asked = [others[i] for i in spread(len(others), options.max_heads)]
    found = head_sizes(
        [items[k][1] for k in asked],
        storage_options=recipe.pattern.storage_options,
        retry=options.retry,
    )
    sizes.update(zip(asked, found, strict=True))
    return sizes, asked


def _combine(recipe: Recipe, probed: Sequence[ProbedHeader]) -> TargetSchema:
    """The headers read, combined as a run combines them, at their own positions."""
    pattern = recipe.pattern
    concat_dims = tuple(d.name for d in pattern.concat_dims)
    # The headers read sit at scattered positions; combined, they are laid end to end.
    dense = _dense_positions([p.header.index for p in probed], concat_dims)
    headers = HeaderSet(concat_dims)
    for p in probed:
        headers.add(replace(p.header, index=dense[p.header.index]))
    sampled = combine(
        headers,
        merge_dims=tuple(d.name for d in pattern.merge_dims),
        items_per_file={d.name: d.items_per_file for d in pattern.concat_dims},
    )
    original = {v: k for k, v in dense.items()}
    return replace(
        sampled, inputs=tuple(replace(i, index=original[i.index]) for i in sampled.inputs)
    )


def _outputs(
    recipe: Recipe,
    schema: TargetSchema,
    probed: Sequence[ProbedHeader],
    input_bytes: int,
    options: PlanOptions,
) -> tuple[dict[str, Any], list[str], Work]:
    """Each output's plan, the warnings they raise, and the run's work."""
    warnings: list[str] = []
    outputs: dict[str, Any] = {}
    count = len(schema.inputs)
    copy_bytes = dataset_bytes = 0
    if recipe.outputs.zarr is not None:
        zarr, tasks, dataset_bytes = _zarr_plan(recipe, schema, options.max_memory)
        outputs["zarr"] = zarr
        copy_bytes = dataset_bytes
        concat_dims = schema.concat_dims
        try:
            check_chunk_sizes(_planned(schema), zarr["chunks"], concat_dims=concat_dims)
        except SmallChunksError as e:
            warnings.append(str(e))
        largest = max((t.memory for t in tasks), default=0)
        if largest + PROCESS_BYTES > options.max_memory:
            warnings.append(
                f"the largest task needs about {format_bytes(largest)} plus "
                f"{format_bytes(PROCESS_BYTES)} for its process, more than --max-memory"
            )
    header_bytes = round(statistics.fmean(p.fetched for p in probed) * count)
    if recipe.outputs.references is not None:
        data_vars = sum(1 for v in schema.variables.values() if not v.is_coord)
        outputs["references"] = {
            "format": recipe.outputs.references.format.value,
            "header_bytes": header_bytes,
            "bytes": REFERENCE_BYTES * count * max(1, data_vars),
        }
        dataset_bytes += outputs["references"]["bytes"]
    work = Work(
        copy_bytes=copy_bytes,
        copy_inputs=count if copy_bytes else 0,
        reference_inputs=count if recipe.outputs.references is not None else 0,
        input_bytes=input_bytes,
        header_bytes=header_bytes,
        dataset_bytes=dataset_bytes,
        cache_bytes=input_bytes if copy_bytes else 0,
    )
    return outputs, warnings, work


def _dense_positions(indexes: Sequence[Index], concat_dims: tuple[str, ...]) -> dict[Index, Index]:
    """Each index with its concat positions renumbered 0, 1, ... in order, merge positions kept."""
    ranks = {d: {p: r for r, p in enumerate(sorted({i[d] for i in indexes}))} for d in concat_dims}
    return {
        i: Index(tuple((n, ranks[n][p] if n in ranks else p) for n, p in i.positions))
        for i in indexes
    }


def _lengths(
    sampled: TargetSchema, dims: Sequence[Any]
) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Each concat dim's length at every one of its keys: seen, declared or extrapolated."""
    out: dict[str, list[int]] = {}
    guessed: dict[str, str] = {}
    for axis, dim in enumerate(dims):
        seen = {i.index[dim.name]: b - a for i in sampled.inputs for a, b in [i.box[axis]]}
        count = len(dim.keys)
        if dim.items_per_file is not None:
            out[dim.name] = [dim.items_per_file] * count
            continue
        values = sorted(set(seen.values()))
        fill = values[0] if len(values) == 1 else round(statistics.fmean(seen.values()))
        out[dim.name] = [seen.get(p, fill) for p in range(count)]
        if len(seen) < count:
            how = "as in every input read" if len(values) == 1 else "the mean of those read"
            guessed[dim.name] = (
                f"{dim.name!r}: {count - len(seen)} inputs' lengths along it are assumed "
                f"{fill} ({how})"
            )
    return out, guessed


def _extrapolated(
    sampled: TargetSchema,
    items: Sequence[tuple[Index, str]],
    lengths: dict[str, list[int]],
    sizes: dict[int, int],
    mean_size: int,
    merge_dims: tuple[str, ...],
) -> TargetSchema:
    """The sampled schema grown to every input, with their lengths along the concat dims."""
    concat_dims = sampled.concat_dims
    offsets = {d: [0, *itertools.accumulate(lengths[d])] for d in concat_dims}
    dim_sizes = dict(sampled.sizes)
    dim_sizes.update({d: offsets[d][-1] for d in concat_dims})
    file_type = sampled.inputs[0].input.file_type if sampled.inputs else FileType.NETCDF4
    inputs = tuple(
        InputPlacement(
            index=index,
            input=CachedInput(as_url(url), url, sizes.get(k, mean_size), "", file_type),
            group=tuple(index[m] for m in merge_dims),
            box=tuple(
                (offsets[d][index[d]], offsets[d][index[d]] + lengths[d][index[d]])
                for d in concat_dims
            ),
        )
        for k, (index, url) in enumerate(items)
    )
    variables = {
        n: replace(v, shape=tuple(dim_sizes[d] for d in v.dims))
        for n, v in sampled.variables.items()
    }
    return replace(sampled, sizes=dim_sizes, variables=variables, inputs=inputs)


def _zarr_plan(
    recipe: Recipe, schema: TargetSchema, budget: int
) -> tuple[dict[str, Any], list[Task], int]:
    """The copy's chunks, objects and tasks, as :func:`~arcoforge.plan.copy_plan.make_plan`
    cuts them."""
    output = recipe.outputs.zarr
    assert output is not None
    chunks = choose_chunks(schema, output)
    netcdf3 = {i.group for i in schema.inputs if i.input.file_type is FileType.NETCDF3}
    layouts = [
        footprint(v, tuple(chunks[d] for d in v.dims), v.group in netcdf3)
        for v in schema.variables.values()
    ]
    boxes = [InputBox(i.group, i.box) for i in schema.inputs]
    tasks = cut_tasks(layouts, boxes, schema.concat_dims, budget)
    variables = {}
    total = objects = 0
    for v in schema.variables.values():
        shape = tuple(min(chunks[d], n) for d, n in zip(v.dims, v.shape, strict=True))
        count = (
            math.prod(-(-n // c) for n, c in zip(v.shape, shape, strict=True) if c) if v.dims else 1
        )
        nbytes = v.stored_dtype.itemsize * math.prod(v.shape)
        variables[v.name] = {
            "chunks": list(shape),
            "chunk_bytes": v.stored_dtype.itemsize * math.prod(shape),
            "objects": count,
            "bytes": nbytes,
        }
        total += nbytes
        objects += count
    memory = max((t.memory for t in tasks), default=0)
    return (
        {
            "chunks": chunks,
            "compression": output.compression.value,
            "zarr_format": output.zarr_format,
            "variables": variables,
            "objects": objects,
            "bytes": total,
            "tasks": len(tasks),
            "memory_per_task": memory,
            "memory_per_worker": memory + PROCESS_BYTES,
            "max_memory": budget,
        },
        tasks,
        total,
    )


def _planned(schema: TargetSchema) -> list[Planned]:
    return [
        Planned(v.name, v.dims, v.shape, v.stored_dtype.itemsize)
        for v in schema.variables.values()
        if v.dims != (v.name,)
    ]


def _describe(schema: TargetSchema, sampled: TargetSchema, extrapolated: bool) -> dict[str, Any]:
    """The target schema as JSON: dims, coordinates' extent, variables."""
    coords = {}
    for name, c in sampled.coords.items():
        values = c.values
        if values.size:
            coords[name] = {
                "first": str(values[0]),
                "last": str(values[-1]),
                "dtype": str(values.dtype),
            }
    return {
        "dims": dict(schema.sizes),
        "extrapolated": extrapolated,
        "coords": coords,
        "variables": {
            n: {
                "dims": list(v.dims),
                "shape": list(v.shape),
                "dtype": str(v.dtype),
                "stored_dtype": str(v.stored_dtype),
                "coord": v.is_coord,
                "source_chunk_bytes": v.source_chunk,
                "source_compressed": v.compressed,
            }
            for n, v in schema.variables.items()
        },
        "attrs": len(schema.attrs),
    }


def _model_assumptions(work: Work, workers: int, options: PlanOptions) -> list[str]:
    """What the time and resource model assumes, in words."""
    from arcoforge.plan import costs

    out = []
    if work.copy_bytes:
        out.append(
            f"a copy runs at {costs.COPY_BYTES_PER_WORKER_S / 1e6:.0f} MB/s of uncompressed "
            f"data and {costs.COPY_INPUT_WORKER_S * 1e3:.0f} ms per input on each of {workers} "
            f"worker(s), after {costs.COPY_STARTUP_S} s of start-up (fitted to bench/results/, "
            "sources on loopback HTTP; see arcoforge/plan/costs.py)"
        )
        out.append(
            "a copy fetches every input once into the input cache and writes it there "
            "(counted in bytes_written); the dataset's bytes are uncompressed, an upper bound "
            "(Blosc lz4 stored 1.97x smaller on the benchmark's data)"
        )
    if work.reference_inputs:
        out.append(
            f"references are read at {costs.REFERENCES_FILES_S:.0f} inputs/s after "
            f"{costs.REFERENCES_STARTUP_S} s (measured: bench/results/references-2026-11-23.md)"
        )
    if options.bandwidth:
        out.append(f"sources reach the workers at {format_bytes(int(options.bandwidth))}/s")
    else:
        out.append("sources reach the workers as fast as loopback HTTP (give --bandwidth if not)")
    out.append("worker-hours are the run's work over one worker's throughput, start-up not counted")
    return out


def _cores() -> int:
    # as arcoforge.pipeline.runners.default_workers, without importing Beam (seconds)
    return os.cpu_count() or 1


def _busy(workers: int) -> str | None:
    """A warning if other work already keeps this machine's cores busy."""
    cores = _cores()
    load = os.getloadavg()[0]
    if load <= cores / 2:
        return None
    return (
        f"this machine is busy (load average {load:.1f} on {cores} cores): a run started now "
        f"shares them and will take longer than estimated for {workers} worker(s) on free cores"
    )


__all__ = ["Estimate", "PlanError", "PlanOptions", "Prices", "estimate", "sample", "spread"]
