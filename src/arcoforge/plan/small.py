"""Refusing copies whose chunks would be tiny objects, from the first input's header alone.

``chunks: {time: 1, latitude: 1, longitude: 1}`` writes one object of a few bytes per
value: millions of requests to write, and as many to read. Target chunks under
:data:`MIN_CHUNK_BYTES` (unless the whole variable is smaller) are refused before any
input is fetched, with the numbers and a chunk shape that would do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dask.utils import format_bytes

from arcoforge.errors import PlanError

#: The smallest target chunk accepted for a copy, unless ``--allow-small-chunks``.
MIN_CHUNK_BYTES = 16 * 1024
#: What a suggested chunk shape aims at: small enough for any reader, large enough for stores.
SUGGESTED_CHUNK_BYTES = 1024 * 1024


class SmallChunksError(PlanError):
    """Target chunks so small that the copy would write millions of tiny objects."""


@dataclass(frozen=True)
class Planned:
    """A variable of the copy as the first input's header shows it, with the run's lengths."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    itemsize: int


def check_chunk_sizes(
    variables: Sequence[Planned],
    chunks: Mapping[str, int],
    *,
    concat_dims: Sequence[str] = (),
    where: str = "outputs.zarr.chunks",
) -> None:
    """Refuse ``chunks`` if a data variable's chunk is under :data:`MIN_CHUNK_BYTES`.

    The data variables are those with the most dimensions, which hold the volume;
    the others (bounds, 1-D series along time) follow their chunks along shared dims
    and make as many objects at most. A variable smaller than that in whole is
    written as one chunk anyway and is let be.
    """
    widest = max((len(v.dims) for v in variables), default=0)
    for var in sorted(variables, key=lambda v: -v.itemsize * math.prod(v.shape)):
        if not var.dims or len(var.dims) < widest:
            continue
        if var.itemsize * math.prod(var.shape) < MIN_CHUNK_BYTES:
            continue
        shape = [max(1, min(chunks.get(d, n), n)) for d, n in zip(var.dims, var.shape, strict=True)]
        size = var.itemsize * math.prod(shape)
        if size >= MIN_CHUNK_BYTES:
            continue
        count = math.prod(math.ceil(n / c) for n, c in zip(var.shape, shape, strict=True))
        better = suggest(var, shape, concat_dims)
        given = ", ".join(f"{d}: {c}" for d, c in zip(var.dims, shape, strict=True))
        better_text = ", ".join(f"{d}: {c}" for d, c in better.items())
        better_size = var.itemsize * math.prod(better.values())
        raise SmallChunksError(
            f"{where}: chunks of {{{given}}} make each chunk of {var.name!r} "
            f"{format_bytes(size)} ({var.itemsize}-byte values), {count:,} objects for "
            f"{var.name!r} alone; expected chunks of at least {format_bytes(MIN_CHUNK_BYTES)}, "
            "since each object costs a request to write and to read. Use larger chunks, e.g. "
            f"chunks: {{{better_text}}} ({format_bytes(better_size)} each), or run with "
            "--allow-small-chunks to write them anyway."
        )


def suggest(var: Planned, shape: Sequence[int], concat_dims: Sequence[str]) -> dict[str, int]:
    """A chunk shape near :data:`SUGGESTED_CHUNK_BYTES`: ``shape`` grown along concat dims first."""
    sizes = dict(zip(var.dims, var.shape, strict=True))
    out = dict(zip(var.dims, shape, strict=True))
    order = [d for d in concat_dims if d in sizes]
    order += sorted((d for d in var.dims if d not in order), key=lambda d: -sizes[d])
    for dim in order:
        size = var.itemsize * math.prod(out.values())
        if size >= SUGGESTED_CHUNK_BYTES:
            break
        factor = math.ceil(SUGGESTED_CHUNK_BYTES / size)
        out[dim] = min(sizes[dim], out[dim] * factor)
    return out
