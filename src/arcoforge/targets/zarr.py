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
import tempfile
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
import zarr.storage
from xarray.coding.times import decode_cf_datetime

from arcoforge.errors import TargetError
from arcoforge.location import Location
from arcoforge.plan.plan import Plan, TaskWork
from arcoforge.plan.schema import TargetVariable
from arcoforge.targets.codecs import compressors

#: The documents that make a store's root a group, per Zarr format.
ROOT_DOCS = {2: (".zgroup", ".zattrs"), 3: ("zarr.json",)}
#: The documents that describe an array, per Zarr format.
ARRAY_DOCS = {2: (".zarray", ".zattrs"), 3: ("zarr.json",)}


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
        """Write the template; returns the root documents held back until publishing.

        xarray writes the dimension coordinates, whole, and a one-element sample of
        every other variable into a scratch store; each variable's metadata is then
        copied with its real shape and chunks. Every attribute, fill value and codec
        is thus exactly what xarray writes, with no array computed or allocated.
        """
        fmt = plan.output.zarr_format
        coords, sample, encoding = template(plan)
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch:
            warnings.simplefilter("ignore")
            try:
                coords.to_zarr(
                    self.store(),
                    mode="w",
                    consolidated=False,
                    zarr_format=fmt,
                    encoding={k: v for k, v in encoding.items() if k in coords.variables},
                )
            except (OSError, PermissionError) as e:
                raise TargetError(f"{self.url}: cannot write here: {e}") from e
            sample.to_zarr(
                scratch,
                mode="w",
                consolidated=False,
                zarr_format=fmt,
                encoding={
                    name: {**enc, "chunks": tuple(1 for _ in sample[name].dims)}
                    for name, enc in encoding.items()
                    if name in plan.schema.variables
                },
            )
            for name, v in plan.schema.variables.items():
                self.fs.makedirs(self.path(name), exist_ok=True)
                for doc in ARRAY_DOCS[fmt]:
                    text = (Path(scratch) / name / doc).read_text()
                    if doc in ("zarr.json", ".zarray"):
                        text = _resized(text, v.shape, plan.var_chunks(v.dims), fmt)
                    self.fs.pipe_file(self.path(name, doc), text.encode())
            docs = {}
            for doc in ROOT_DOCS[fmt]:
                docs[doc] = (Path(scratch) / doc).read_text()
                self.fs.rm_file(self.path(doc))
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


def template(plan: Plan) -> tuple[xr.Dataset, xr.Dataset, dict[str, dict[str, Any]]]:
    """The dimension coordinates; a one-element sample of the whole dataset; the encoding.

    The sample has every variable, coordinate and attribute of the target, so
    xarray records which variables are coordinates exactly as for the real thing.
    """
    schema = plan.schema
    codec = compressors(plan.output.compression, plan.output.zarr_format)
    coords: dict[str, xr.Variable] = {}
    sample_coords: dict[str, xr.Variable] = {}
    sample_vars: dict[str, xr.Variable] = {}
    encoding: dict[str, dict[str, Any]] = {}
    for name, c in schema.coords.items():
        coords[name] = xr.Variable((name,), c.values, c.attrs)
        sample_coords[name] = xr.Variable((name,), c.values[:1], c.attrs)
        encoding[name] = {**c.encoding, "chunks": (max(1, len(c.values)),), "compressors": codec}
    for name, v in schema.variables.items():
        shape = tuple(min(1, n) for n in v.shape)
        var = xr.Variable(v.dims, _sample(v, shape), v.attrs)
        (sample_coords if v.is_coord else sample_vars)[name] = var
        chunks = tuple(
            max(1, min(c, n)) for c, n in zip(plan.var_chunks(v.dims), v.shape, strict=True)
        )
        encoding[name] = {**v.encoding, "chunks": chunks, "compressors": codec}
    index = xr.Dataset(coords=coords, attrs=schema.attrs)
    sample = xr.Dataset(sample_vars, coords=sample_coords, attrs=schema.attrs)
    return index, sample, encoding


def _sample(v: TargetVariable, shape: tuple[int, ...]) -> np.ndarray:
    """Values of the variable's decoded dtype that its encoding stores exactly.

    For times that is the reference date of their units (stored as 0): any other
    date could make xarray pick finer units than the ones the tasks write with.
    """
    units = v.encoding.get("units")
    is_time = v.dtype.kind == "M" or (v.dtype.kind == "O" and "calendar" in v.encoding)
    if is_time and units:
        calendar = v.encoding.get("calendar", "standard")
        epoch = decode_cf_datetime(np.array([0]), units, calendar)[0]
        return np.full(shape, epoch, dtype=v.dtype)
    if v.dtype.kind != "O":
        return np.zeros(shape, dtype=v.dtype)
    return np.full(shape, "", dtype=object)


def _resized(text: str, shape: tuple[int, ...], chunks: tuple[int, ...], fmt: int) -> str:
    """An array's metadata document with its shape and chunk shape replaced."""
    doc = json.loads(text)
    chunks = tuple(max(1, min(c, n)) for c, n in zip(chunks, shape, strict=True))
    doc["shape"] = list(shape)
    if fmt == 3:
        doc["chunk_grid"]["configuration"]["chunk_shape"] = list(chunks)
    else:
        doc["chunks"] = list(chunks)
    return json.dumps(doc, indent=2)
