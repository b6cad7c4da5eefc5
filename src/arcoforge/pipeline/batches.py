"""How a run's inputs are grouped into batches: the unit of work of its header stages."""

from __future__ import annotations

from arcoforge.pipeline.context import RunContext
from arcoforge.recipe.pattern import Index

#: Inputs per batch of a copy's inputs read by range, at most: one request to the
#: process that fetches edges ahead of the parse (see copy_stages.fetch_batch).
RANGED_BATCH = 32

#: Inputs per batch of header reads, at most. A batch is one request to the process that
#: fetches edges (each waits for its first file) and one pickled element; larger batches
#: leave fewer for worker processes to share.
HEADER_BATCH = 256


def copy_batches(ctx: RunContext, inputs: list[tuple[Index, str]]) -> list[list[tuple[Index, str]]]:
    """The batches of a copy's inputs: whole chunks each where they write them as soon as
    they are parsed (see arcoforge.pipeline.early)."""
    if ctx.early_length:
        from arcoforge.pipeline.early import aligned_batches

        return aligned_batches(ctx, inputs, RANGED_BATCH)
    return batches(inputs, _copy_batch(ctx, inputs))


def _copy_batch(ctx: RunContext, inputs: list[tuple[Index, str]]) -> int:
    """How many of a copy's inputs are fetched in one batch."""
    if inputs and ctx.reads_by_range(inputs[0][1]):
        return RANGED_BATCH
    return max(1, ctx.fetch_concurrency)


def batches(inputs: list[tuple[Index, str]], most: int) -> list[list[tuple[Index, str]]]:
    """``inputs`` in as few batches of at most ``most`` as can be, of nearly equal sizes."""
    count = -(-len(inputs) // most)
    return [inputs[k * len(inputs) // count : (k + 1) * len(inputs) // count] for k in range(count)]
