"""The work of each pipeline stage, as plain functions that need no runner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from arcoforge.errors import ForgeError, PipelineError, TargetExistsError
from arcoforge.pipeline.context import RunContext
from arcoforge.plan.header import HeaderSet, InputHeader, read_header
from arcoforge.plan.plan import Plan, TaskWork, make_plan
from arcoforge.recipe.pattern import Index
from arcoforge.sources.cache import CachedInput, cache_key
from arcoforge.sources.reader import read_blocks
from arcoforge.targets.zarr import Status

#: Root attributes that record how a dataset was made.
PLAN_ATTR = "arcoforge_plan"


@contextmanager
def reporting(ctx: RunContext, doing: str) -> Iterator[None]:
    """Record the first failure in the run state, so the launcher can show it plainly."""
    try:
        yield
    except ForgeError as e:
        ctx.state().report(e)
        raise
    except Exception as e:
        ctx.state().report(PipelineError(f"{doing} failed with {type(e).__name__}: {e}"))
        raise


def fetch_input(ctx: RunContext, index: Index, url: str) -> tuple[Index, CachedInput]:
    """Cache one input and leave a progress marker named after it and its size."""
    with reporting(ctx, f"fetching input {index} ({url})"):
        cached = ctx.cache().fetch(
            url, file_type=ctx.file_type, storage_options=ctx.source_options, retry=ctx.retry
        )
        ctx.state().mark("fetched", f"{cache_key(url)}.{cached.size}")
        return index, cached


def input_header(ctx: RunContext, index: Index, cached: CachedInput) -> InputHeader:
    with reporting(ctx, f"reading the header of {cached.url}"):
        return read_header(
            cached,
            index,
            concat_dims=ctx.concat_dims,
            preprocess=ctx.preprocess,
            storage_options=ctx.storage_options,
        )


def plan_writes(ctx: RunContext, headers: HeaderSet) -> list[TaskWork]:
    """Plan; then start, resume or skip the dataset; return the tasks still to run."""
    with reporting(ctx, "planning"):
        plan = make_plan(
            headers,
            output=ctx.zarr,
            budget=ctx.budget,
            fingerprint=ctx.fingerprint,
            merge_dims=ctx.merge_dims,
            items_per_file=ctx.items_per_file,
            preprocessed=ctx.preprocess is not None,
        )
        state, target = ctx.state(), ctx.target()
        summary = plan_summary(ctx, plan)
        status = target.status()
        previous = state.read_json("plan.json")
        if status is Status.PUBLISHED:
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
            target.remove()
        elif status is Status.UNPUBLISHED:
            resumable = previous is not None and previous.get("hash") == plan.hash
            if resumable and previous.get("status") == "ready":
                return _remaining(ctx, plan, summary)
            if previous is None and not ctx.overwrite:
                raise TargetExistsError(
                    f"{ctx.target_url} exists but is neither a finished dataset nor an unfinished "
                    "run of this recipe, so it is left alone. Delete it, run with --overwrite, "
                    "or choose another --output."
                )
            target.remove()  # an unfinished run of another plan: never published, safe to drop
        state.remove("done")
        state.write_json("plan.json", {**summary, "status": "preparing"})
        state.write_json("root.json", target.prepare(plan))
        state.write_json("plan.json", {**summary, "status": "ready"})
        return [plan.work(t) for t in plan.tasks]


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
        ):
            target.write(work, var.name, block, ctx.zarr.zarr_format)
            del block  # before the next variable's block is read (see plan.memory)
        ctx.state().mark("done", task.key)
        return task.nbytes


def publish(ctx: RunContext, written: int) -> dict[str, Any]:
    """Check that every task finished, publish the dataset and record the result."""
    with reporting(ctx, "publishing"):
        state, target = ctx.state(), ctx.target()
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
        if info["status"] == "up_to_date":
            result.update(up_to_date=True, stored_bytes=target.stored_bytes())
            state.write_json("result.json", result)
            return result
        missing = set(info["tasks"]) - state.marks("done")
        if missing:
            raise PipelineError(
                f"{len(missing)} of {len(info['tasks'])} tasks did not finish, so the dataset was "
                "not published. Run again to finish them."
            )
        docs = state.read_json("root.json")
        target.publish(docs, provenance(ctx, info), ctx.zarr.zarr_format)
        result.update(up_to_date=False, stored_bytes=target.stored_bytes())
        state.write_json("result.json", result)
        for name in ("done", "fetched", "root.json"):
            state.remove(name)
        return result


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
