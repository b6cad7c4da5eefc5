"""FG011: Zarr chunks of about 1 to 100 MB, estimated without reading any input."""

from __future__ import annotations

import math
from collections.abc import Iterator

from pydantic import ValidationError

from arcoforge.lint.folder import RECIPE_YAML, RecipeFolder
from arcoforge.lint.registry import Finding, define
from arcoforge.lint.rules.context import LintContext
from arcoforge.recipe.spec import Outputs

CHUNK_SIZE = define(
    "FG011",
    "hint",
    "Zarr chunks far from 1 to 100 MB",
    """
    Chunks of 1 to 100 MB (before compression) read well from object storage: smaller
    ones make millions of requests and files, larger ones make every read fetch more than
    it needs. This hint appears when chunks are more than a factor of 2 outside that range
    (below 0.5 MB or above 200 MB). Lint reads no input, so it estimates: `chunk_size` is
    taken as given; for `chunks`, the product of the lengths given times 4 bytes a value
    (float32; packed int16 is half that). Dimensions not listed stay whole, so with
    `chunks` the estimate is a lower bound, reported when it is above 200 MB; below
    0.5 MB it is reported only when three or more dimensions are listed, for variables
    with no other dimensions. A run reads the inputs' headers and knows the real sizes.
    """,
)

MB = 1_000_000
#: The range chunks should fall in; "far" from it is more than a factor of 2 outside.
LOW, HIGH = 1 * MB, 100 * MB
FAR = 2
#: Bytes a value is assumed to take when no header has been read: float32.
ITEMSIZE = 4


def check_chunk_size(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG011: a hint when the Zarr output's chunks are estimated outside 1-100 MB."""
    raw = folder.spec.data.get("outputs") if folder.spec else None
    if not isinstance(raw, dict) or raw.get("zarr") is None:
        return
    try:
        zarr = Outputs.model_validate(raw).zarr
    except ValidationError:  # reported by FG002
        return
    if zarr is None or folder.spec is None:
        return
    shown = folder.show(RECIPE_YAML)
    if zarr.chunk_size is not None:
        line = folder.spec.line_of(("outputs", "zarr", "chunk_size"))
        if not LOW / FAR <= zarr.chunk_size <= HIGH * FAR:
            yield CHUNK_SIZE.finding(
                shown,
                f"outputs.zarr.chunk_size: {_mb(zarr.chunk_size)} is outside 1-100 MB; "
                "chunks of 10 to 100 MB suit most reads. Consider chunk_size: 100MB.",
                line,
            )
        return
    if not zarr.chunks:
        return
    line = folder.spec.line_of(("outputs", "zarr", "chunks"))
    values = math.prod(zarr.chunks.values())
    estimate = values * ITEMSIZE
    shape = " × ".join(f"{dim} {n}" for dim, n in zarr.chunks.items())
    if estimate > HIGH * FAR:
        yield CHUNK_SIZE.finding(
            shown,
            f"outputs.zarr.chunks: {shape} is at least {_mb(estimate)} a chunk at 4 bytes a "
            "value (dimensions not listed add to it); expected at most 100 MB. Shorten "
            "the longest dimension.",
            line,
        )
    elif estimate < LOW / FAR and len(zarr.chunks) >= 3:
        yield CHUNK_SIZE.finding(
            shown,
            f"outputs.zarr.chunks: {shape} is about {_mb(estimate)} a chunk at 4 bytes a "
            "value, if the variables have no other dimensions; expected at least 1 MB. "
            "Lengthen a dimension, or use chunk_size: 100MB.",
            line,
        )


def _mb(nbytes: int) -> str:
    if nbytes >= 1_000 * MB:
        return f"{nbytes / (1_000 * MB):.1f} GB"
    if nbytes >= MB:
        return f"{nbytes / MB:.1f} MB"
    return f"{nbytes / 1_000:.1f} kB"
