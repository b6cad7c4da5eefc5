"""How and where a run goes: the options a person gives, and the settings they make."""

from __future__ import annotations

import importlib.metadata
import os
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.remote import RemoteOptions
from arcoforge.pipeline.runners import RunnerName, default_workers
from arcoforge.pipeline.slots import memory_share
from arcoforge.pipeline.untrusted import source_options
from arcoforge.recipe.urls import OUTPUT_SCHEMES, validate_url
from arcoforge.recipe.validated import Recipe
from arcoforge.sources.addresses import untrusted_policy
from arcoforge.sources.retry import DEFAULT_MAX_CONCURRENCY, RetryPolicy, share

DEFAULT_OUTPUT = "forge-output"
DEFAULT_MAX_MEMORY = 2 * 10**9


@dataclass(frozen=True)
class RunOptions:
    """How and where to run a recipe."""

    output: str = DEFAULT_OUTPUT
    prune: int | None = None
    runner: RunnerName = RunnerName.DIRECT
    #: worker processes; None: one per core, or none for a DirectRunner run that only
    #: writes references (see :func:`workers_for`)
    workers: int | None = None
    scheduler: str | None = None
    max_memory: int = DEFAULT_MAX_MEMORY
    cache: str | None = None
    overwrite: bool = False
    #: append only the inputs that are new since the outputs were made
    update: bool = False
    storage_options: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: write a copy's chunks even if they are under 16 KiB (see arcoforge.plan.small)
    allow_small_chunks: bool = False
    #: a recipe from a stranger: public https/ftp/anonymous s3/gs sources only, no
    #: credentials (see arcoforge.pipeline.untrusted)
    untrusted: bool = False
    #: the settings of a Dataflow or Flink run (see arcoforge.pipeline.remote)
    remote: RemoteOptions = field(default_factory=RemoteOptions)


def output_root(output: str) -> str:
    """``output`` as an absolute local path, or a validated URL."""
    if "://" in output:
        return validate_url(output, where="--output", schemes=OUTPUT_SCHEMES).rstrip("/")
    return os.path.abspath(output)


def run_context(recipe: Recipe, options: RunOptions) -> tuple[RunContext, list[Any]]:
    """The settings of a run of ``recipe``, and its inputs (index, URL)."""
    pattern = recipe.pattern.prune(options.prune) if options.prune else recipe.pattern
    inputs = list(pattern.items())
    root = output_root(options.output)
    references = recipe.outputs.references
    references_only = recipe.outputs.zarr is None
    policy = untrusted_policy() if options.untrusted else None
    ctx = RunContext(
        recipe_id=recipe.id,
        fingerprint=recipe.fingerprint,
        sources_fingerprint=recipe.sources_fingerprint,
        target_url=f"{root}/{recipe.id}.zarr",
        state_url=f"{root}/.forge/{recipe.id}",
        cache_url=options.cache or f"{root}/.forge/cache",
        # a cache asked for is used for every input; without one, inputs that can be
        # are read by byte range
        read_by_range=options.cache is None,
        output=recipe.outputs.zarr,
        references=references,
        references_url=f"{root}/{recipe.id}{references.suffix}" if references else "",
        concat_dims=tuple(d.name for d in pattern.concat_dims),
        merge_dims=tuple(d.name for d in pattern.merge_dims),
        items_per_file={d.name: d.items_per_file for d in pattern.concat_dims},
        file_type=pattern.file_type,
        source_options=source_options(pattern, untrusted=options.untrusted),
        storage_options=options.storage_options,
        preprocess=recipe.preprocess,
        budget=options.max_memory,
        overwrite=options.overwrite,
        update=options.update,
        pruned=options.prune is not None,
        retry=polite(options, pattern.max_concurrency, references_only=references_only),
        on_missing=pattern.on_missing,
        version=importlib.metadata.version("arcoforge"),
        run_id=uuid.uuid4().hex,
        worker_memory=worker_memory(options, references_only=references_only),
        auth=pattern.auth,
        policy=policy,
    )
    return ctx, inputs


def workers_for(options: RunOptions, *, references_only: bool) -> int:
    """The worker processes of a run: as asked, or one per core.

    A DirectRunner run that only writes references reads headers in this process:
    starting worker processes (each importing the stack) costs more than a thousand
    headers take to read here (bench/README.md, *Measurements behind the design*).
    """
    if options.workers is not None:
        return options.workers
    if references_only and options.runner is RunnerName.DIRECT:
        return 1
    return default_workers()


def polite(options: RunOptions, limit: int | None, *, references_only: bool) -> RetryPolicy:
    """The run's retry policy with each worker's share of the per-host limit (limit ÷ workers)."""
    workers = workers_for(options, references_only=references_only)
    return replace(options.retry, per_host=share(limit or DEFAULT_MAX_CONCURRENCY, workers))


#: Copies of at most this many bytes of inputs run in the launcher's process: starting a
#: DirectRunner worker process costs about 2 CPU seconds (it imports Beam and the
#: stack), more than such a copy takes on one core (bench/README.md, *Start-up*).
IN_PROCESS_BYTES = 256 * 10**6


def in_process(options: RunOptions, first_size: int | None, inputs: int) -> bool:
    """Whether a copy is small enough to run without worker processes, judging by the
    size of its first input (when read) times the number of inputs."""
    if options.workers is not None or options.runner is not RunnerName.DIRECT:
        return False
    return first_size is not None and first_size * inputs <= IN_PROCESS_BYTES


def worker_memory(options: RunOptions, *, references_only: bool) -> int:
    """Each local worker's share of this machine's memory; 0 on a cluster."""
    if options.scheduler is not None or options.runner in (RunnerName.DATAFLOW, RunnerName.FLINK):
        return 0
    return memory_share(workers_for(options, references_only=references_only))
