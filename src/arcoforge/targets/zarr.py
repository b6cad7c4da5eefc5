"""ZarrTarget: a rechunked copy in Zarr (format 3 or 2), published atomically.

The planner writes a template: every array's metadata and the dimension
coordinates (each in a single chunk), through xarray, so CF encodings are
stored exactly as xarray would store them. It then takes the root group's
metadata away, so the store does not open as a dataset. Tasks write whole
chunks straight to the arrays; rewriting a chunk is harmless, so a killed run
can simply run again. Publishing puts the root metadata back, with the
provenance attributes and the consolidated metadata: readers see either no
dataset or the complete one.
"""

from __future__ import annotations

import json
import warnings
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import cftime
import numpy as np
import xarray as xr
import zarr
import zarr.storage

from arcoforge.errors import TargetError
from arcoforge.location import Location
from arcoforge.plan.plan import Plan, TaskWork
from arcoforge.plan.schema import TargetVariable
from arcoforge.targets.codecs import compressors

if TYPE_CHECKING:
    import dask.array as da

#: The documents that make a store's root a group, per Zarr format.
ROOT_DOCS = {2: (".zgroup", ".zattrs"), 3: ("zarr.json",)}


class Status(StrEnum):
    """What a target location holds."""

    ABSENT = "absent"
    #: a complete dataset: its root metadata is in place
    PUBLISHED = "published"
    #: data without root metadata: an unfinished run
    UNPUBLISHED = "unpublished"


class ZarrTarget(Location):
    """A Zarr store at ``url`` (a local path or an fsspec URL)."""

    def store(self, *, read_only: bool = False) -> zarr.storage.StoreLike:
        if self.is_local:
            return zarr.storage.LocalStore(self.path(), read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            self.url, storage_options=self.storage_options, read_only=read_only
        )

    def status(self) -> Status:
        if any(self.fs.exists(self.path(doc)) for doc in (".zgroup", "zarr.json")):
            return Status.PUBLISHED
        return Status.UNPUBLISHED if self.fs.exists(self.path()) else Status.ABSENT

    def attrs(self) -> dict[str, Any]:
        """The root attributes of a published dataset."""
        for doc, key in (("zarr.json", "attributes"), (".zattrs", None)):
            try:
                data = json.loads(self.fs.cat_file(self.path(doc)))
            except FileNotFoundError:
                continue
            return data.get(key, {}) if key else data
        return {}

    def remove(self) -> None:
        if self.fs.exists(self.path()):
            self.fs.rm(self.path(), recursive=True)

    def prepare(self, plan: Plan) -> dict[str, str]:
        """Write the template; returns the root documents held back until publishing."""
        ds, encoding = template(plan)
        fmt = plan.output.zarr_format
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds.to_zarr(
                    self.store(),
                    mode="w",
                    compute=False,
                    consolidated=False,
                    zarr_format=fmt,
                    encoding=encoding,
                )
            except (OSError, PermissionError) as e:
                raise TargetError(f"{self.url}: cannot write here: {e}") from e
        docs = {}
        for doc in ROOT_DOCS[fmt]:
            path = self.path(doc)
            docs[doc] = self.fs.cat_file(path).decode()
            self.fs.rm_file(path)
        return docs

    def write(self, work: TaskWork, name: str, values: np.ndarray, zarr_format: int) -> None:
        """Write ``values`` to variable ``name`` over the task's region (whole chunks)."""
        array = zarr.open_array(store=self.store(), path=name, mode="r+", zarr_format=zarr_format)
        array[tuple(slice(a, b) for a, b in work.task.region)] = values

    def publish(self, docs: dict[str, str], attrs: dict[str, Any], zarr_format: int) -> None:
        """Put the root metadata back, with ``attrs`` added, and consolidate it."""
        if zarr_format == 3:
            root = json.loads(docs["zarr.json"])
            root.setdefault("attributes", {}).update(attrs)
            self.fs.pipe_file(self.path("zarr.json"), json.dumps(root, indent=2).encode())
        else:
            root_attrs = json.loads(docs[".zattrs"])
            root_attrs.update(attrs)
            self.fs.pipe_file(self.path(".zattrs"), json.dumps(root_attrs, indent=2).encode())
            self.fs.pipe_file(self.path(".zgroup"), docs[".zgroup"].encode())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # consolidated metadata is not yet in the v3 spec
            zarr.consolidate_metadata(self.store(), zarr_format=zarr_format)

    def stored_bytes(self) -> int:
        return int(self.fs.du(self.path()))


def template(plan: Plan) -> tuple[xr.Dataset, dict[str, dict[str, Any]]]:
    """The target as a lazy dataset (never computed) and its encoding, for ``to_zarr``."""
    schema = plan.schema
    codec = compressors(plan.output.compression, plan.output.zarr_format)
    data_vars: dict[str, xr.Variable] = {}
    coords: dict[str, xr.Variable] = {}
    encoding: dict[str, dict[str, Any]] = {}
    for name, c in schema.coords.items():
        coords[name] = xr.Variable((name,), c.values, c.attrs)
        encoding[name] = {**c.encoding, "chunks": (max(1, len(c.values)),), "compressors": codec}
    for name, v in schema.variables.items():
        chunks = tuple(
            max(1, min(c, n)) for c, n in zip(plan.var_chunks(v.dims), v.shape, strict=True)
        )
        var = xr.Variable(v.dims, _lazy(v, chunks), v.attrs)
        (coords if v.is_coord else data_vars)[name] = var
        encoding[name] = {**v.encoding, "chunks": chunks, "compressors": codec}
    return xr.Dataset(data_vars, coords=coords, attrs=schema.attrs), encoding


def _lazy(v: TargetVariable, chunks: tuple[int, ...]) -> da.Array:
    import dask.array as da  # only the planning worker writes a template

    if v.dtype.kind != "O":
        return da.zeros(v.shape, chunks=chunks, dtype=v.dtype)
    if "calendar" in v.encoding:  # cftime dates
        sample = cftime.datetime(2000, 1, 1, calendar=v.encoding["calendar"])
        return da.full(v.shape, sample, chunks=chunks, dtype=object)
    return da.full(v.shape, "", chunks=chunks, dtype=object)
