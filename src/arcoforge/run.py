"""Running a recipe: build its pipeline, run it on a runner, report progress and the result."""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import astuple, dataclass, field, replace
from typing import Any

from arcoforge.conditional import Conditional
from arcoforge.errors import ForgeError, PipelineError, origin
from arcoforge.lease import Lease
from arcoforge.location import Location
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.remote import RemoteOptions, check_remote
from arcoforge.pipeline.runners import RunnerName, default_workers, runner
from arcoforge.pipeline.slots import memory_share
from arcoforge.pipeline.state import REFERENCES_RESULT, RunState
from arcoforge.pipeline.transforms import build
from arcoforge.recipe.latest import resolve_latest
from arcoforge.recipe.recipe import Recipe
from arcoforge.recipe.urls import OUTPUT_SCHEMES, validate_url
from arcoforge.sources.addresses import untrusted_policy
from arcoforge.sources.preview import check_copy_chunks
from arcoforge.sources.retry import DEFAULT_MAX_CONCURRENCY, RetryPolicy, share
from arcoforge.sources.untrusted import check_sources, source_options

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
    #: credentials (see arcoforge.sources.untrusted)
    untrusted: bool = False
    #: the settings of a Dataflow or Flink run (see arcoforge.pipeline.remote)
    remote: RemoteOptions = field(default_factory=RemoteOptions)


@dataclass(frozen=True)
class Progress:
    """How far a run has got."""

    inputs_done: int
    inputs_total: int
    input_bytes: int
    tasks_done: int
    tasks_total: int | None
    bytes_done: int
    bytes_total: int | None


@dataclass(frozen=True)
class ZarrResult:
    """The Zarr copy a run made."""

    url: str
    zarr_format: int
    compression: str
    up_to_date: bool
    tasks: int
    skipped: int
    bytes_written: int
    stored_bytes: int
    #: the summary of the input manifest recorded in it: count and total bytes
    manifest: dict[str, int] = field(default_factory=dict)
    #: with --update: how many inputs were appended (0: it was up to date)
    appended: int | None = None
    #: inputs left out as missing (``on_missing: skip``): ``{index, url}`` each
    missing: tuple[dict[str, str], ...] = ()

    kind = "zarr"

    @classmethod
    def from_state(cls, doc: dict[str, Any]) -> ZarrResult:
        """The result the publishing stage recorded in the run state."""
        return cls(
            url=doc["url"],
            zarr_format=doc["zarr_format"],
            compression=doc["compression"],
            up_to_date=doc["up_to_date"],
            tasks=doc["tasks"],
            skipped=doc["skipped"],
            bytes_written=doc["written"],
            stored_bytes=doc["stored_bytes"],
            manifest=doc.get("manifest", {}),
            appended=doc.get("appended"),
            missing=tuple(doc.get("missing") or ()),
        )

    @property
    def open_code(self) -> str:
        """The line of Python that opens it."""
        return f'xr.open_zarr("{self.url}")'

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "zarr_format": self.zarr_format,
            "compression": self.compression,
            "up_to_date": self.up_to_date,
            "tasks": self.tasks,
            "tasks_skipped": self.skipped,
            "bytes_written": self.bytes_written,
            "stored_bytes": self.stored_bytes,
            "manifest": self.manifest,
            **({} if self.appended is None else {"appended": self.appended}),
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class ReferencesResult:
    """The virtual dataset a run made: Kerchunk JSON or Parquet, or an Icechunk repository."""

    url: str
    format: str
    up_to_date: bool
    references: int
    stored_bytes: int
    prefixes: tuple[str, ...]
    snapshot: str | None = None
    #: the summary of the input manifest recorded in it: count and total bytes
    manifest: dict[str, int] = field(default_factory=dict)
    #: Icechunk: how many chunks are virtual and how many were written from the inputs
    chunks: dict[str, int] | None = None
    #: with --update: how many inputs were appended (0: it was up to date)
    appended: int | None = None
    #: inputs left out as missing (``on_missing: skip``): ``{index, url}`` each
    missing: tuple[dict[str, str], ...] = ()

    kind = "references"

    @classmethod
    def from_state(cls, doc: dict[str, Any]) -> ReferencesResult:
        """The result the references stage recorded in the run state."""
        return cls(
            url=doc["url"],
            format=doc["format"],
            up_to_date=doc["up_to_date"],
            references=doc["references"],
            stored_bytes=doc["stored_bytes"],
            prefixes=tuple(doc["prefixes"]),
            snapshot=doc.get("snapshot"),
            manifest=doc.get("manifest", {}),
            chunks=doc.get("chunks"),
            appended=doc.get("appended"),
            missing=tuple(doc.get("missing") or ()),
        )

    @property
    def open_code(self) -> str:
        """The line of Python that opens it."""
        if self.format == "json":
            return f'xr.open_dataset("{self.url}", engine="kerchunk")'
        # Parquet references are versions behind a pointer, which xarray cannot follow.
        return f'arcoforge.open_dataset("{self.url}")'

    def to_json(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "format": self.format,
            "url": self.url,
            "up_to_date": self.up_to_date,
            "references": self.references,
            "stored_bytes": self.stored_bytes,
            "sources": list(self.prefixes),
            "manifest": self.manifest,
        }
        if self.snapshot is not None:
            out["snapshot"] = self.snapshot
        if self.chunks is not None:
            out["chunks"] = dict(self.chunks)
        if self.appended is not None:
            out["appended"] = self.appended
        return out


Output = ZarrResult | ReferencesResult


@dataclass(frozen=True)
class RunResult:
    """What a run made: one result per output, and the dataset they hold."""

    id: str
    inputs: int
    seconds: float
    nbytes: int
    sizes: dict[str, int]
    variables: dict[str, Any]
    outputs: tuple[Output, ...]

    @property
    def up_to_date(self) -> bool:
        """Whether every output was already up to date, so nothing was written."""
        return all(o.up_to_date for o in self.outputs)

    @property
    def zarr(self) -> ZarrResult | None:
        return next((o for o in self.outputs if isinstance(o, ZarrResult)), None)

    @property
    def references(self) -> ReferencesResult | None:
        return next((o for o in self.outputs if isinstance(o, ReferencesResult)), None)

    @property
    def missing(self) -> list[dict[str, str]]:
        """The inputs left out as missing (``on_missing: skip``), ``{index, url}`` each."""
        return next((list(o.missing) for o in self.outputs if o.missing), [])

    @property
    def manifest(self) -> dict[str, int]:
        """The summary of the run's input manifest (count, bytes), as its outputs record it.

        Every output records the same inputs; a copy's manifest also has their SHA-256.
        """
        return next((o.manifest for o in self.outputs if o.manifest), {})

    @property
    def appended(self) -> int | None:
        """With --update: the inputs appended (the most any output took); None otherwise."""
        found = [o.appended for o in self.outputs if o.appended is not None]
        return max(found) if found else None

    def to_json(self) -> dict[str, Any]:
        appended = self.appended
        return {
            **({} if appended is None else {"appended": appended}),
            "id": self.id,
            "outputs": [o.to_json() for o in self.outputs],
            "inputs": self.inputs,
            "manifest": self.manifest,
            "missing": self.missing,
            "seconds": round(self.seconds, 3),
            "up_to_date": self.up_to_date,
            "nbytes": self.nbytes,
            "sizes": self.sizes,
            "variables": self.variables,
        }


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
        retry=_polite(options, pattern.max_concurrency, references_only=references_only),
        on_missing=pattern.on_missing,
        version=importlib.metadata.version("arcoforge"),
        run_id=uuid.uuid4().hex,
        worker_memory=_worker_memory(options, references_only=references_only),
        auth=pattern.auth,
        policy=policy,
    )
    return ctx, inputs


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
    check_remote(options.runner, options.remote, output=options.output, cache=options.cache)
    recipe = resolve_latest(recipe)  # `end: latest`: the newest input there is now
    ctx, inputs = run_context(recipe, options)
    check_sources(recipe, ctx, inputs)
    if ctx.output is not None and not options.allow_small_chunks:
        pattern = recipe.pattern.prune(options.prune) if options.prune else recipe.pattern
        first = check_copy_chunks(
            pattern, ctx.output, storage_options=ctx.source_options, retry=ctx.retry
        )
        if _in_process(options, first, len(inputs)):
            options = replace(options, workers=1)
            ctx = replace(ctx, worker_memory=_worker_memory(options, references_only=False))
    root = Location(output_root(options.output), options.storage_options)
    if not Conditional.supports(root):  # no conditional writes there: no lease either
        return _run(recipe, ctx, inputs, options, on_progress, start)
    with Lease(root, f".forge/leases/{recipe.id}.json"):
        return _run(recipe, ctx, inputs, options, on_progress, start)


def _run(
    recipe: Recipe,
    ctx: RunContext,
    inputs: list[Any],
    options: RunOptions,
    on_progress: Callable[[Progress], None] | None,
    start: float,
) -> RunResult:
    state = ctx.state()
    for stale in ("error.json", "result.json", REFERENCES_RESULT, "fetched", "virtual", "missing"):
        state.remove(stale)
    marker = "fetched" if ctx.output is not None else "virtual"
    poller = (
        _Poller(state, ctx.run_id, len(inputs), on_progress, marker=marker) if on_progress else None
    )
    log_path = os.path.join(tempfile.gettempdir(), f"arcoforge-{recipe.id}-{ctx.run_id[:8]}.log")
    keep_log = False
    try:
        if poller:
            poller.start()
        _execute(inputs, ctx, options, log_path)
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
        dataset = _read_result(state, "result.json")
        outputs.append(ZarrResult.from_state(dataset))
    if ctx.references is not None:
        virtual = _read_result(state, REFERENCES_RESULT)
        outputs.append(ReferencesResult.from_state(virtual))
        dataset = dataset or virtual
    state.clear()
    if poller:
        headers = None if ctx.output is not None else dataset.get("header_bytes")
        poller.finish(
            dataset.get("tasks", 0), dataset["nbytes"] if ctx.output else 0, input_bytes=headers
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


def _read_result(state: RunState, name: str) -> dict[str, Any]:
    result = state.read_json(name)
    if result is None:
        raise state.error() or PipelineError("the pipeline ended without publishing a result.")
    return dict(result)


def _execute(inputs: list[Any], ctx: RunContext, options: RunOptions, log_path: str) -> None:
    import apache_beam as beam

    workers = workers_for(options, references_only=ctx.output is None)
    with runner(
        options.runner,
        workers=workers,
        scheduler=options.scheduler,
        log_path=log_path,
        remote=options.remote,
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


def _polite(options: RunOptions, limit: int | None, *, references_only: bool) -> RetryPolicy:
    """The run's retry policy with each worker's share of the per-host limit (limit ÷ workers)."""
    workers = workers_for(options, references_only=references_only)
    return replace(options.retry, per_host=share(limit or DEFAULT_MAX_CONCURRENCY, workers))


#: Copies of at most this many bytes of inputs run in the launcher's process: starting a
#: DirectRunner worker process costs about 2 CPU seconds (it imports Beam and the
#: stack), more than such a copy takes on one core (bench/README.md, *Start-up*).
IN_PROCESS_BYTES = 256 * 10**6


def _in_process(options: RunOptions, first_size: int | None, inputs: int) -> bool:
    """Whether a copy is small enough to run without worker processes, judging by the
    size of its first input (when read) times the number of inputs."""
    if options.workers is not None or options.runner is not RunnerName.DIRECT:
        return False
    return first_size is not None and first_size * inputs <= IN_PROCESS_BYTES


def _worker_memory(options: RunOptions, *, references_only: bool) -> int:
    """Each local worker's share of this machine's memory; 0 on a cluster."""
    if options.scheduler is not None or options.runner in (RunnerName.DATAFLOW, RunnerName.FLINK):
        return 0
    return memory_share(workers_for(options, references_only=references_only))


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


class _Poller:
    """Reads the run state's markers in the background and reports progress."""

    def __init__(
        self,
        state: RunState,
        run_id: str,
        total: int,
        callback: Callable[[Progress], None],
        *,
        marker: str = "fetched",
    ):
        self.state, self.run_id, self.total, self.callback = state, run_id, total, callback
        self.marker = marker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="forge-progress", daemon=True)
        self._tasks: dict[str, int] | None = None
        self._last: Progress | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self._report(self.poll())
            except Exception:  # progress is best effort; the run's outcome is what counts
                continue

    def _report(self, p: Progress) -> None:
        """Report ``p``, never going backwards (finished runs remove their markers)."""
        if self._last is not None:
            p = Progress(*map(_larger, astuple(p), astuple(self._last)))
        self._last = p
        self.callback(p)

    def finish(self, tasks: int, nbytes: int, *, input_bytes: int | None = None) -> None:
        """Report the end of a successful run (with the bytes fetched, where known)."""
        last = self._last
        fetched = max(input_bytes or 0, last.input_bytes if last else 0)
        self.callback(Progress(self.total, self.total, fetched, tasks, tasks, nbytes, nbytes))

    def poll(self) -> Progress:
        fetched = self.state.marks(self.marker)
        if self.marker == "virtual":  # <key>.<inputs>.<bytes of their headers>
            counts = [name.rsplit(".", 2)[1:] for name in fetched]
            inputs, sizes = sum(int(n) for n, _ in counts), [int(b) for _, b in counts]
        else:  # <key>.<bytes>
            sizes = [int(name.rsplit(".", 1)[-1]) for name in fetched]
            inputs = len(fetched)
        if self._tasks is None:
            plan = self.state.read_json("plan.json")
            if (
                plan
                and plan.get("run") == self.run_id
                and plan["status"] in ("ready", "up_to_date")
            ):
                self._tasks = plan["tasks"]
        done = self.state.marks("done") if self._tasks is not None else set()
        tasks = self._tasks
        return Progress(
            inputs_done=inputs,
            inputs_total=self.total,
            input_bytes=sum(sizes),
            tasks_done=len(done & tasks.keys()) if tasks is not None else 0,
            tasks_total=len(tasks) if tasks is not None else None,
            bytes_done=sum(tasks[k] for k in done if k in tasks) if tasks is not None else 0,
            bytes_total=sum(tasks.values()) if tasks is not None else None,
        )


def _larger[T: int | None](a: T, b: T) -> T:
    if a is None or b is None:
        return b if a is None else a
    return max(a, b)
