"""KerchunkTarget: references to the inputs' bytes, as Kerchunk JSON or Parquet.

Writing is two steps, so that a run with several outputs publishes them together:
``stage`` writes what readers cannot see yet, ``publish`` makes it visible in one
write. JSON is one file: staged in memory, published by a rename (local) or one PUT
(object storage). Parquet is a folder of versions behind a pointer::

    <id>.parquet/
      v-<hash>-<tag>/      a complete Kerchunk Parquet store (.zmetadata, <var>/refs.N.parq)
      latest.json          {"version": "v-<hash>-<tag>"}, written last, in one write

Readers see the previous complete version until the new pointer lands; older
versions are removed after. Zarr format 2 metadata, as Kerchunk readers expect
(``engine="kerchunk"``).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
import shutil
import tempfile
import uuid
from collections import Counter
from typing import Any, Literal

import numpy as np
import xarray as xr

from arcoforge.errors import TargetError, UnrepresentableError
from arcoforge.location import Location, stored_bytes
from arcoforge.sources.manifest import Manifest
from arcoforge.targets.base import Kind, StageOptions
from arcoforge.targets.manifest import (
    MANIFEST_KEY,
    manifest_errors,
    read_manifest_file,
    with_manifest,
    write_manifest,
)

#: The document of a Parquet reference store that holds the metadata.
PARQUET_METADATA = ".zmetadata"
#: The pointer to the current version of a Parquet output.
POINTER = "latest.json"
#: The prefix of a version folder's name.
VERSION_PREFIX = "v-"


class KerchunkTarget(Location):
    """Kerchunk references at ``url`` (a ``.json`` file or a ``.parquet`` folder); a
    :class:`~arcoforge.targets.base.ReferenceTarget`."""

    def __init__(
        self,
        url: str,
        fmt: Literal["json", "parquet"],
        storage_options: dict[str, Any] | None = None,
    ):
        super().__init__(url, storage_options)
        self.format = fmt

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "format": self.format}

    def __setstate__(self, state: dict[str, Any]) -> None:
        KerchunkTarget.__init__(self, state["url"], state["format"], state["storage_options"])

    @property
    def kind(self) -> Kind:
        return self.format

    def version(self) -> str | None:
        """The folder name of a Parquet output's current version ("" for a single,
        unversioned store), or None if nothing is published."""
        try:
            return str(json.loads(self.fs.cat_file(self.path(POINTER)))["version"])
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as e:
            raise TargetError(
                f"{self.url_of(POINTER)}: expected a JSON object naming the current version "
                f'({{"version": "v-..."}}). Got something else ({e}). Run with --overwrite '
                "to write the references again."
            ) from None
        return "" if self.fs.exists(self.path(PARQUET_METADATA)) else None

    def published_attrs(self) -> dict[str, Any] | None:
        """The root attributes of the references in place, or None if there are none."""
        if self.format == "parquet":
            version = self.version()
            if version is None:
                return None
            name = self.path(*filter(None, [version, PARQUET_METADATA]))
        else:
            name = self.path()
        try:
            doc = json.loads(self.fs.cat_file(name))
        except FileNotFoundError:
            return None
        refs = doc.get("metadata") if self.format == "parquet" else doc.get("refs", doc)
        attrs = (refs or {}).get(".zattrs", "{}")
        return json.loads(attrs) if isinstance(attrs, str | bytes) else dict(attrs)

    def exists(self) -> bool:
        """Whether something other than a run's unpublished versions (or a pointer it was
        writing when it died) is at ``url``."""
        if self.format == "json" or not self.fs.isdir(self.path()):
            return bool(self.fs.exists(self.path()))
        names = [
            p.rstrip("/").rsplit("/", 1)[-1]
            for p in self.fs.ls(self.path(), detail=False, refresh=True)
        ]
        unpublished = (VERSION_PREFIX, f"{POINTER}.partial-")
        return any(not n.startswith(unpublished) for n in names)

    def manifest(self) -> Manifest | None:
        """The input manifest: a key of the JSON document, or a file in the Parquet version."""
        if self.format == "parquet":
            version = self.version()
            if version is None:
                return None
            return read_manifest_file(self.fs, self.path(version), self.url_of(version))
        try:
            data = self.fs.cat_file(self.path())
        except FileNotFoundError:
            return None
        with manifest_errors(f"{self.url} (its key {MANIFEST_KEY!r})"):
            doc = json.loads(data)
            found = doc.get(MANIFEST_KEY) if isinstance(doc, dict) else None
            return None if found is None else Manifest.from_dict(found)

    def remove(self) -> None:
        """Remove the references: a JSON file, or a Parquet output's pointer, then the rest."""
        if self.format == "parquet" and self.fs.exists(self.path(POINTER)):
            self._delete(POINTER)
        if self.format == "parquet" and self.fs.exists(self.path(PARQUET_METADATA)):
            self._delete(PARQUET_METADATA)
        if self.fs.exists(self.path()):
            self._delete()

    def stage(
        self,
        ds: xr.Dataset,
        manifest: Manifest | None = None,
        options: StageOptions | None = None,
    ) -> dict[str, Any]:
        """Write what readers cannot see yet, with the manifest of its inputs; returns what
        :meth:`publish` needs. (References hold their own URLs: ``options`` is not needed.)"""
        refs = unmasked(completed(ds.vz.to_kerchunk(format="dict")))
        if self.format == "json":
            refs = with_manifest(refs, manifest)
            return {"json": json.dumps(refs, separators=(",", ":"))}
        digest = str(ds.attrs.get("arcoforge_plan", ""))[:12] or "refs"
        version = f"{VERSION_PREFIX}{digest}-{uuid.uuid4().hex[:6]}"
        self._put_version(refs, version, manifest)
        return {"version": version}

    def publish(self, staged: dict[str, Any]) -> None:
        """Make the staged references the ones readers open: one write."""
        if self.format == "json":
            self._put_file(self.path(), staged["json"].encode())
            return None
        pointer = json.dumps({"version": staged["version"]}).encode()
        self._put_file(self.path(POINTER), pointer)
        self._drop_all_but(staged["version"])

    def _put_file(self, path: str, data: bytes) -> None:
        if not self.is_local:
            self.fs.pipe_file(path, data)  # one PUT: atomic on object stores
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.partial-{uuid.uuid4().hex[:8]}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def _put_version(self, refs: dict[str, Any], version: str, manifest: Manifest | None) -> None:
        from kerchunk.df import refs_to_dataframe

        with tempfile.TemporaryDirectory(prefix="arcoforge-refs-") as tmp:
            staged = os.path.join(tmp, "refs.parquet")
            refs_to_dataframe(refs, url=staged)
            if manifest is not None:
                write_manifest(staged, manifest, None)
            if self.is_local:
                os.makedirs(self.path(), exist_ok=True)
                shutil.move(staged, self.path(version))
                return
            for name in os.listdir(staged):
                src = os.path.join(staged, name)
                if os.path.isdir(src):
                    self.fs.put(src, self.path(version, name), recursive=True)
                else:
                    self.fs.put_file(src, self.path(version, name))

    def _drop_all_but(self, version: str) -> None:
        """Remove earlier versions and any earlier unversioned store, its metadata first."""
        if self.fs.exists(self.path(PARQUET_METADATA)):
            self._delete(PARQUET_METADATA)
        for path in self.fs.ls(self.path(), detail=False, refresh=True):
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if name not in (version, POINTER):
                self._delete(name)

    def _delete(self, *parts: str) -> None:
        """Delete one file, or a folder with all it holds."""
        self.fs.rm(self.path(*parts), recursive=True)

    def stored_bytes(self) -> int:
        return stored_bytes(self.fs, self.path())


#: The most bytes of fill-value chunks inlined for one array's chunks that were never written.
MAX_FILL_BYTES = 1 << 20


def completed(refs: dict[str, Any]) -> dict[str, Any]:
    """``refs`` with the chunk keys Zarr v2 readers look for, and no chunk left to chance.

    A 0-d array's one chunk is ``name/0`` (VirtualiZarr writes ``name/``, which no
    reader asks for). A chunk the source never wrote reads as the source's fill value
    (a netCDF ``grid_mapping`` scalar holds the netCDF default fill); a reader of
    references would give ``fill_value``, which :func:`unmasked` may clear, so such
    chunks are inlined, full of the source's fill value.
    """
    docs = refs.get("refs", refs)
    counts = Counter(k.rsplit("/", 1)[0] for k in docs if "/" in k)
    for key in [k for k in docs if k.endswith("/.zarray")]:
        name = key[: -len("/.zarray")]
        zarray = _doc(docs[key])
        if not zarray.get("shape") and f"{name}/" in docs:
            docs[f"{name}/0"] = docs.pop(f"{name}/")
        sizes = zip(zarray["shape"], zarray["chunks"], strict=True)
        grid = [math.ceil(n / c) if c else 0 for n, c in sizes]
        whole = counts[name] - 2 >= math.prod(grid)  # .zarray and .zattrs besides the chunks
        if not whole and "_FillValue" not in _doc(docs.get(f"{name}/.zattrs", "{}")):
            _fill_missing(name, zarray, grid, docs)
    return refs


def _fill_missing(name: str, zarray: dict[str, Any], grid: list[int], docs: dict[str, Any]) -> None:
    """Inline the chunks of ``name`` that hold no reference, when its fill value is not 0."""
    fill = zarray.get("fill_value")
    if fill in (None, 0, "0", 0.0):
        return
    chunks = zarray["chunks"]
    sep = zarray.get("dimension_separator") or "."
    keys = (sep.join(map(str, pos)) or "0" for pos in itertools.product(*map(range, grid)))
    missing = [k for k in keys if f"{name}/{k}" not in docs]
    if not missing:
        return
    dtype = np.dtype(zarray["dtype"])
    value = np.full(chunks, _fill_value(fill, dtype), dtype=dtype)
    if len(missing) * value.nbytes > MAX_FILL_BYTES:
        raise UnrepresentableError(
            f"{name!r}: {len(missing):,} of its chunks were never written in the inputs, so they "
            f"read as its fill value {fill!r}, which Kerchunk references would give as "
            f"{len(missing) * value.nbytes:,} inlined bytes (at most {MAX_FILL_BYTES:,}). Use "
            "format: icechunk or the zarr output (a copy) instead."
        )
    encoded = _encode(value.tobytes(), zarray)
    inline = "base64:" + base64.b64encode(encoded).decode("ascii")
    for position in missing:
        docs[f"{name}/{position}"] = inline


def _fill_value(fill: Any, dtype: np.dtype) -> Any:
    if isinstance(fill, str) and dtype.kind == "f":  # "NaN", "Infinity", "-Infinity"
        return float(fill.replace("Infinity", "inf"))
    return fill


def _encode(data: bytes, zarray: dict[str, Any]) -> bytes:
    """``data`` through the array's filters and compressor, as a stored chunk is."""
    import numcodecs

    out: Any = data
    for spec in zarray.get("filters") or []:
        out = numcodecs.get_codec(spec).encode(out)
    if zarray.get("compressor"):
        out = numcodecs.get_codec(zarray["compressor"]).encode(out)
    return bytes(out)


def unmasked(refs: dict[str, Any]) -> dict[str, Any]:
    """``refs`` with no fill value on arrays whose source declares none.

    Zarr v2 readers (xarray) mask an array's ``fill_value``; VirtualiZarr writes 0
    for a variable without ``_FillValue``, which would turn an int8 flag or a scalar
    into floats with NaN where the data holds 0.
    """
    docs = refs.get("refs", refs)
    for key in [k for k in docs if k.endswith("/.zarray")]:
        name = key[: -len("/.zarray")]
        attrs = _doc(docs.get(f"{name}/.zattrs", "{}"))
        if "_FillValue" in attrs:
            continue
        zarray = _doc(docs[key])
        if zarray.get("fill_value") is not None:
            zarray["fill_value"] = None
            docs[key] = json.dumps(zarray)
    return refs


def _doc(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value)
