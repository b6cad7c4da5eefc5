"""A run of a recipe through its stage functions, in this process and without Beam,
with failures injected at chosen steps of the targets' writes; and what readers see."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import xarray as xr

import arcoforge
from arcoforge.pipeline import publishing, references, stages
from arcoforge.plan.header import HeaderSet
from arcoforge.recipe.recipe import Recipe
from arcoforge.run import RunOptions, run_context
from arcoforge.sources.manifest import InputIdentity
from arcoforge.sources.virtual import open_virtual
from arcoforge.targets.icechunk import IcechunkTarget
from arcoforge.targets.kerchunk import KerchunkTarget
from arcoforge.targets.zarr import ZarrTarget
from arcoforge.verify import compare

#: Every storage write or delete a target makes goes through one of these methods.
STEPS = {
    "zarr": [(ZarrTarget, "_put"), (ZarrTarget, "write"), (ZarrTarget, "_delete")],
    "kerchunk": [
        (KerchunkTarget, "_put_file"),
        (KerchunkTarget, "_put_version"),
        (KerchunkTarget, "_delete"),
    ],
    "icechunk": [(IcechunkTarget, "stage"), (IcechunkTarget, "publish")],
}


class InjectedFailure(RuntimeError):
    """The failure a test injects, standing for a run killed at that point."""


@dataclass
class Faults:
    """Counts the targets' storage steps and fails at step ``fail_at`` (1-based)."""

    fail_at: int | None = None
    seen: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.fail_at is not None and len(self.seen) >= self.fail_at

    @contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
        with monkeypatch.context() as m:
            for cls, name in [step for steps in STEPS.values() for step in steps]:
                m.setattr(cls, name, self._wrap(cls, name, getattr(cls, name)))
            yield self

    def _wrap(self, cls: type, name: str, method: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            self.seen.append(f"{cls.__name__}.{name}")
            if self.fail_at is not None and len(self.seen) == self.fail_at:
                raise InjectedFailure(f"injected failure at step {self.fail_at} ({self.seen[-1]})")
            return method(*args, **kwargs)

        return step


def run_stages(recipe: Recipe, options: RunOptions) -> list[dict[str, Any]]:
    """Run every stage of ``recipe`` in order, as a pipeline would; returns the results."""
    ctx, inputs = run_context(recipe, options)
    items: list[tuple[str, Any]] = []
    if ctx.output is not None:
        headers = HeaderSet(ctx.concat_dims)
        for index, url in inputs:
            found = stages.fetch_input(ctx, index, url)
            if found is None:  # missing, and left out (on_missing: skip)
                continue
            headers.add(stages.input_header(ctx, index, found[1]))
        written = sum(stages.write_task(ctx, work) for work in stages.plan_writes(ctx, headers))
        items.append((publishing.COPY, written))
    if ctx.references is not None:
        virtual = [
            open_virtual(index, url, file_type=ctx.file_type, storage_options=ctx.source_options)
            for index, url in inputs
        ]
        identities = [(index, _identity(url)) for index, url in inputs]
        batch = references.VirtualBatch(virtual, identities)
        items.append((publishing.REFERENCES, pickle.dumps(batch)))
    results = publishing.publish_outputs(ctx, items)
    ctx.state().clear()
    return results


def _identity(url: str) -> InputIdentity:
    """A local input's identity as a header read finds it: its size."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return InputIdentity(url, int(fs.size(path)))


def seen(url: str) -> xr.Dataset | None:
    """What a reader opens at ``url`` (loaded), or None if nothing opens there."""
    import fsspec

    if url.startswith("s3://"):  # a reader in another process has no cached listings
        fsspec.filesystem("s3").invalidate_cache()
    try:
        ds = arcoforge.open_dataset(url)
    except Exception:
        return None
    return ds.load()


def which(ds: xr.Dataset | None, versions: dict[str, xr.Dataset]) -> str | None:
    """The name of the version ``ds`` equals; fails if it equals none of them."""
    if ds is None:
        return None
    for name, source in versions.items():
        if not compare(ds, source):
            return name
    diffs = {name: compare(ds, source)[:3] for name, source in versions.items()}
    raise AssertionError(f"a reader sees a dataset that is no complete version: {diffs}")
