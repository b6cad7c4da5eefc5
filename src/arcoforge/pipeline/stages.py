"""The work of each pipeline stage, as plain functions that need no runner."""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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
from arcoforge.plan.header import HeaderSet, InputHeader, read_header
from arcoforge.plan.plan import Plan, TaskWork, make_plan
from arcoforge.recipe.pattern import FileType, Index, OnMissing
from arcoforge.sources.cache import CachedInput, cache_key
from arcoforge.sources.manifest import Manifest
from arcoforge.sources.reader import read_blocks
from arcoforge.targets.manifest import check_output, write_manifest
from arcoforge.targets.zarr import ARRAY_DOCS, Status, root_documents

#: Root attributes that record how a dataset was made.
PLAN_ATTR = "arcoforge_plan"
#: The run-state document holding the manifest of the inputs the plan was made from.
MANIFEST = "manifest.json"
#: The run-state document of an update (see arcoforge.pipeline.growing).
GROW = "grow.json"
#: The run-state folder recording the inputs left out (``on_missing: skip``).
MISSING = "missing"


@contextmanager
def reporting(ctx: RunContext, doing: str) -> Iterator[None]:
    """Record the first failure in the run state, so the launcher can show it plainly."""
    try:
        yield
    except ForgeError as e:
        e.where = e.where or f"{doing} ({origin(e)})"
        ctx.state().report(e)
        raise
    except Exception as e:
        ctx.state().report(
            InternalError(f"{doing} failed with {type(e).__name__}: {e}", where=origin(e))
        )
        raise


#: Headers parsed while their input was opened by range, for the header stage that runs
#: next in the same process (fused with the fetch); taken once.
_PARSED: dict[tuple[Index, str], InputHeader] = {}


def fetch_input(ctx: RunContext, index: Index, url: str) -> tuple[Index, CachedInput] | None:
    """Open one input by range (its header parsed), or cache it; leave a progress marker
    named after it and its size.

    With ``on_missing: skip``, an input still missing after the retries is recorded
    in the run state (see :func:`missing_inputs`) and None is returned.
    """
    with reporting(ctx, f"fetching input {index} ({url})"):
        try:
            found = _open_ranged(ctx, index, url)
            if found is not None:
                cached, header = found
                _PARSED[(index, url)] = header
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
            record_missing(ctx, index, url, e)
            return None
        ctx.state().mark("fetched", f"{cache_key(url)}.{cached.size}")
        return index, cached


def is_missing(error: SourceError) -> bool:
    """Whether ``error`` says an input is not there (not found, or not fetched in all
    the attempts), rather than there and wrong (format, access, a mistyped host)."""
    return type(error) in (SourceError, SourceNotFoundError)


def record_missing(ctx: RunContext, index: Index, url: str, error: SourceError) -> None:
    """Note in the run state an input left out of the run (``on_missing: skip``)."""
    entry = {"index": str(index), "url": url, "reason": str(error)}
    ctx.state().write_json(f"{MISSING}/{cache_key(url)}.json", entry)


def missing_inputs(ctx: RunContext) -> list[dict[str, str]]:
    """The inputs this run left out, in input order (see :func:`record_missing`)."""
    state = ctx.state()
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


def _open_ranged(ctx: RunContext, index: Index, url: str) -> tuple[CachedInput, InputHeader] | None:
    """The input read by byte range and its header, or None if it must be cached."""
    from arcoforge.plan.header import read_ranged_header
    from arcoforge.sources.addresses import custom_resolver
    from arcoforge.sources.ranged import can_range, open_ranged

    if not ctx.read_by_range or ctx.preprocess is not None or not can_range(url):
        return None
    if ctx.file_type is FileType.OPENDAP:
        return None  # a DAP server answers queries, not byte ranges of a file
    if ctx.auth is not None or ctx.policy is not None or custom_resolver():
        # credentials, untrusted address checks and names known only to the resolver set
        # in Python (see sources.addresses) go through the cache's client
        return None
    opened = open_ranged(url, file_type=ctx.file_type, options=ctx.source_options, retry=ctx.retry)
    if opened is None:
        return None
    cached, source = opened
    header = read_ranged_header(cached, source, index, concat_dims=ctx.concat_dims)
    return None if header is None else (cached, header)


def input_header(ctx: RunContext, index: Index, cached: CachedInput) -> InputHeader:
    """Read one input's header, or take it from the run state if an unfinished run of the
    same recipe code read these very bytes (a resumed run pays only for the work left)."""
    with reporting(ctx, f"reading the header of {cached.url}"):
        state = ctx.state()
        name = header_name(ctx, index, cached)
        header = _PARSED.pop((index, cached.url), None)
        if header is None:
            kept = state.read_bytes(name)
            if kept is not None:
                parsed: InputHeader = pickle.loads(kept)
                return parsed
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


def header_name(ctx: RunContext, index: Index, cached: CachedInput) -> str:
    """The run-state file of an input's header: named after its position, its bytes and
    the recipe's sources and code, so a header is reused only for what it describes."""
    where = hashlib.sha256(f"{index!r}{cached.url}".encode()).hexdigest()[:16]
    version = hashlib.sha256(cached.version.encode()).hexdigest()[:16]
    what = f"{version}-{cached.size}-{ctx.sources_fingerprint[:12]}"
    return f"headers/{where}-{what}.pkl"


def plan_writes(ctx: RunContext, headers: HeaderSet) -> list[TaskWork]:
    """Plan; then start, resume or skip the dataset; return the tasks still to run."""
    with reporting(ctx, "planning"):
        if ctx.update and ctx.target().status() is Status.PUBLISHED:
            return _plan_update(ctx, headers)
        missing = missing_inputs(ctx)
        plan = _make_plan(ctx, headers, missing)
        state, target = ctx.state(), ctx.target()
        summary = plan_summary(ctx, plan)
        status = target.status()
        previous = state.read_json("plan.json")
        manifest = input_manifest(plan, missing)
        state.write_json(MANIFEST, manifest.to_dict())
        if status is Status.PUBLISHED:
            check_output(
                "zarr", ctx.target_url, manifest, ctx.storage_options, overwrite=ctx.overwrite
            )
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
            if previous is None and not ctx.overwrite:
                raise TargetExistsError(
                    f"{ctx.target_url} exists but is neither a finished dataset nor an unfinished "
                    "run of this recipe, so it is left alone. Delete it, run with --overwrite, "
                    "or choose another --output."
                )
        # Recorded before anything is removed: a run killed while removing or preparing
        # leaves an unfinished run of this plan, which the next run starts afresh.
        state.remove("done")
        state.remove(GROW)
        state.write_json("plan.json", {**summary, "status": "preparing"})
        target.remove()  # a replaced dataset, or an unfinished run never published
        state.write_json("root.json", target.prepare(plan))
        state.write_json("plan.json", {**summary, "status": "ready"})
        return [plan.work(t) for t in plan.tasks]


def _make_plan(
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
    recorded = growing.recorded_manifest(ctx, published)
    missing = missing_inputs(ctx)
    try:
        plan = _make_plan(ctx, headers, missing, pinned=growing.pinned_chunks(published))
    except IncompatibleInputsError as e:  # the dataset's inputs combined: new ones do not
        raise UpdateRefusedError(
            f"{ctx.target_url}: the new inputs cannot extend the dataset: {e} An update "
            "only appends inputs with the dataset's variables, dtypes and grid after its "
            "last one. Run without --update, with --overwrite, to rebuild it."
        ) from e
    manifest = input_manifest(plan, missing)
    state.write_json(MANIFEST, manifest.to_dict())
    new = growing.new_inputs(ctx.target_url, recorded, manifest)
    summary = {**plan_summary(ctx, plan), "appended": len(new), "update": True}
    fmt = published.zarr_format
    if not new:
        # an update killed after its commit may not have rewritten the arrays' documents
        target.write_array_docs(growing.stale_arrays(target, published), fmt)
        state.write_json("plan.json", {**summary, "tasks": {}, "status": "up_to_date"})
        return []
    if fmt != ctx.zarr.zarr_format:
        raise UpdateRefusedError(
            f"{ctx.target_url} is Zarr format {fmt}; the recipe asks for format "
            f"{ctx.zarr.zarr_format}. Run without --update, with --overwrite, to rebuild it."
        )
    old_length = published.length(concat)
    growing.check_schema(ctx, plan, published)
    growing.check_coords(ctx, plan, new, old_length)
    arrays = growing.grown_arrays(published, concat, plan.schema.sizes[concat])
    tasks = [
        t for t in plan.tasks if concat in t.dims and t.region[t.dims.index(concat)][1] > old_length
    ]
    summary["tasks"] = {t.key: t.nbytes for t in tasks}
    resumable = (
        previous is not None
        and previous.get("update")
        and previous.get("hash") == plan.hash
        and previous.get("status") == "ready"
    )
    if not resumable:
        state.remove("done")
    state.write_json("plan.json", {**summary, "status": "preparing"})
    version = growing.next_version(published.attrs)
    state.write_json(GROW, {"arrays": arrays, "old_length": old_length, "version": version})
    state.write_json("root.json", root_documents(published.root, arrays, fmt))
    if concat in arrays:
        meta = arrays[concat][ARRAY_DOCS[fmt][0]]
        growing.write_concat_coord(ctx, plan, published, meta, old_length)
    done = state.marks("done")
    todo = [t for t in tasks if t.key not in done]
    skipped = len(tasks) - len(todo)
    state.write_json("plan.json", {**summary, "status": "ready", "skipped": skipped})
    return [plan.work(t) for t in todo]


def grown_array(ctx: RunContext, name: str) -> str | None:
    """The document of array ``name`` an update writes through; None outside updates."""
    if not ctx.update:
        return None
    key = (ctx.state_url, ctx.run_id)
    if key not in _GROWN:
        _GROWN.clear()
        found = ctx.state().read_json(GROW)
        _GROWN[key] = found["arrays"] if found else {}
    docs = _GROWN[key].get(name)
    return None if docs is None else docs[ARRAY_DOCS[ctx.zarr.zarr_format][0]]


#: The arrays' documents of the update a worker process is writing, read once per run.
_GROWN: dict[tuple[str, str], dict[str, dict[str, str]]] = {}


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


def write_task(ctx: RunContext, work: TaskWork) -> int:
    """Write one task's chunks, then mark it done; returns its uncompressed bytes."""
    task = work.task
    where = ", ".join(f"{d} {a}:{b}" for d, (a, b) in zip(task.dims, task.region, strict=True))
    with reporting(ctx, f"writing {', '.join(task.variables)} at {where}"):
        target = ctx.target()
        for var, block in read_blocks(
            work,
            concat_dims=ctx.concat_dims,
            preprocess=ctx.preprocess,
            storage_options=ctx.storage_options,
            source_options=ctx.source_options,
            retry=ctx.retry,
        ):
            target.write(work, var.name, block, ctx.zarr.zarr_format, grown_array(ctx, var.name))
            del block  # before the next variable's block is read (see plan.memory)
        ctx.state().mark("done", task.key)
        return task.nbytes


@dataclass
class StagedCopy:
    """A copy whose tasks are all done: its result, and how to publish it."""

    ctx: RunContext
    result: dict[str, Any]
    info: dict[str, Any]
    #: the root documents to write; None if the dataset in place is up to date
    docs: dict[str, str] | None
    #: the inputs' identities, written into the store just before its root documents
    manifest: Manifest

    @property
    def url(self) -> str:
        return self.ctx.target_url

    def publish(self) -> None:
        """Write the root documents (the one commit), then record the result."""
        ctx, state, target = self.ctx, self.ctx.state(), self.ctx.target()
        if self.docs is not None:
            write_manifest(ctx.target_url, self.manifest, ctx.storage_options)
            attrs = provenance(ctx, self.info)
            grown = state.read_json(GROW) if self.info.get("update") else None
            if grown is not None:
                from arcoforge.pipeline.growing import update_attrs

                attrs = update_attrs(attrs, int(grown.get("version", 2)))
            target.publish(self.docs, attrs, ctx.zarr.zarr_format)
            if grown is not None:  # the commit is made: now the arrays' own documents
                target.write_array_docs(grown["arrays"], ctx.zarr.zarr_format)
        self.result.update(up_to_date=self.docs is None, stored_bytes=target.stored_bytes())
        state.write_json("result.json", self.result)
        if self.docs is not None:
            for name in ("done", "fetched", "headers", "root.json", GROW):
                state.remove(name)


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
    result.update(tasks=len(info["tasks"]), written=written, hash=info["hash"])
    if "appended" in info:
        result.update(appended=info["appended"])
    manifest = Manifest.from_dict(state.read_json(MANIFEST) or {})
    result.update(manifest=manifest.summary(), missing=manifest.missing_list())
    if info["status"] == "up_to_date":
        return StagedCopy(ctx, result, info, None, manifest)
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
    return StagedCopy(ctx, result, info, docs, manifest)


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
