"""A run of a recipe through its stage functions, in this process and without Beam,
with failures injected at chosen steps of the targets' writes; and what readers see."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import xarray as xr

import arcoforge
from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.pipeline import copy_stages, publishing, virtual_stages
from arcoforge.recipe import load_recipe
from arcoforge.recipe.validated import Recipe
from arcoforge.run import RunOptions, run_context
from arcoforge.sources.headers import HeaderSet
from arcoforge.sources.manifest import InputIdentity
from arcoforge.sources.virtual import open_virtual
from arcoforge.targets.icechunk import IcechunkTarget
from arcoforge.targets.kerchunk import KerchunkTarget
from arcoforge.targets.zarr import ZarrTarget
from arcoforge.verify import compare, open_sources
from tests.helpers import write_recipe


@dataclass(frozen=True)
class Kind:
    """One target: the outputs a recipe asks for, the suffix of its URL, its format."""

    outputs: dict[str, Any]
    suffix: str
    kind: str


#: Every target a recipe can ask for.
KINDS = {
    "zarr3": Kind({"zarr": {"chunks": {"time": 2}, "zarr_format": 3}}, ".zarr", "zarr"),
    "zarr2": Kind({"zarr": {"chunks": {"time": 2}, "zarr_format": 2}}, ".zarr", "zarr"),
    "json": Kind({"references": {"format": "json"}}, ".json", "json"),
    "parquet": Kind({"references": {"format": "parquet"}}, ".parquet", "parquet"),
    "icechunk": Kind({"references": {"format": "icechunk"}}, ".icechunk", "icechunk"),
}


def version(
    tmp_path: Path, name: str, seed: int, outputs: dict[str, Any]
) -> tuple[Recipe, xr.Dataset]:
    """A recipe over 4 days in 2 files of its own, and what its sources hold."""
    files = write_files(
        make_sst(days=4, nlat=6, nlon=8, seed=seed, variables=("sst",)),
        tmp_path / name,
        steps=2,
        encoding={"sst": PACKED_INT16},
    )
    spec = {
        "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
        "outputs": outputs,
    }
    recipe = load_recipe(write_recipe(tmp_path / f"recipe-{name}", spec))
    # one recipe id for both versions: the same output location
    recipe = Recipe(**{**recipe.__dict__, "id": "ds"})
    return recipe, open_sources([str(f.path) for f in files], "time")


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

    #: whether a target's ``publish`` is running (its steps are named "... (publish)")
    publishing: bool = False

    @contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
        with monkeypatch.context() as m:
            for cls, name in [step for steps in STEPS.values() for step in steps]:
                m.setattr(cls, name, self._wrap(cls, name, getattr(cls, name)))
            for cls in (ZarrTarget, KerchunkTarget, IcechunkTarget):
                m.setattr(cls, "publish", self._marking(cls.publish))
            yield self

    def _marking(self, publish: Any) -> Any:
        def marked(*args: Any, **kwargs: Any) -> Any:
            self.publishing = True
            try:
                return publish(*args, **kwargs)
            finally:
                self.publishing = False

        return marked

    def _wrap(self, cls: type, name: str, method: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            phase = " (publish)" if self.publishing else ""
            self.seen.append(f"{cls.__name__}.{name}{phase}")
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
            found = copy_stages.fetch_input(ctx, index, url)
            if found is None:  # missing, and left out (on_missing: skip)
                continue
            headers.add(copy_stages.input_header(ctx, index, found[1]))
        written = sum(
            copy_stages.write_task(ctx, work) for work in copy_stages.plan_writes(ctx, headers)
        )
        items.append((publishing.COPY, written))
    if ctx.references is not None:
        virtual = [
            open_virtual(index, url, file_type=ctx.file_type, storage_options=ctx.source_options)
            for index, url in inputs
        ]
        identities = [(index, _identity(url)) for index, url in inputs]
        batch = virtual_stages.VirtualBatch(virtual, identities)
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


def failed_at_every_step(
    monkeypatch: pytest.MonkeyPatch,
    steps: int,
    start: Path,
    output: Path,
    run: Any,
) -> Iterator[Faults]:
    """For each of ``steps``: put ``start`` back at ``output``, call ``run()`` with a failure
    injected at that step, check it failed there, and yield the faults for the caller to
    check what a reader sees."""
    import shutil

    for step in range(1, steps + 1):
        if output.exists():
            shutil.rmtree(output)
        shutil.copytree(start, output)
        faults = Faults(fail_at=step)
        with faults.installed(monkeypatch), pytest.raises(Exception) as failed:
            run()
        assert faults.failed, f"step {step} was not reached: {failed.value!r}"
        assert isinstance(failed.value.__cause__ or failed.value, InjectedFailure)
        yield faults
