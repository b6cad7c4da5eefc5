"""The work of the virtual-dataset stages: open each input where it lies, combine, write."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from arcoforge.errors import TargetExistsError
from arcoforge.pipeline.context import RunContext
from arcoforge.pipeline.stages import PLAN_ATTR, provenance, reporting
from arcoforge.pipeline.state import REFERENCES_RESULT as RESULT
from arcoforge.plan.virtual import combine_virtual, content_hash, source_chunks
from arcoforge.recipe.pattern import Index
from arcoforge.recipe.spec import ReferenceFormat
from arcoforge.sources.cache import cache_key
from arcoforge.sources.virtual import VirtualInput, open_virtual, store_prefix


def virtualize_input(ctx: RunContext, index: Index, url: str) -> VirtualInput:
    """Open one input as a virtual dataset and leave a progress marker."""
    with reporting(ctx, f"reading the header of {url}"):
        vi = open_virtual(
            index, url, file_type=ctx.file_type, storage_options=ctx.source_options, retry=ctx.retry
        )
        ctx.state().mark("virtual", f"{cache_key(url)}.0")
        return vi


def write_references(ctx: RunContext, inputs: list[VirtualInput]) -> dict[str, Any]:
    """Check and combine the virtual inputs, then write (or keep) the references."""
    assert ctx.references is not None
    with reporting(ctx, "writing the references"):
        ds = combine_virtual(inputs, concat_dims=ctx.concat_dims, merge_dims=ctx.merge_dims)
        digest = content_hash(ds, ctx.fingerprint)
        target = ctx.references_target()
        fmt = ctx.references.format
        result: dict[str, Any] = {
            "url": ctx.references_url,
            "format": fmt.value,
            "hash": digest,
            "inputs": len(inputs),
            "sizes": {str(d): int(n) for d, n in ds.sizes.items()},
            "variables": _variables(ds),
            "nbytes": int(sum(v.dtype.itemsize * v.size for v in ds.variables.values())),
            "references": int(sum(_chunk_count(v) for v in ds.variables.values())),
            "prefixes": container_prefixes([vi.url for vi in inputs]),
        }
        found = target.published_attrs()
        if found is not None and found.get(PLAN_ATTR) == digest and not ctx.overwrite:
            result.update(up_to_date=True, stored_bytes=target.stored_bytes())
            ctx.state().write_json(RESULT, result)
            return result
        if (found is not None or target.exists()) and not ctx.overwrite:
            raise TargetExistsError(
                f"{ctx.references_url} already holds references made from other inputs or "
                f"another recipe (hash {str((found or {}).get(PLAN_ATTR))[:12]}, this run's "
                f"{digest[:12]}). Nothing was changed. Run with --overwrite to replace them, "
                "or choose another --output."
            )
        attrs = provenance(ctx, {"hash": digest, "inputs": len(inputs)})
        ds = ds.assign_attrs(attrs, arcoforge_sources=result["prefixes"])
        if fmt is ReferenceFormat.ICECHUNK:
            result["snapshot"] = target.write(  # type: ignore[call-arg]
                ds,
                prefixes=result["prefixes"],
                source_options=ctx.source_options,
                message=f"{ctx.recipe_id}: {len(inputs)} inputs, references {digest[:12]}",
                metadata={"recipe": ctx.recipe_id, "hash": digest, "inputs": len(inputs)},
            )
        else:
            target.write(ds)  # type: ignore[call-arg]
        result.update(up_to_date=False, stored_bytes=target.stored_bytes())
        ctx.state().write_json(RESULT, result)
        ctx.state().remove("virtual")
        return result


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
    return len(data.manifest) if type(data).__name__ == "ManifestArray" else 1
