"""The work of the virtual-dataset stages: open each input where it lies, combine, write."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from arcoforge.errors import (
    IncompatibleInputsError,
    SourceError,
    TargetExistsError,
    UpdateRefusedError,
)
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.copy_stages import (
    PLAN_ATTR,
    is_missing,
    missing_inputs,
    provenance,
    record_missing,
    reporting,
)
from arcoforge.pipeline.state import REFERENCES_RESULT as RESULT
from arcoforge.pipeline.state import RunState
from arcoforge.plan.mixed import (
    NativeRegion,
    NativeTask,
    plan_native,
    virtual_chunks,
    written_chunks,
)
from arcoforge.plan.virtual import combine_mixed, combine_virtual, content_hash, source_chunks
from arcoforge.recipe.pattern import Index, OnMissing
from arcoforge.recipe.spec import ReferenceFormat
from arcoforge.sources.cache import cache_key
from arcoforge.sources.fastheaders.edges import RangeFile
from arcoforge.sources.fastheaders.prefetch import EdgePrefetcher
from arcoforge.sources.fastheaders.templates import HeaderTemplates
from arcoforge.sources.manifest import InputIdentity, Manifest
from arcoforge.sources.stores import store_prefix
from arcoforge.sources.virtual import (
    Stamp,
    VirtualInput,
    folded,
    import_parsers,
    open_virtual,
    read_virtual,
)
from arcoforge.targets.base import ReferenceTarget, StageOptions
from arcoforge.targets.manifest import check_output

#: Inputs per progress marker: each marker is a file written to the run state.
MARK_EVERY = 16


@dataclass(frozen=True)
class VirtualBatch:
    """A batch of inputs opened as virtual datasets, and each input's identity."""

    inputs: list[VirtualInput]
    identities: list[tuple[Index, InputIdentity]]
    #: bytes fetched to read the batch's headers
    fetched_bytes: int = 0


def virtualize_batch(
    ctx: RunContext, batch: list[tuple[Index, str]], layouts: HeaderTemplates, feed: EdgePrefetcher
) -> VirtualBatch:
    """Open a batch of inputs as virtual datasets, leaving progress markers on the way.

    Their headers' edges are fetched by ``feed``'s process while this one parses (see
    :mod:`arcoforge.sources.fastheaders.prefetch`); inputs laid out like one met before
    are made from it (see :mod:`arcoforge.sources.fastheaders.templates`), consecutive
    ones along the concat dim together (see :mod:`arcoforge.sources.fastheaders.concat`).
    A marker named ``<key>.<n>.<bytes>``
    stands for ``n`` inputs read, and the bytes their headers took to fetch.
    """
    urls = [url for _, url in batch]
    out: list[VirtualInput | Stamp] = []
    identities: list[tuple[Index, InputIdentity]] = []
    unmarked = unmarked_bytes = total_bytes = 0
    fetched = feed.fetch(urls)
    import_parsers()  # while the first edges are on their way
    for n, (index, url) in enumerate(batch, 1):
        held = 0
        with reporting(ctx.state(), f"reading the header of {url}"):
            source = next(fetched)  # a lost feed process is reported like any failure
            left_out = isinstance(source, SourceError) and skipped(ctx, index, url, source)
            if isinstance(source, BaseException):
                if not left_out:
                    raise source
            else:
                identities.append((index, identity_of(url, source)))
                out.append(
                    read_virtual(
                        index,
                        url,
                        file_type=ctx.file_type,
                        storage_options=ctx.source_options,
                        retry=ctx.retry,
                        source=source,
                        layouts=layouts,
                        auth=ctx.auth,
                    )
                )
                held = source.held_bytes if isinstance(source, RangeFile) else 0
        unmarked += 1  # an input left out counts as done, for progress
        unmarked_bytes += held
        total_bytes += held
        if unmarked == MARK_EVERY or n == len(batch):
            ctx.state().mark("virtual", f"{cache_key(url)}.{unmarked}.{unmarked_bytes}")
            unmarked = unmarked_bytes = 0
    dim = ctx.concat_dims[0] if len(ctx.concat_dims) == 1 else None
    with reporting(ctx.state(), f"combining the headers of {urls[0]} and the next {len(urls) - 1}"):
        return VirtualBatch(folded(out, dim), identities, total_bytes)


def skipped(ctx: RunContext, index: Index, url: str, error: SourceError) -> bool:
    """Whether a missing input is left out (``on_missing: skip``), recording it if so."""
    if ctx.on_missing is not OnMissing.SKIP or not is_missing(error):
        return False
    record_missing(ctx.state(), index, url, error)
    return True


def identity_of(url: str, source: RangeFile) -> InputIdentity:
    """An input as its header reads found it: size, ETag, Last-Modified (no SHA-256)."""
    return InputIdentity(url, source.size, source.etag, source.last_modified)


def input_manifest(
    batches: list[VirtualBatch], missing: list[dict[str, str]] | None = None
) -> Manifest:
    """The identities of every input of ``batches``, in input order, and those left out."""
    found = sorted((i for b in batches for i in b.identities), key=lambda pair: pair[0])
    return Manifest(
        {str(index): identity for index, identity in found},
        missing={e["index"]: e["url"] for e in missing or []},
    )


def with_full_firsts(ctx: RunContext, inputs: list[VirtualInput]) -> list[VirtualInput]:
    """``inputs``, with the first of each merge key parsed in full if it was stamped.

    A stamped input carries the attributes of the input its layout came from, and the
    combined dataset takes its attributes from the first input: that one must be its own.
    """
    firsts: dict[tuple[int, ...], VirtualInput] = {}
    for vi in sorted(inputs, key=lambda v: v.index):
        firsts.setdefault(_merge_key(vi, ctx.merge_dims), vi)
    out: list[VirtualInput] = []
    for vi in inputs:
        if vi.stamped and firsts[_merge_key(vi, ctx.merge_dims)] is vi:
            # Folded inputs never start at a merge key's first step; if they did (a
            # pattern whose steps start elsewhere), each is parsed in full.
            out.extend(
                open_virtual(
                    index,
                    url,
                    file_type=ctx.file_type,
                    storage_options=ctx.source_options,
                    retry=ctx.retry,
                    auth=ctx.auth,
                )
                for index, url in vi.parts
            )
        else:
            out.append(vi)
    return out


def _merge_key(vi: VirtualInput, merge_dims: tuple[str, ...]) -> tuple[int, ...]:
    positions = dict(vi.index.positions)
    return tuple(positions.get(d, 0) for d in merge_dims)


@dataclass
class StagedReferences:
    """References checked and staged where readers cannot see them yet."""

    target: ReferenceTarget[Any]
    state: RunState
    result: dict[str, Any]
    #: what the target's ``publish`` needs; None if the references in place are up to date
    staged: Any = None

    @property
    def url(self) -> str:
        return self.target.url

    def publish(self) -> None:
        """Make the staged references visible (one write or one commit); record the result."""
        if self.staged is not None:
            snapshot = self.target.publish(self.staged)
            if snapshot is not None:
                self.result["snapshot"] = snapshot
        stored = self.target.stored_bytes()
        self.result.update(up_to_date=self.staged is None, stored_bytes=stored)
        self.state.write_json(RESULT, self.result)
        self.state.remove("virtual")


def stage_references(ctx: RunContext, batches: list[VirtualBatch]) -> StagedReferences:
    """Check and combine the virtual inputs, and stage their references (or keep them)."""
    assert ctx.references is not None
    missing = missing_inputs(ctx.state())
    manifest = input_manifest(batches, missing)
    inputs = with_full_firsts(ctx, [vi for b in batches for vi in b.inputs])
    fmt = ctx.references.format
    native: list[NativeRegion] = []
    tasks: list[NativeTask] = []
    try:
        if fmt is ReferenceFormat.ICECHUNK:  # inputs that don't fit are written natively
            ds, native = combine_mixed(
                inputs,
                concat_dims=ctx.concat_dims,
                merge_dims=ctx.merge_dims,
                storage_options=ctx.source_options,
            )
        else:
            ds = combine_virtual(inputs, concat_dims=ctx.concat_dims, merge_dims=ctx.merge_dims)
    except IncompatibleInputsError as e:
        if ctx.update and ctx.references_target().published_attrs() is not None:
            raise UpdateRefusedError(
                f"{ctx.references_url}: the new inputs cannot extend the dataset: {e} An "
                "update only appends inputs with the dataset's variables, dtypes and grid "
                "after its last one. Run without --update, with --overwrite, to rebuild it."
            ) from e
        raise
    if native:
        tasks = plan_native(ds, native, ctx.budget)  # refused here if a chunk can't fit
    urls = [url for vi in inputs for _, url in vi.parts]
    digest = content_hash(ds, ctx.sources_fingerprint)
    target = ctx.references_target()
    result: dict[str, Any] = {
        "url": ctx.references_url,
        "format": fmt.value,
        "hash": digest,
        "inputs": len(urls),
        "sizes": {str(d): int(n) for d, n in ds.sizes.items()},
        "variables": _variables(ds),
        "nbytes": int(sum(v.dtype.itemsize * v.size for v in ds.variables.values())),
        "references": int(sum(_chunk_count(v) for v in ds.variables.values())),
        "prefixes": container_prefixes(urls),
        "manifest": manifest.summary(),
        "missing": manifest.missing_list(),
        "header_bytes": sum(b.fetched_bytes for b in batches),
    }
    if fmt is ReferenceFormat.ICECHUNK:
        result["chunks"] = {"virtual": virtual_chunks(ds), "written": written_chunks(ds, native)}
    check_output(target, manifest, overwrite=ctx.overwrite)
    found = target.published_attrs()
    message = f"{ctx.recipe_id}: {len(urls)} inputs, references {digest[:12]}"
    if ctx.update:
        result.update(appended=len(urls), filled=0)
    if ctx.update and found is not None:
        appended, filled = _added(ctx, manifest, ds)
        result.update(appended=len(appended), filled=len(filled))
        if not appended and not filled:
            return StagedReferences(target, ctx.state(), result)
        message = _update_message(ctx.recipe_id, appended, filled)
    elif found is not None and found.get(PLAN_ATTR) == digest and not ctx.overwrite:
        return StagedReferences(target, ctx.state(), result)
    elif (found is not None or target.exists()) and not ctx.overwrite:
        raise TargetExistsError(
            f"{ctx.references_url} already holds references made from other inputs or "
            f"another recipe (hash {str((found or {}).get(PLAN_ATTR))[:12]}, this run's "
            f"{digest[:12]}). Nothing was changed. Run with --overwrite to replace them, "
            "or choose another --output."
        )
    attrs = provenance(ctx, {"hash": digest, "inputs": len(urls)})
    if ctx.update and found is not None:
        from arcoforge.pipeline.growing import next_version, update_attrs

        attrs = {**attrs, **update_attrs(attrs, next_version(found))}
        if found.get("arcoforge_created"):
            attrs["arcoforge_created"] = found["arcoforge_created"]
    ds = ds.assign_attrs(attrs, arcoforge_sources=result["prefixes"])
    how = StageOptions(
        message=message,
        metadata={"recipe": ctx.recipe_id, "hash": digest, "inputs": len(urls)},
        prefixes=result["prefixes"],
        source_options=ctx.source_options,
        native=tasks,
    )
    staged = target.stage(ds, manifest, how)
    return StagedReferences(target, ctx.state(), result, staged)


def _added(ctx: RunContext, manifest: Manifest, ds: Any) -> tuple[list[str], list[str]]:
    """The URLs of the inputs an update appends to the published references, and of those
    it fills in (recorded as skipped); refuses (UpdateRefusedError) any other change."""
    from arcoforge.pipeline.growing import check_extends, new_inputs
    from arcoforge.targets.opening import open_output

    url = ctx.references_url
    if len(ctx.concat_dims) != 1:
        raise UpdateRefusedError(
            f"--update appends along one concat dim; this recipe has {list(ctx.concat_dims)}. "
            "Run without --update."
        )
    recorded = ctx.references_target().manifest()
    if recorded is None:
        raise UpdateRefusedError(
            f"{url} records no input manifest, so the inputs it holds are unknown. Run once "
            "with --overwrite to rebuild it; later runs can use --update."
        )
    added = new_inputs(url, recorded, manifest)
    if added:
        with open_output(url, storage_options=ctx.storage_options) as old:
            check_extends(url, old, ds, ctx.concat_dims[0], filled=bool(added.filled))
    urls = manifest.inputs
    return [urls[k].url for k in added.appended], [urls[k].url for k in added.filled]


def _update_message(recipe_id: str, appended: list[str], filled: list[str]) -> str:
    """The Icechunk commit message of an update, naming the inputs it adds."""
    parts = []
    for verb, urls in (("appended", appended), ("filled in", filled)):
        if urls:
            more = f" and {len(urls) - 10} more" if len(urls) > 10 else ""
            parts.append(f"{verb} {len(urls)} inputs: {', '.join(urls[:10])}{more}")
    return f"{recipe_id}: {'; '.join(parts)}"


def container_prefixes(urls: list[str]) -> list[str]:
    """The URL prefixes the references point under: one per host, or the inputs' folder."""
    files = [urlsplit(u).path for u in urls if u.startswith("file://")]
    prefixes = {store_prefix(u) for u in urls if not u.startswith("file://")}
    if files:
        prefixes.add(f"file://{os.path.commonpath([os.path.dirname(p) for p in files])}/")
    return sorted(prefixes)


def _variables(ds: Any) -> dict[str, Any]:
    chunks = source_chunks(ds)
    return {
        str(name): {
            "dims": [str(d) for d in var.dims],
            "dtype": str(var.dtype),
            "chunks": chunks[str(name)],
            "coord": name in ds.coords,
        }
        for name, var in ds.variables.items()
    }


def _chunk_count(var: Any) -> int:
    data = var.data
    if type(data).__name__ != "ManifestArray":
        return 1
    return int((data.manifest._paths != "").sum())  # chunks left to write hold no reference
