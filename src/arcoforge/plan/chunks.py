"""Choosing the target's chunks: as the recipe says, or about ``chunk_size`` bytes each."""

from __future__ import annotations

import math

from dask.utils import format_bytes

from arcoforge.errors import PlanError
from arcoforge.plan.schema import TargetSchema
from arcoforge.recipe.spec import ZarrOutput

#: The chunk size aimed at when a recipe names neither ``chunks`` nor ``chunk_size``.
DEFAULT_CHUNK_SIZE = 100 * 10**6
#: More chunks than this in one variable is almost always a mistake (and a slow store).
MAX_CHUNKS = 2_000_000


def choose_chunks(schema: TargetSchema, output: ZarrOutput) -> dict[str, int]:
    """The chunk length of every dim of the target."""
    sizes = schema.sizes
    if output.chunks is not None:
        unknown = sorted(set(output.chunks) - set(sizes))
        if unknown:
            raise PlanError(
                f"outputs.zarr.chunks: dimension {unknown[0]!r} is not in the dataset "
                f"(dimensions: {', '.join(sizes)})."
            )
        chunks = {d: max(1, min(output.chunks.get(d, n), n)) for d, n in sizes.items()}
    else:
        chunks = _by_size(schema, output.chunk_size or DEFAULT_CHUNK_SIZE)
    _check_count(schema, chunks)
    return chunks


def _by_size(schema: TargetSchema, target: int) -> dict[str, int]:
    """Whole non-concat dims and as many concat steps as fit ``target`` bytes.

    If one step is already larger than ``target``, the largest other dims are
    halved until a chunk fits.
    """
    chunks = {d: max(1, n) for d, n in schema.sizes.items()}
    variables = [v for v in schema.variables.values() if v.dims]
    if not variables:
        return chunks
    widest = max(len(v.dims) for v in variables)
    itemsize = max(v.stored_dtype.itemsize for v in variables if len(v.dims) == widest)
    dims = max((v for v in variables if len(v.dims) == widest), key=lambda v: v.shape).dims
    concat = [d for d in schema.concat_dims if d in dims]
    other = [d for d in dims if d not in concat]
    for d in concat[1:]:
        chunks[d] = 1
    per_step = itemsize * math.prod(chunks[d] for d in other)
    if concat:
        chunks[concat[0]] = max(1, min(schema.sizes[concat[0]], target // max(per_step, 1)))
    while itemsize * math.prod(chunks[d] for d in dims) > target:
        largest = max(other, key=lambda d: chunks[d], default=None)
        if largest is None or chunks[largest] == 1:
            break
        chunks[largest] = math.ceil(chunks[largest] / 2)
    return chunks


def _check_count(schema: TargetSchema, chunks: dict[str, int]) -> None:
    for v in schema.variables.values():
        count = math.prod(math.ceil(n / chunks[d]) for d, n in zip(v.dims, v.shape, strict=True))
        if count > MAX_CHUNKS:
            size = v.stored_dtype.itemsize * math.prod(chunks[d] for d in v.dims)
            raise PlanError(
                f"Variable {v.name!r} would be cut into {count:,} chunks of "
                f"{format_bytes(size)} each. Aim for 10-200 MB per chunk: make the chunks in "
                "outputs.zarr larger, or use chunk_size: 100MB."
            )
