"""Running a recipe: check it, hold its lease, run its pipeline, gather the results."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from arcoforge.conditional import Conditional
from arcoforge.errors import ForgeError, PipelineError, origin
from arcoforge.lease import Lease
from arcoforge.location import Location
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.finish import finished_here
from arcoforge.pipeline.headstart import head_start
from arcoforge.pipeline.lazy_dask import defer_dask_array
from arcoforge.pipeline.preflight import check_copy_chunks
from arcoforge.pipeline.remote import check_remote
from arcoforge.pipeline.runners import RunnerName, runner
from arcoforge.pipeline.state import REFERENCES_RESULT
from arcoforge.pipeline.untrusted import check_sources
from arcoforge.recipe.latest import resolve_latest
from arcoforge.recipe.validated import Recipe
from arcoforge.running.options import (
    RunOptions,
    in_process,
    output_root,
    run_context,
    worker_memory,
    workers_for,
)
from arcoforge.running.progress import Poller, Progress
from arcoforge.running.results import Output, ReferencesResult, RunResult, ZarrResult, read_result
from arcoforge.sources.retry import DEFAULT_MAX_CONCURRENCY


def run_recipe(
    recipe: Recipe,
    options: RunOptions = RunOptions(),
    *,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run ``recipe`` to completion and return what it made; raises a ForgeError on failure.

    The run holds a lease on its outputs while it works (see :mod:`arcoforge.lease`): a
    second run of the same recipe into the same root refuses at once, naming this one.
    """
    start = time.monotonic()
    defer_dask_array()  # a copy makes no dask array: it need not import dask.array
    check_remote(options.runner, options.remote, output=options.output, cache=options.cache)
    recipe = resolve_latest(recipe)  # `end: latest`: the newest input there is now
    ctx, inputs = run_context(recipe, options)
    check_sources(recipe, ctx, inputs)
    first = None
    if ctx.output is not None and not options.allow_small_chunks:
        pattern = recipe.pattern.prune(options.prune) if options.prune else recipe.pattern
        first = check_copy_chunks(
            pattern, ctx.output, storage_options=ctx.source_options, retry=ctx.retry
        )
        if in_process(options, None if first is None else first.size, len(inputs)):
            options = replace(options, workers=1)
            ctx = replace(ctx, worker_memory=worker_memory(options, references_only=False))
    # A copy read by range spends its time fetching, inflating and compressing, all with
    # the GIL released: its workers run as threads of this process, sparing each a process
    # that imports the stack (bench/README.md, *Worker threads*). HDF5 holds a lock per
    # process: copies that read every input through it (the input cache, or headers
    # without a probe, each parsed in full) keep worker processes.
    threads = (
        first is not None and first.probed and bool(inputs) and ctx.reads_by_range(inputs[0][1])
    )
    if threads:  # one process for every worker: the whole per-host limit is its share
        limit = recipe.pattern.max_concurrency or DEFAULT_MAX_CONCURRENCY
        ctx = replace(ctx, retry=replace(ctx.retry, per_host=limit))
    if _threads_here(options, threads) is not None:  # its edges are fetched by a child
        from arcoforge.sources.fastheaders.prefetch import FEEDS

        # with the settings the fetch stage asks for (other settings replace the child)
        FEEDS.warm(ctx.source_options, ctx.retry)
    if ctx.output is not None:  # batches may write their chunks as soon as they are parsed
        from arcoforge.pipeline.early import early_length

        ctx = replace(ctx, early_length=early_length(ctx, inputs))
    root = Location(output_root(options.output), options.storage_options)
    if not Conditional.supports(root):  # no conditional writes there: no lease either
        return _run(recipe, ctx, inputs, options, on_progress, start, threads)
    with Lease(root, f".forge/leases/{recipe.id}.json"):
        return _run(recipe, ctx, inputs, options, on_progress, start, threads)


def _run(
    recipe: Recipe,
    ctx: RunContext,
    inputs: list[Any],
    options: RunOptions,
    on_progress: Callable[[Progress], None] | None,
    start: float,
    threads: bool,
) -> RunResult:
    state = ctx.state()
    for stale in ("error.json", "result.json", REFERENCES_RESULT, "fetched", "virtual", "missing"):
        state.remove(stale)
    if ctx.output is not None:  # decided once, before this run keeps headers of its own
        ctx = replace(ctx, kept_headers=bool(state.marks("headers")))
    marker = "fetched" if ctx.output is not None else "virtual"
    poller = (
        Poller(state, ctx.run_id, len(inputs), on_progress, marker=marker) if on_progress else None
    )
    log_path = os.path.join(tempfile.gettempdir(), f"arcoforge-{recipe.id}-{ctx.run_id[:8]}.log")
    keep_log = False
    try:
        if poller:
            poller.start()
        # a copy up to date, or resumed after its headers, needs no pipeline
        here = _threads_here(options, threads)
        if not finished_here(ctx, inputs, here):
            with head_start(ctx, inputs, here):  # its first batches, while Beam starts
                _execute(inputs, ctx, options, log_path, threads)
    except ForgeError as e:
        reported = state.error()
        if reported is not None and type(reported) is type(e):
            # as the stage reported it: in-process, Beam appends "[while running …]" to it
            raise reported from e
        raise
    except Exception as e:
        if _interrupted(e):  # in-process, Beam re-raises Ctrl-C as a RuntimeError
            raise KeyboardInterrupt from None
        reported = state.error()
        if reported is not None:
            raise reported from e  # the chain keeps the worker's traceback for --debug
        keep_log = os.path.exists(log_path)  # an unexpected failure: its details are there
        logs = f" Worker logs: {log_path}" if keep_log else ""
        raise PipelineError(f"{_last_line(e)}{logs}", where=origin(e)) from e
    finally:
        if poller:
            poller.stop()
        if not keep_log and os.path.exists(log_path):
            os.remove(log_path)
    outputs: list[Output] = []
    dataset: dict[str, Any] = {}
    if ctx.output is not None:
        dataset = read_result(state, "result.json")
        outputs.append(ZarrResult.from_state(dataset))
    if ctx.references is not None:
        virtual = read_result(state, REFERENCES_RESULT)
        outputs.append(ReferencesResult.from_state(virtual))
        dataset = dataset or virtual
    state.clear()
    if poller:
        # the bytes the inputs took, as the run counted them (its markers are gone)
        read = dataset.get("input_bytes" if ctx.output is not None else "header_bytes")
        poller.finish(
            dataset.get("tasks", 0), dataset["nbytes"] if ctx.output else 0, input_bytes=read
        )
    return RunResult(
        id=recipe.id,
        inputs=dataset["inputs"],
        seconds=time.monotonic() - start,
        nbytes=dataset["nbytes"],
        sizes=dataset["sizes"],
        variables=dataset["variables"],
        outputs=tuple(outputs),
    )


def _threads_here(options: RunOptions, threads: bool) -> int | None:
    """The worker threads a DirectRunner copy would run in this process, else None."""
    if not threads or options.runner is not RunnerName.DIRECT:
        return None
    return workers_for(options, references_only=False)


def _execute(
    inputs: list[Any], ctx: RunContext, options: RunOptions, log_path: str, threads: bool
) -> None:
    from arcoforge.pipeline.quiet import beam
    from arcoforge.pipeline.transforms import build

    workers = workers_for(options, references_only=ctx.output is None)
    with runner(
        options.runner,
        workers=workers,
        scheduler=options.scheduler,
        log_path=log_path,
        remote=options.remote,
        threads=threads,
    ) as (beam_runner, beam_options):
        pipeline = beam.Pipeline(runner=beam_runner, options=beam_options)
        build(pipeline, inputs, ctx)
        result = pipeline.run()
        try:
            result.wait_until_finish()
        finally:
            client = getattr(result, "client", None)
            if client is not None:
                client.close()


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` was raised while handling a KeyboardInterrupt."""
    seen: set[int] = set()
    found: BaseException | None = error
    while found is not None and id(found) not in seen:
        if isinstance(found, KeyboardInterrupt):
            return True
        seen.add(id(found))
        found = found.__cause__ or found.__context__
    return False


def _last_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
