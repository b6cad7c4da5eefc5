"""A copy whose earlier run read its inputs' headers, finished by the launcher, no pipeline.

A run over a published copy whose every input's header is kept, or a run resumed after
a stopped one kept some (see :mod:`arcoforge.pipeline.known`), runs the copy's stages
itself: each input with a kept header is asked for its identity (HEAD requests, a batch
at a time), the others are read as the pipeline's workers read them (batch by batch on
as many threads, chunks written early), then the plan. Up to date: its result is
recorded. Unfinished: the tasks left (those written early are adopted) are written on
as many threads as the DirectRunner's worker threads, and the copy is published. Such a
run no longer pays for importing Beam, starting its workers and crossing its stages,
about 1.1 s (bench/README.md, *Resume benchmark*). Anything else (a first run, a missing
input to skip, another runner, worker processes, ``preprocess``) runs the pipeline;
errors are the stages' own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arcoforge.pipeline.context import RunContext


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
    if unread and not ctx.kept_headers:
        return False  # a first run (or new inputs of a published dataset): the pipeline's
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
    for found in _fetched(ctx, inputs, None if published else threads):
        if found is None:  # missing, and to be left out: the pipeline says so
            return False
        headers.add(copy_stages.input_header(ctx, *found))
    todo = copy_stages.plan_writes(ctx, headers)
    if todo and published:
        return False  # never: a published dataset is up to date, or refused
    publish_outputs(ctx, [(COPY, _write_all(ctx, todo, threads or 1) if todo else 0)])
    return True


def _fetched(ctx: RunContext, inputs: list[Any], threads: int | None) -> list[Any]:
    """:func:`~arcoforge.pipeline.copy_stages.fetch_batch` of ``inputs``: at once (one
    round of HEAD requests), or batch by batch on ``threads`` threads as the pipeline's
    workers fetch them (headers left to read, chunks written early)."""
    from arcoforge.pipeline.batches import copy_batches
    from arcoforge.pipeline.copy_stages import fetch_batch

    if threads is None:
        return fetch_batch(ctx, inputs)
    found = _on_threads(fetch_batch, ctx, copy_batches(ctx, inputs), threads)
    return [one for batch in found for one in batch]


def _write_all(ctx: RunContext, todo: list[Any], threads: int) -> int:
    """Write the tasks ``todo`` on ``threads`` threads; the bytes written."""
    from arcoforge.pipeline.copy_stages import write_within_memory

    return sum(_on_threads(write_within_memory, ctx, todo, threads))


def _on_threads[T](
    fn: Callable[[RunContext, Any], T], ctx: RunContext, items: list[Any], threads: int
) -> list[T]:
    """``fn(ctx, item)`` for each of ``items``, on ``threads`` threads, in order. On the
    first failure (or Ctrl-C) the items not started are dropped and those running finish."""
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="arcoforge-finish") as pool:
        futures = [pool.submit(fn, ctx, item) for item in items]
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()
