"""A copy whose inputs' headers are kept, finished by the launcher without a pipeline.

A run over a published copy whose every input's header is kept, or one resumed after a
stopped run read all but at most :data:`MOST_UNREAD` of them (see
:mod:`arcoforge.pipeline.known`), asks each input for its identity (HEAD requests, a
batch at a time), reads the headers left, and plans, as the pipeline would. Up to date:
its result is recorded. Unfinished: the tasks the stopped run left (those it wrote
early are adopted) are written on this process's threads, as the DirectRunner's worker
threads would write them, and the copy is published. Such a run no longer pays for importing
Beam, starting its workers and crossing its stages, about 1.1 s (bench/README.md,
*Measurements behind the design*). Anything else (a missing input to skip, another
runner, worker processes, ``preprocess``) runs the pipeline as always; errors are the
stages' own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arcoforge.pipeline.context import RunContext

#: Headers a resumed run reads here, at most (more are read sooner by the pipeline's
#: workers together, early writes and all). Measured on the 1 GiB resume benchmark:
#: 60 left, 2.6 s here against 3.9 s with the pipeline; 109 left, 3.3 s against 4.1 s.
MOST_UNREAD = 128


def finished_here(ctx: RunContext, inputs: list[tuple[Any, str]], threads: int | None) -> bool:
    """Whether the copy of ``ctx`` was finished (or found up to date) here.

    ``threads``: how many tasks to write at once here, or None where the tasks belong to
    the pipeline (another runner, worker processes); only an up-to-date copy is then
    finished here.
    """
    if ctx.output is None or ctx.references is not None or ctx.update or ctx.overwrite:
        return False
    if not inputs or not all(ctx.reads_by_range(url) for _, url in inputs):
        return False
    from arcoforge.pipeline.known import unknown  # with xarray: imported when needed

    unread = unknown(ctx, [url for _, url in inputs])
    if unread > MOST_UNREAD:
        return False
    from arcoforge.pipeline import copy_stages
    from arcoforge.pipeline.publishing import COPY, publish_outputs
    from arcoforge.sources.headers import HeaderSet
    from arcoforge.targets.zarr import Status

    published = ctx.target().status() is Status.PUBLISHED
    if published and unread:
        return False  # more inputs than the dataset was made from: the pipeline says so
    if not published and (threads is None or ctx.preprocess is not None or not ctx.kept_headers):
        return False  # the pipeline's tasks, or a run that resumes none (its workers read)
    headers = HeaderSet(ctx.concat_dims)
    for found in copy_stages.fetch_batch(ctx, inputs):
        if found is None:  # missing, and to be left out: the pipeline says so
            return False
        headers.add(copy_stages.input_header(ctx, *found))
    todo = copy_stages.plan_writes(ctx, headers)
    if todo and published:
        return False  # never: a published dataset is up to date, or refused
    publish_outputs(ctx, [(COPY, _write_all(ctx, todo, threads or 1) if todo else 0)])
    return True


def _write_all(ctx: RunContext, todo: list[Any], threads: int) -> int:
    """Write the tasks ``todo`` on ``threads`` threads; the bytes written. On the first
    failure (or Ctrl-C) the tasks not started are dropped and those running finish."""
    from arcoforge.pipeline.copy_stages import write_within_memory

    with ThreadPoolExecutor(threads, thread_name_prefix="arcoforge-task") as pool:
        futures = [pool.submit(write_within_memory, ctx, work) for work in todo]
        try:
            return sum(f.result() for f in futures)
        finally:
            for f in futures:
                f.cancel()
