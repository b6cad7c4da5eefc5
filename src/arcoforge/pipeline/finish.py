"""A copy found up to date without starting the pipeline: its stages, run in the launcher.

A run of a published copy whose every input has a kept header (see
:mod:`arcoforge.pipeline.known`) asks each input for its identity (HEAD requests, a batch
at a time), plans and compares the plan with the published one, as the pipeline would.
If the dataset is up to date, the result is recorded here; otherwise (a missing input
to skip, say) the pipeline runs as always. Errors are the pipeline's own (a changed
input, a dataset made from other inputs).
"""

from __future__ import annotations

from typing import Any

from arcoforge.pipeline.context import RunContext


def finished_here(ctx: RunContext, inputs: list[tuple[Any, str]]) -> bool:
    """Whether the copy of ``ctx`` was found up to date, and its result recorded, here."""
    if ctx.output is None or ctx.references is not None or ctx.update or ctx.overwrite:
        return False
    if not inputs or not all(ctx.reads_by_range(url) for _, url in inputs):
        return False
    from arcoforge.pipeline.known import all_known  # with xarray: imported when needed

    if not all_known(ctx, [url for _, url in inputs]):
        return False
    from arcoforge.pipeline import copy_stages
    from arcoforge.pipeline.publishing import COPY, publish_outputs
    from arcoforge.sources.headers import HeaderSet
    from arcoforge.targets.zarr import Status

    if ctx.target().status() is not Status.PUBLISHED:
        return False
    headers = HeaderSet(ctx.concat_dims)
    for found in copy_stages.fetch_batch(ctx, inputs):
        if found is None:  # missing, and to be left out: the pipeline says so
            return False
        headers.add(copy_stages.input_header(ctx, *found))
    if copy_stages.plan_writes(ctx, headers):
        return False  # never for a published dataset (it is up to date, or refused)
    publish_outputs(ctx, [(COPY, 0)])
    return True
