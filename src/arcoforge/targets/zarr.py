"""ZarrTarget: a rechunked copy in Zarr (format 3 or 2), published by one write.

Preparing writes every array's metadata document, and the dimension coordinates
(each in a single chunk), but never a root document: xarray writes the template
into a local scratch store, and only the arrays' files are copied to the target,
so CF encodings are stored exactly as xarray would store them. Tasks write whole
chunks straight to the arrays; rewriting a chunk is harmless, so a killed run
can simply run again. Publishing writes the root document last, carrying the
consolidated metadata: readers see either no dataset or the complete one.

Zarr 3: the root ``zarr.json`` (with ``consolidated_metadata`` inside) is one
write. Zarr 2: ``.zattrs`` and ``.zmetadata`` go first; neither opens a store
without ``.zgroup`` (zarr-python 3 looks for ``.zgroup``), which is written last.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
import zarr.storage
from xarray.coding.times import decode_cf_datetime
from zarr.abc.store import Store

from arcoforge.errors import TargetError
from arcoforge.location import Location, stored_bytes
from arcoforge.plan.copy_plan import Plan, TaskWork
from arcoforge.plan.schema import TargetVariable
from arcoforge.sources.manifest import Manifest
from arcoforge.sources.timeform import TimeForm, time_form
from arcoforge.targets.base import Kind
from arcoforge.targets.codecs import compressors
from arcoforge.targets.manifest import read_manifest_file, write_manifest

#: The root documents in the order publishing writes them; the last makes the store a
#: group, so readers open it. Removing a dataset takes them away in reverse order.
ROOT_DOCS = {2: (".zattrs", ".zmetadata", ".zgroup"), 3: ("zarr.json",)}
#: The documents that describe an array, per Zarr format.
ARRAY_DOCS = {2: (".zarray", ".zattrs"), 3: ("zarr.json",)}
#: The document whose presence makes a store a group, per Zarr format.
GROUP_DOC = {2: ".zgroup", 3: "zarr.json"}


class Status(StrEnum):
    """What a target location holds."""

    ABSENT = "absent"
    #: a complete dataset: its root metadata is in place
    PUBLISHED = "published"
    #: data without root metadata: an unfinished run
    UNPUBLISHED = "unpublished"


@dataclass(frozen=True)
class StagedStore:
    """A copy whose arrays are all written: what publishing it writes."""

    #: the root documents, consolidated metadata included (see :meth:`ZarrTarget.prepare`)
    docs: dict[str, str]
    #: root attributes added to the documents (the run's provenance)
    attrs: dict[str, Any]
    zarr_format: int
    #: the inputs' identities, written into the store just before its root documents
    manifest: Manifest | None = None
    #: arrays whose own documents are rewritten after the commit (an update's new shapes)
    arrays: dict[str, dict[str, str]] | None = None


class ZarrTarget(Location):
    """A Zarr store at ``url`` (a local path or an fsspec URL); a :class:`Target`."""

    kind: Kind = "zarr"

    #: write chunks holding only the fill value too (a store whose chunks replace others')
    write_empty_chunks = False

    def store(self, *, read_only: bool = False) -> Store:
        if self.is_local:
            return zarr.storage.LocalStore(self.path(), read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            self.url, storage_options=self.storage_options, read_only=read_only
        )

    def status(self) -> Status:
        if any(self.fs.exists(self.path(doc)) for doc in GROUP_DOC.values()):
            return Status.PUBLISHED
        return Status.UNPUBLISHED if self.fs.exists(self.path()) else Status.ABSENT

    def exists(self) -> bool:
        """Whether a complete dataset is in place (an unfinished run's arrays are not one)."""
        return self.status() is Status.PUBLISHED

    def published_attrs(self) -> dict[str, Any] | None:
        """The root attributes of the published dataset, or None if none is published."""
        return self.attrs() if self.exists() else None

    def manifest(self) -> Manifest | None:
        """The input manifest in the store (written just before its root document)."""
        return read_manifest_file(self.fs, self.path(), self.url)

    def attrs(self) -> dict[str, Any]:
        """The root attributes of a published dataset."""
        for doc, key in (("zarr.json", "attributes"), (".zattrs", None)):
            try:
                data = json.loads(self.fs.cat_file(self.path(doc)))
            except FileNotFoundError:
                continue
            found: dict[str, Any] = data.get(key, {}) if key else data
            return found
        return {}

    def remove(self) -> None:
        """Remove the store, its root documents first: readers never see a part of it."""
        for doc in ("zarr.json", *reversed(ROOT_DOCS[2])):
            if self.fs.exists(self.path(doc)):
                self._delete(doc)
        if self.fs.exists(self.path()):
            self._delete()

    def _delete(self, *parts: str) -> None:
        """Delete one file, or a folder with all it holds."""
        self.fs.rm(self.path(*parts), recursive=True)

    def prepare(self, plan: Plan) -> dict[str, str]:
        """Write the arrays' metadata and the dimension coordinates; returns the root
        documents (consolidated metadata included) held back until publishing.

        xarray writes the dimension coordinates, whole, into a scratch store, from which
        they are copied; the other arrays' documents are :func:`array_documents`'. No
        root document reaches the target.
        """
        fmt = plan.output.zarr_format
        coords, _, encoding = template(plan)
        with tempfile.TemporaryDirectory() as tmp:
            index = Path(tmp) / "index"
            own = {k: v for k, v in encoding.items() if k in coords.variables}
            _scratch(coords, index, fmt, own)
            root, documents = array_documents(plan)
            arrays: dict[str, dict[str, str]] = {}
            try:
                for name in coords.variables:
                    arrays[str(name)] = self._copy_array(index / str(name), str(name), fmt)
                for name, docs in documents.items():
                    for doc, text in docs.items():
                        self._put(text.encode(), name, doc)
                    arrays[name] = docs
            except (OSError, PermissionError) as e:
                raise TargetError(f"{self.url}: cannot write here: {e}") from e
        return root_documents(root, arrays, fmt)

    def _copy_array(self, source: Path, name: str, fmt: int) -> dict[str, str]:
        """Copy one array written by xarray (chunks, then documents); returns its documents."""
        files = sorted(
            (Path(d) / f for d, _, fs in os.walk(source) for f in fs),
            key=lambda p: p.name in ARRAY_DOCS[fmt],
        )
        for file in files:
            self._put(file.read_bytes(), name, *file.relative_to(source).parts)
        return {doc: (source / doc).read_text() for doc in ARRAY_DOCS[fmt]}

    def write(
        self,
        work: TaskWork,
        name: str,
        values: np.ndarray,
        zarr_format: int,
        metadata: str | None = None,
    ) -> None:
        """Write ``values`` to variable ``name`` over the task's region (whole chunks).

        ``metadata``: the array's document to write through instead of the stored one
        (an update writes past the shape its readers still see).
        """
        array = self._array(name, zarr_format, metadata)
        array[tuple(slice(a, b) for a, b in work.task.region)] = values

    def write_region(
        self,
        name: str,
        metadata: str,
        zarr_format: int,
        region: tuple[tuple[int, int], ...],
        values: np.ndarray,
    ) -> None:
        """Write ``values`` over ``region`` of array ``name``, through the array document
        ``metadata`` rather than the stored one (the chunks written are whole)."""
        array = self._array(name, zarr_format, metadata)
        array[tuple(slice(a, b) for a, b in region)] = values

    def _array(self, name: str, zarr_format: int, metadata: str | None) -> zarr.Array[Any]:
        if metadata is None:
            return zarr.open_array(
                store=self.store(), path=name, mode="r+", zarr_format=2 if zarr_format == 2 else 3
            )
        from zarr.core.array import AsyncArray
        from zarr.core.array_spec import ArrayConfigParams
        from zarr.storage import StorePath

        config: ArrayConfigParams | None = (
            {"write_empty_chunks": True} if self.write_empty_chunks else None
        )
        return zarr.Array(AsyncArray(json.loads(metadata), StorePath(self.store(), name), config))

    def write_array_docs(self, arrays: dict[str, dict[str, str]], zarr_format: int) -> None:
        """Write the arrays' own documents (after an update's commit: readers that do not
        use the consolidated metadata then see the new shapes too)."""
        for name, docs in sorted(arrays.items()):
            for doc in ARRAY_DOCS[zarr_format]:
                if doc in docs:
                    self._put(docs[doc].encode(), name, doc)

    def publish(self, staged: StagedStore) -> None:
        """Write the manifest, then the root documents with the staged attributes (the
        last one opens the dataset), then any array documents an update rewrites."""
        if staged.manifest is not None:
            write_manifest(self.url, staged.manifest, self.storage_options)
        self.write_root(staged.docs, staged.attrs, staged.zarr_format)
        if staged.arrays is not None:  # the commit is made: now the arrays' own documents
            self.write_array_docs(staged.arrays, staged.zarr_format)

    def write_root(self, docs: dict[str, str], attrs: dict[str, Any], zarr_format: int) -> None:
        """Write the root documents, with ``attrs`` added; the last one opens the dataset."""
        for name, text in with_attrs(docs, attrs, zarr_format).items():
            if self.is_local:  # renamed into place: never seen half-written
                tmp = self.path(f"{name}.partial-{uuid.uuid4().hex[:8]}")
                self._put(text.encode(), tmp.rsplit("/", 1)[-1])
                os.replace(tmp, self.path(name))
            else:
                self._put(text.encode(), name)  # one PUT: atomic on object stores

    def _put(self, data: bytes, *parts: str) -> None:
        """Write one whole file (one PUT on object storage)."""
        path = self.path(*parts)
        if self.is_local:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(path, data)

    def stored_bytes(self) -> int:
        return stored_bytes(self.fs, self.path())


def array_documents(plan: Plan) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The root group's documents and each planned variable's, with its real shape and
    chunks: xarray writes a one-element sample of every variable into a scratch store."""
    fmt = plan.output.zarr_format
    _, sample, encoding = template(plan)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "sample"
        ones = {
            name: {**enc, "chunks": tuple(1 for _ in sample[name].dims)}
            for name, enc in encoding.items()
            if name in plan.schema.variables
        }
        _scratch(sample, scratch, fmt, ones)
        arrays: dict[str, dict[str, str]] = {}
        for name, v in plan.schema.variables.items():
            docs = {doc: (scratch / name / doc).read_text() for doc in ARRAY_DOCS[fmt]}
            meta = ARRAY_DOCS[fmt][0]
            docs[meta] = resized(docs[meta], v.shape, plan.var_chunks(v.dims), fmt)
            arrays[name] = docs
        root = {doc: (scratch / doc).read_text() for doc in ROOT_DOCS[fmt] if doc != ".zmetadata"}
    return root, arrays


def _scratch(ds: xr.Dataset, path: Path, fmt: int, encoding: dict[str, Any]) -> None:
    """Write ``ds`` to a scratch store at ``path``, for its documents (and coordinates)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.to_zarr(path, mode="w", consolidated=False, zarr_format=fmt, encoding=encoding)


def root_documents(
    root: dict[str, str], arrays: dict[str, dict[str, str]], fmt: int
) -> dict[str, str]:
    """The root documents of a store with ``arrays``, consolidated metadata included,
    in the order they are to be written."""
    if fmt == 3:
        group = json.loads(root["zarr.json"])
        group["consolidated_metadata"] = {
            "kind": "inline",
            "must_understand": False,
            "metadata": {
                name: json.loads(docs["zarr.json"]) for name, docs in sorted(arrays.items())
            },
        }
        return {"zarr.json": json.dumps(group, indent=2)}
    metadata: dict[str, Any] = {
        ".zattrs": json.loads(root[".zattrs"]),
        ".zgroup": json.loads(root[".zgroup"]),
    }
    for name, docs in sorted(arrays.items()):
        for doc, text in docs.items():
            metadata[f"{name}/{doc}"] = json.loads(text)
    consolidated = {"metadata": metadata, "zarr_consolidated_format": 1}
    return {
        ".zattrs": root[".zattrs"],
        ".zmetadata": json.dumps(consolidated, indent=2),
        ".zgroup": root[".zgroup"],
    }


def with_attrs(docs: dict[str, str], attrs: dict[str, Any], fmt: int) -> dict[str, str]:
    """The root documents with ``attrs`` added to the root attributes, everywhere they appear."""
    if fmt == 3:
        group = json.loads(docs["zarr.json"])
        group.setdefault("attributes", {}).update(attrs)
        return {"zarr.json": json.dumps(group, indent=2)}
    root_attrs = {**json.loads(docs[".zattrs"]), **attrs}
    consolidated = json.loads(docs[".zmetadata"])
    consolidated["metadata"][".zattrs"] = root_attrs
    return {
        ".zattrs": json.dumps(root_attrs, indent=2),
        ".zmetadata": json.dumps(consolidated, indent=2),
        ".zgroup": docs[".zgroup"],
    }


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
    if time_form(v.dtype, v.encoding) is TimeForm.DECODED and units:
        calendar = v.encoding.get("calendar", "standard")
        epoch = decode_cf_datetime(np.array([0]), units, calendar)[0]
        return np.full(shape, epoch, dtype=v.dtype)
    if v.dtype.kind != "O":
        return np.zeros(shape, dtype=v.dtype)
    return np.full(shape, "", dtype=object)


def resized(text: str, shape: tuple[int, ...], chunks: tuple[int, ...], fmt: int) -> str:
    """An array's metadata document with its shape and chunk shape replaced."""
    doc = json.loads(text)
    chunks = tuple(max(1, min(c, n)) for c, n in zip(chunks, shape, strict=True))
    doc["shape"] = list(shape)
    if fmt == 3:
        doc["chunk_grid"]["configuration"]["chunk_shape"] = list(chunks)
    else:
        doc["chunks"] = list(chunks)
    return json.dumps(doc, indent=2)
