"""The copy's pipeline stages, and helpers the virtual ones share, as plain functions."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from arcoforge.errors import (
    ForgeError,
    IncompatibleInputsError,
    InternalError,
    PipelineError,
    SourceError,
    SourceNotFoundError,
    TargetExistsError,
    UpdateRefusedError,
    origin,
)
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.copy_blocks import read_blocks
from arcoforge.pipeline.early import EARLY, adopted
from arcoforge.pipeline.known import (
    Asked,
    head_identities,
    header_name,
    keep_headers,
    known_header,
    known_input,
    may_be_kept,
    remember,
    resumed_header,
    state_header,
)
from arcoforge.pipeline.state import RunState, counted
from arcoforge.plan.copy_plan import Plan, TaskWork, WriteVar, make_plan
from arcoforge.recipe.pattern import Index, OnMissing
from arcoforge.sources.cache import CachedInput, cache_key
from arcoforge.sources.fastheaders.edges import RangeFile
from arcoforge.sources.fastheaders.prefetch import FEEDS
from arcoforge.sources.fastheaders.repeated import Repeats
from arcoforge.sources.headers import HeaderSet, InputHeader, read_header
from arcoforge.sources.hosts import whole_hosts
from arcoforge.sources.manifest import Manifest
from arcoforge.targets.manifest import check_output
from arcoforge.targets.zarr import ARRAY_DOCS, StagedStore, Status, ZarrTarget, root_documents

#: Root attributes that record how a dataset was made.
PLAN_ATTR = "arcoforge_plan"
#: The run-state document holding the manifest of the inputs the plan was made from.
MANIFEST = "manifest.json"
#: The run-state document of an update (see arcoforge.pipeline.growing).
GROW = "grow.json"
#: The run-state folder recording the inputs left out (``on_missing: skip``).
MISSING = "missing"


@contextmanager
def reporting(state: RunState, doing: str) -> Iterator[None]:
    """Record the first failure in the run state, so the launcher can show it plainly."""
    try:
        yield
    except ForgeError as e:
        e.where = e.where or f"{doing} ({origin(e)})"
        state.report(e)
        raise
    except Exception as e:
        state.report(InternalError(f"{doing} failed with {type(e).__name__}: {e}", where=origin(e)))
        raise


#: Headers parsed while their input was opened by range, for the header stage that runs
#: next in the same process (fused with the fetch); taken once. Each says whether the
#: run state keeps it already.
_PARSED: dict[tuple[Index, str], tuple[InputHeader, bool]] = {}


def fetch_batch(
    ctx: RunContext, batch: list[tuple[Index, str]]
) -> list[tuple[Index, CachedInput] | None]:
    """:func:`fetch_input` for each input of ``batch``, in order.

    The edges of inputs read by range for the first time are fetched by this process's
    :class:`~arcoforge.sources.fastheaders.prefetch.EdgePrefetcher`, ahead of the parse
    that takes them one after another. The other inputs (cached whole, or asked for
    their identity first), and any that could not be read that way, are fetched on
    threads afterwards, so that requests keep to the per-host limit.
    """
    ranged = [(i, u) for i, u in batch if ctx.reads_by_range(u)]
    streamed = [(i, u) for i, u in ranged if not may_be_kept(ctx, u)]
    found, rest = _read_streamed(ctx, streamed) if streamed else ({}, [])
    rest += [(i, u) for i, u in batch if (i, u) not in streamed]
    # inputs that may have kept headers are asked for their identity together first
    known = [u for i, u in ranged if (i, u) not in streamed]
    asked = head_identities(ctx, known) if known else {}
    with ThreadPoolExecutor(max_workers=max(1, min(len(rest), ctx.fetch_concurrency))) as pool:
        done = pool.map(lambda item: fetch_input(ctx, item[0], item[1], asked.get(item[1])), rest)
        found.update(zip((i for i, _ in rest), done, strict=True))
    return [found[index] for index, _ in batch]


def _read_streamed(
    ctx: RunContext, items: list[tuple[Index, str]]
) -> tuple[dict[Index, tuple[Index, CachedInput] | None], list[tuple[Index, str]]]:
    """The inputs of ``items`` read from edges the prefetcher fetched, and those left to
    :func:`fetch_input` (their edges not fetched, or not readable by range).

    The prefetcher takes this process's every place for the hosts (see
    :func:`~arcoforge.sources.hosts.whole_hosts`). The first input is asked alone: if it
    is left (a server that ignores Range, a netCDF3 archive), so are all the others.
    """
    urls = [url for _, url in items]
    found: dict[Index, tuple[Index, CachedInput] | None] = {}
    read: list[InputHeader] = []
    left: list[tuple[Index, str]] = []
    with FEEDS.lent(ctx.source_options, ctx.retry) as feed:
        # the host's places are held while the helper fetches, not while this one parses:
        # another thread's chunk reads (see pipeline.early) go on meanwhile
        with whole_hosts(urls, ctx.retry.per_host):
            head = next(feed.fetch(urls[:1]))
        if isinstance(head, BaseException) or not _read_edges(ctx, *items[0], head, read):
            return found, items
        with whole_hosts(urls, ctx.retry.per_host):
            fetched_edges = list(feed.fetch(urls[1:]))
        for (index, url), edges in zip(items[1:], fetched_edges, strict=True):
            if isinstance(edges, BaseException) or not _read_edges(ctx, index, url, edges, read):
                left.append((index, url))
    # kept, and marked, once for the batch: a file each would cost more than the parse
    keep_headers(ctx, read)
    fetched = sum(h.input.size for h in read)
    ctx.state().mark("fetched", f"{cache_key(urls[0])}.{len(read)}.{fetched}")
    found.update((h.index, (h.index, h.input)) for h in read)
    if ctx.early_length and read:
        from arcoforge.pipeline.early import write_early

        with reporting(ctx.state(), f"writing the chunks of {len(read)} inputs from {urls[0]}"):
            write_early(ctx, read)
    return found, left


def _read_edges(
    ctx: RunContext, index: Index, url: str, edges: RangeFile, read: list[InputHeader]
) -> bool:
    """Read one input by range from its fetched ``edges``, its header added to ``read``;
    False if :func:`fetch_input` must read it (to cache it, or to name or skip a source
    error)."""
    with reporting(ctx.state(), f"fetching input {index} ({url})"):
        try:
            found = _open_ranged(ctx, index, url, edges)
        except SourceError as e:
            if is_missing(e):
                return False
            raise
        if found is None:
            return False
        _PARSED[(index, url)] = (found[1], True)
        read.append(found[1])
        return True


def fetch_input(
    ctx: RunContext, index: Index, url: str, asked: Asked = None
) -> tuple[Index, CachedInput] | None:
    """Open one input by range (its header parsed), or cache it; leave a progress marker
    named after it and its size. ``asked``: the answer of a HEAD request made already.

    With ``on_missing: skip``, an input still missing after the retries is recorded
    in the run state (see :func:`missing_inputs`) and None is returned.
    """
    with reporting(ctx.state(), f"fetching input {index} ({url})"):
        ranged = ctx.reads_by_range(url)
        kept = known_input(ctx, index, url, asked) if ranged else None
        if kept is not None:  # a recorded input, unchanged: its header is kept
            ctx.state().mark("fetched", f"{cache_key(url)}.1.{kept.size}")
            return index, kept
        resumed = resumed_header(ctx, index, url, asked) if ranged else None
        if resumed is not None:  # read by an unfinished run, unchanged since
            _PARSED[(index, url)] = (resumed, True)
            ctx.state().mark("fetched", f"{cache_key(url)}.1.{resumed.input.size}")
            return index, resumed.input
        try:
            found = _open_ranged(ctx, index, url)
            if found is not None:
                cached, header = found
                _PARSED[(index, url)] = (header, False)
            else:
                cached = ctx.cache().fetch(
                    url,
                    file_type=ctx.file_type,
                    storage_options=ctx.source_options,
                    retry=ctx.retry,
                    guard=ctx.guard(),
                )
        except SourceError as e:
            if ctx.on_missing is not OnMissing.SKIP or not is_missing(e):
                raise
            record_missing(ctx.state(), index, url, e)
            return None
        ctx.state().mark("fetched", f"{cache_key(url)}.1.{cached.size}")
        return index, cached


def is_missing(error: SourceError) -> bool:
    """Whether ``error`` says an input is not there (not found, or not fetched in all
    the attempts), rather than there and wrong (format, access, a mistyped host)."""
    return type(error) in (SourceError, SourceNotFoundError)


def record_missing(state: RunState, index: Index, url: str, error: SourceError) -> None:
    """Note in the run state an input left out of the run (``on_missing: skip``)."""
    entry = {"index": str(index), "url": url, "reason": str(error)}
    state.write_json(f"{MISSING}/{cache_key(url)}.json", entry)


def missing_inputs(state: RunState) -> list[dict[str, str]]:
    """The inputs this run left out, in input order (see :func:`record_missing`)."""
    found = [state.read_json(f"{MISSING}/{name}") for name in state.marks(MISSING)]
    return sorted((e for e in found if e), key=lambda e: _index_order(e["index"]))


def gaps_of(
    missing: list[dict[str, str]], concat_dims: tuple[str, ...]
) -> dict[str, dict[int, str]]:
    """The positions along each concat dim of the inputs left out, with their URLs.

    Only a recipe with one concat dim has gaps that fill values can stand for.
    """
    if len(concat_dims) != 1:
        return {}
    dim = concat_dims[0]
    return {dim: {dict(_index_order(e["index"]))[dim]: e["url"] for e in missing}}


def _index_order(index: str) -> tuple[tuple[str, int], ...]:
    return tuple(
        (name, int(pos)) for name, _, pos in (part.partition("=") for part in index.split(","))
    )


def _open_ranged(
    ctx: RunContext, index: Index, url: str, edges: RangeFile | None = None
) -> tuple[CachedInput, InputHeader] | None:
    """The input read by byte range and its header, or None if it must be cached."""
    from arcoforge.sources.chunk_reads import open_ranged

    if not ctx.reads_by_range(url):
        return None
    return open_ranged(
        url,
        file_type=ctx.file_type,
        options=ctx.source_options,
        retry=ctx.retry,
        index=index,
        concat_dims=ctx.concat_dims,
        repeats=_REPEATS,
        edges=edges,
    )


#: The inputs later ones of this process may repeat (see arcoforge.sources.fastheaders.repeated).
_REPEATS = Repeats()


def input_header(ctx: RunContext, index: Index, cached: CachedInput) -> InputHeader:
    """Read one input's header, or take it from the run state if an unfinished run of the
    same recipe code read these very bytes (a resumed run pays only for the work left;
    an input read by range is then asked for its identity only, by
    :func:`~arcoforge.pipeline.known.resumed_header`)."""
    with reporting(ctx.state(), f"reading the header of {cached.url}"):
        state = ctx.state()
        name = header_name(ctx.sources_fingerprint, index, cached)
        parsed = _PARSED.pop((index, cached.url), None)
        if parsed is not None and parsed[1]:  # the state keeps it already
            return parsed[0]
        if parsed is None:
            known = known_header(ctx, index, cached)
            if known is not None:  # kept beside the states already (see pipeline.known)
                return known
        header = None if parsed is None else parsed[0]
        if header is None:
            kept = state_header(ctx, name)
            if kept is not None:
                return kept
        if header is None and cached.ranged:  # fetched in another process: parse again
            found = _open_ranged(ctx, index, cached.url)
            if found is None:
                raise PipelineError(f"{cached.url} could no longer be read by byte range.")
            header = found[1]
        if header is None:
            header = read_header(
                cached,
                index,
                concat_dims=ctx.concat_dims,
                preprocess=ctx.preprocess,
                storage_options=ctx.storage_options,
            )
        state.write_bytes(name, pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL))
        return header


def plan_writes(ctx: RunContext, headers: HeaderSet) -> list[TaskWork]:
    """Plan; then start, resume or skip the dataset; return the tasks still to run."""
    with reporting(ctx.state(), "planning"):
        remember(ctx, headers)  # for later updates (see arcoforge.pipeline.known)
        if ctx.update and ctx.target().status() is Status.PUBLISHED:
            return _plan_update(ctx, headers)
        missing = missing_inputs(ctx.state())
        state, target = ctx.state(), ctx.target()
        try:
            plan = copy_plan(ctx, headers, missing)
        except ForgeError:
            if state.marks(EARLY) and target.status() is Status.UNPUBLISHED:
                target.remove()  # chunks batches wrote early, of a dataset refused whole
                state.remove(EARLY)
            raise
        summary = plan_summary(ctx, plan)
        status = target.status()
        previous = state.read_json("plan.json")
        manifest = input_manifest(plan, missing)
        state.write_json(MANIFEST, manifest.to_dict())
        if status is Status.PUBLISHED:
            check_output(target, manifest, overwrite=ctx.overwrite)
            found = target.attrs().get(PLAN_ATTR)
            if found == plan.hash and not ctx.overwrite:
                state.write_json("plan.json", {**summary, "status": "up_to_date"})
                return []
            if not ctx.overwrite:
                raise TargetExistsError(
                    f"{ctx.target_url} already holds a dataset made from other inputs or another "
                    f"recipe (plan {str(found)[:12]}, this run's plan {plan.hash[:12]}). Nothing "
                    "was changed. Run with --overwrite to replace it, or choose another --output."
                )
        elif status is Status.UNPUBLISHED:
            resumable = previous is not None and previous.get("hash") == plan.hash
            if resumable and previous is not None and previous.get("status") == "ready":
                return _remaining(ctx, plan, summary)
            if previous is None and not ctx.overwrite and not state.marks(EARLY):
                raise TargetExistsError(
                    f"{ctx.target_url} exists but is neither a finished dataset nor an unfinished "
                    "run of this recipe, so it is left alone. Delete it, run with --overwrite, "
                    "or choose another --output."
                )
        # Recorded before anything is removed: a run killed while removing or preparing
        # leaves an unfinished run of this plan, which the next run starts afresh.
        state.remove("done")
        state.remove(GROW)
        state.remove("staged.zarr")
        state.write_json("plan.json", {**summary, "status": "preparing"})
        early = adopted(ctx, plan) if status is not Status.PUBLISHED else None
        if not early:  # a replaced dataset, or an unfinished run never published
            state.remove(EARLY)
            target.remove()
        state.write_json("root.json", target.prepare(plan))
        for key in early or ():
            state.mark("done", key)
        state.remove(EARLY)
        # the bytes of the tasks written early count as written by this run
        written = sum(t.nbytes for t in plan.tasks if t.key in (early or ()))
        state.write_json("plan.json", {**summary, "status": "ready", "early_bytes": written})
        return [plan.work(t) for t in plan.tasks if t.key not in (early or ())]


def copy_plan(
    ctx: RunContext,
    headers: HeaderSet,
    missing: list[dict[str, str]],
    pinned: dict[str, int] | None = None,
) -> Plan:
    """The copy's plan from ``headers``, with the gaps of the inputs left out as missing."""
    return make_plan(
        headers,
        output=ctx.zarr,
        budget=ctx.budget,
        fingerprint=ctx.sources_fingerprint,
        merge_dims=ctx.merge_dims,
        items_per_file=ctx.items_per_file,
        preprocessed=ctx.preprocess is not None,
        pinned=pinned,
        gaps=gaps_of(missing, ctx.concat_dims),
    )


def _plan_update(ctx: RunContext, headers: HeaderSet) -> list[TaskWork]:
    """Plan an update of the published copy: check that the inputs only append, write
    the concat coordinate's new chunks, return the tasks past the old end still to run."""
    from arcoforge.pipeline import growing

    if len(ctx.concat_dims) != 1:
        raise UpdateRefusedError(
            f"--update appends along one concat dim; this recipe has {list(ctx.concat_dims)}. "
            "Run without --update."
        )
    state, target, concat = ctx.state(), ctx.target(), ctx.concat_dims[0]
    previous = state.read_json("plan.json")
    published = growing.read_published(target)
    grow = state.read_json(GROW) or {}
    recorded = growing.recorded_manifest(target, published, grow.get("recorded"))
    missing = missing_inputs(ctx.state())
    try:
        plan = copy_plan(ctx, headers, missing, pinned=growing.pinned_chunks(published))
    except IncompatibleInputsError as e:  # the dataset's inputs combined: new ones do not
        raise UpdateRefusedError(
            f"{ctx.target_url}: the new inputs cannot extend the dataset: {e} An update "
            "only appends inputs with the dataset's variables, dtypes and grid after its "
            "last one. Run without --update, with --overwrite, to rebuild it."
        ) from e
    manifest = input_manifest(plan, missing)
    state.write_json(MANIFEST, manifest.to_dict())
    added = growing.new_inputs(ctx.target_url, recorded, manifest)
    new = added.appended
    summary = {
        **plan_summary(ctx, plan),
        "appended": len(new),
        "filled": len(added.filled),
        "update": True,
    }
    fmt = published.zarr_format
    if not added:
        # an update killed after its commit may not have rewritten the arrays' documents
        target.write_array_docs(growing.stale_arrays(target, published), fmt)
        state.remove(growing.STAGED)
        state.write_json("plan.json", {**summary, "tasks": {}, "status": "up_to_date"})
        return []
    if fmt != ctx.zarr.zarr_format:
        raise UpdateRefusedError(
            f"{ctx.target_url} is Zarr format {fmt}; the recipe asks for format "
            f"{ctx.zarr.zarr_format}. Run without --update, with --overwrite, to rebuild it."
        )
    old_length, new_length = published.length(concat), plan.schema.sizes[concat]
    growing.check_schema(ctx, plan, published)
    resumable = (
        previous is not None
        and previous.get("update")
        and previous.get("hash") == plan.hash
        and previous.get("status") == "ready"
    )
    if not resumable:  # (a resumed update was checked before it wrote what is compared)
        room = growing.gaps_hold_room(ctx)
        inserted = [] if room else growing.filled_boxes(ctx, plan, added.filled)
        growing.check_coords(ctx, plan, new, old_length, inserted)
    changed = growing.changed_ranges(ctx, plan, added.filled, new_length)
    arrays = growing.grown_arrays(published, concat, new_length)

    def region(t: Any) -> tuple[int, int]:
        found: tuple[int, int] = t.region[t.dims.index(concat)]
        return found

    tasks = [
        t
        for t in plan.tasks
        if concat in t.dims and (region(t)[1] > old_length or growing.overlaps(region(t), changed))
    ]
    # chunks readers of the published version read, whose values change: staged first
    staged = [
        t.key for t in tasks if region(t)[0] < old_length and growing.overlaps(region(t), changed)
    ]
    summary["tasks"] = {t.key: t.nbytes for t in tasks}
    if not resumable:
        state.remove("done")
        state.remove(growing.STAGED)
    state.write_json("plan.json", {**summary, "status": "preparing"})
    version = growing.next_version(published.attrs)
    state.write_json(
        GROW,
        {
            "arrays": arrays,
            "old_length": old_length,
            "version": version,
            "staged": staged,
            "recorded": recorded.to_dict(),
        },
    )
    state.write_json("root.json", root_documents(published.root, arrays, fmt))
    if concat in arrays:
        meta = arrays[concat][ARRAY_DOCS[fmt][0]]
        start = min([old_length, *(a for a, _ in changed)])
        growing.write_concat_coord(ctx, plan, published, meta, start, staged=start < old_length)
    done = state.marks("done")
    todo = [t for t in tasks if t.key not in done]
    skipped = len(tasks) - len(todo)
    state.write_json("plan.json", {**summary, "status": "ready", "skipped": skipped})
    return [plan.work(t) for t in todo]


def grown_array(ctx: RunContext, name: str) -> str | None:
    """The document of array ``name`` an update writes through; None outside updates."""
    docs = _grow_doc(ctx).get("arrays", {}).get(name)
    return None if docs is None else docs[ARRAY_DOCS[ctx.zarr.zarr_format][0]]


def _grow_doc(ctx: RunContext) -> dict[str, Any]:
    """The run-state document of the update this process writes for; empty outside one."""
    if not ctx.update:
        return {}
    key = (ctx.state_url, ctx.run_id)
    if key not in _GROWN:
        _GROWN.clear()
        _GROWN[key] = ctx.state().read_json(GROW) or {}
    return _GROWN[key]


#: The update document (see GROW) of the run a worker process is writing, read once per run.
_GROWN: dict[tuple[str, str], dict[str, Any]] = {}


def input_manifest(plan: Plan, missing: list[dict[str, str]] | None = None) -> Manifest:
    """The identities of the inputs ``plan`` was made from, in input order, and the
    inputs left out as missing (``on_missing: skip``)."""
    return Manifest(
        {str(i.index): i.input.identity() for i in plan.schema.inputs},
        missing={e["index"]: e["url"] for e in missing or []},
    )


def _remaining(ctx: RunContext, plan: Plan, summary: dict[str, Any]) -> list[TaskWork]:
    done = ctx.state().marks("done")
    todo = [t for t in plan.tasks if t.key not in done]
    skipped = len(plan.tasks) - len(todo)
    ctx.state().write_json("plan.json", {**summary, "status": "ready", "skipped": skipped})
    return [plan.work(t) for t in todo]


def plan_summary(ctx: RunContext, plan: Plan) -> dict[str, Any]:
    """What the launcher needs to show progress and the final summary."""
    schema = plan.schema
    return {
        "hash": plan.hash,
        "run": ctx.run_id,
        "url": ctx.target_url,
        "tasks": {t.key: t.nbytes for t in plan.tasks},
        "skipped": 0,
        "nbytes": plan.nbytes,
        "inputs": len(schema.inputs),
        "sizes": schema.sizes,
        "variables": {
            name: {
                "dims": list(v.dims),
                "dtype": str(v.dtype),
                "chunks": list(plan.var_chunks(v.dims)),
                "coord": v.is_coord,
            }
            for name, v in schema.variables.items()
        },
        "coords": list(schema.coords),
        "zarr_format": plan.output.zarr_format,
        "compression": plan.output.compression.value,
    }


def write_within_memory(ctx: RunContext, work: TaskWork) -> int:
    """:func:`write_task`, once this process runs fewer tasks than its memory holds of
    this one's size (the threads of one worker share its memory)."""
    from arcoforge.pipeline.slots import SLOTS, task_limit, worker_memory

    with SLOTS.hold(task_limit(worker_memory(ctx.worker_memory), work.largest)):
        return write_task(ctx, work)


def write_task(ctx: RunContext, work: TaskWork) -> int:
    """Write one task's chunks, then mark it done; returns its uncompressed bytes."""
    task = work.task
    where = ", ".join(f"{d} {a}:{b}" for d, (a, b) in zip(task.dims, task.region, strict=True))
    with reporting(ctx.state(), f"writing {', '.join(task.variables)} at {where}"):
        target = ctx.target()
        if task.key in _grow_doc(ctx).get("staged", ()):  # replaces published chunks
            from arcoforge.pipeline.growing import staging_target

            target = staging_target(ctx.state())
        for var, block in task_blocks(ctx, work):
            target.write(work, var.name, block, ctx.zarr.zarr_format, grown_array(ctx, var.name))
            del block  # before the next variable's block is read (see plan.memory)
        ctx.state().mark("done", task.key)
        return task.nbytes


def task_blocks(ctx: RunContext, work: TaskWork) -> Iterator[tuple[WriteVar, np.ndarray]]:
    """Each variable of a task with its block, read from the task's inputs."""
    return read_blocks(
        work,
        concat_dims=ctx.concat_dims,
        preprocess=ctx.preprocess,
        storage_options=ctx.storage_options,
        source_options=ctx.source_options,
        retry=ctx.retry,
    )


@dataclass
class StagedCopy:
    """A copy whose tasks are all done: its result, and what publishing it writes."""

    target: ZarrTarget
    state: RunState
    result: dict[str, Any]
    #: the root documents and attributes to write; None if the dataset is up to date
    staged: StagedStore | None

    @property
    def url(self) -> str:
        return self.target.url

    def publish(self) -> None:
        """Write the root documents (the one commit), then record the result."""
        if self.staged is not None:
            if self.staged.arrays is not None:  # an update: the filled gaps' chunks first
                from arcoforge.pipeline.growing import move_staged

                move_staged(self.target, self.state)
            self.target.publish(self.staged)
        stored = self.target.stored_bytes()
        self.result.update(up_to_date=self.staged is None, stored_bytes=stored)
        self.state.write_json("result.json", self.result)
        if self.staged is not None:
            for name in ("done", "fetched", "headers", "root.json", GROW, "staged.zarr", EARLY):
                self.state.remove(name)


def stage_copy(ctx: RunContext, written: int) -> StagedCopy:
    """Check that every task of the copy finished; nothing is published yet."""
    state = ctx.state()
    info = state.read_json("plan.json")
    if info is None:
        raise PipelineError("publishing found no plan: the planning stage did not run.")
    result = {
        key: info[key]
        for key in (
            "url",
            "inputs",
            "nbytes",
            "sizes",
            "variables",
            "coords",
            "zarr_format",
            "compression",
            "skipped",
        )
    }
    # the bytes its inputs took: the markers that count them go when it is published
    _, fetched = counted(state.marks("fetched"))
    written += info.get("early_bytes", 0)
    result.update(tasks=len(info["tasks"]), written=written, hash=info["hash"], input_bytes=fetched)
    if "appended" in info:
        result.update(appended=info["appended"], filled=info.get("filled", 0))
    manifest = Manifest.from_dict(state.read_json(MANIFEST) or {})
    result.update(manifest=manifest.summary(), missing=manifest.missing_list())
    if info["status"] == "up_to_date":
        return StagedCopy(ctx.target(), state, result, None)
    missing = set(info["tasks"]) - state.marks("done")
    if missing:
        raise PipelineError(
            f"{len(missing)} of {len(info['tasks'])} tasks did not finish, so the dataset was "
            "not published. Run again to finish them."
        )
    docs = state.read_json("root.json")
    if docs is None:
        raise PipelineError(
            f"publishing found no root documents for {ctx.target_url} in the run state. "
            "Run again with --overwrite to write the dataset afresh."
        )
    attrs = provenance(ctx, info)
    grown = state.read_json(GROW) if info.get("update") else None
    if grown is not None:
        from arcoforge.pipeline.growing import update_attrs

        attrs = update_attrs(attrs, int(grown.get("version", 2)))
    arrays = None if grown is None else grown["arrays"]
    staged = StagedStore(docs, attrs, ctx.zarr.zarr_format, manifest, arrays)
    return StagedCopy(ctx.target(), state, result, staged)


def provenance(ctx: RunContext, info: dict[str, Any]) -> dict[str, Any]:
    """Flat root attributes recording how the dataset was made."""
    return {
        "arcoforge_recipe": ctx.recipe_id,
        "arcoforge_recipe_fingerprint": ctx.fingerprint,
        PLAN_ATTR: info["hash"],
        "arcoforge_inputs": info["inputs"],
        "arcoforge_pruned": int(ctx.pruned),
        "arcoforge_version": ctx.version,
        "arcoforge_created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
