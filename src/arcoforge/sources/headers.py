"""InputHeader: what one input holds, read once from its header and coordinates.

Headers travel through the pipeline, so they stay small: variables are
described, not loaded, and index coordinates that repeat across inputs (the
grid's lat and lon) are kept once in a pool keyed by their hash.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import h5py
import numpy as np
import xarray as xr

from arcoforge.recipe.pattern import FileType, Index
from arcoforge.recipe.validated import Preprocess
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.hdf5 import open_contents
from arcoforge.sources.opener import local_path, open_local
from arcoforge.sources.timeform import TimeForm, time_form

#: The encoding keys that decide how stored values become decoded ones.
CF_KEYS = (
    "dtype",
    "scale_factor",
    "add_offset",
    "_FillValue",
    "missing_value",
    "units",
    "calendar",
    "_Unsigned",
)
#: Variables other than index coordinates are hashed when they hold at most this many
#: values, so merged inputs that share them (CF bounds) can be compared.
HASHED_VALUES = 100_000
#: ... and their values kept (pooled) when they hold at most this many, to show differences.
KEPT_VALUES = 1_000


@dataclass(frozen=True, slots=True)
class VariableHeader:
    """One variable of one input: dims, decoded dtype, CF encoding and attributes."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    encoding: dict[str, Any]
    attrs: dict[str, Any]
    is_coord: bool
    #: bytes of one source chunk, decompressed (0: contiguous), and whether it is filtered
    source_chunk: int = 0
    compressed: bool = False

    @property
    def is_time(self) -> bool:
        """Whether the values are decoded times (datetime64 or cftime objects)."""
        return time_form(self.dtype, self.encoding) is TimeForm.DECODED


@dataclass(frozen=True, slots=True)
class Coord:
    """The values of an index coordinate, or only their hash once pooled."""

    hash: str
    values: np.ndarray | None


@dataclass(frozen=True, slots=True)
class InputHeader:
    """Everything the planner needs to know about one input."""

    index: Index
    input: CachedInput
    sizes: dict[str, int]
    variables: dict[str, VariableHeader]
    attrs: dict[str, Any]
    coords: dict[str, Coord]
    #: the other small variables' hashes (and values, if few), for the merge rule
    small: dict[str, Coord] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.input.url


def read_header(
    cached: CachedInput,
    index: Index,
    *,
    concat_dims: tuple[str, ...],
    preprocess: Preprocess | None = None,
    storage_options: dict[str, Any] | None = None,
) -> InputHeader:
    """Read ``cached``'s header (after ``preprocess``), loading only index coordinates."""
    with local_path(cached, storage_options) as path:
        if preprocess is None and cached.file_type is FileType.NETCDF4:
            with open_contents(path) as contents:
                dims = {
                    d for v in (contents.variables.values() if contents else ()) for d in v.dims
                }
                if contents is not None and dims.issuperset(concat_dims):
                    return describe(
                        contents.variables, contents.coord_names, contents.attrs, index, cached
                    )
        with open_local(path, cached, index, concat_dims=concat_dims, preprocess=preprocess) as ds:
            header = describe(ds.variables, set(map(str, ds.coords)), ds.attrs, index, cached)
        if preprocess is not None and cached.file_type is FileType.NETCDF4:
            header = _with_source_chunks(header, path)
        return header


def _with_source_chunks(header: InputHeader, path: str) -> InputHeader:
    """The header, with the file's own chunks for variables a preprocess made anew.

    Variables computed by a preprocess have no encoding left, yet their values are
    still read from the file's chunks: each takes the chunks of the file's variable
    of the same name, or, under a new name, the file's largest.
    """
    with h5py.File(path, "r") as f:
        found = {
            name: storage(
                {
                    "chunksizes": obj.chunks,
                    "compressed": obj.id.get_create_plist().get_nfilters() > 0,
                },
                obj.dtype,
            )
            for name, obj in f.items()
            if isinstance(obj, h5py.Dataset)
        }
    largest = max(
        found.values(), key=lambda s: s["source_chunk"], default=storage({}, np.dtype("u1"))
    )
    variables = {
        name: v if v.source_chunk else replace(v, **found.get(name, largest))
        for name, v in header.variables.items()
    }
    return replace(header, variables=variables)


def _has_dims(variables: Mapping[str, xr.Variable], dims: tuple[str, ...]) -> bool:
    return set(dims) <= {d for v in variables.values() for d in v.dims}


def describe(
    variables: Mapping[Any, xr.Variable],
    coord_names: set[str],
    attrs: Mapping[Any, Any],
    index: Index,
    cached: CachedInput,
) -> InputHeader:
    """The header of an input's decoded variables; loads index coordinates only."""
    out = {}
    coords = {}
    small = {}
    sizes: dict[str, int] = {}
    for key, var in variables.items():
        name = str(key)
        dims = tuple(str(d) for d in var.dims)
        sizes.update(zip(dims, var.shape, strict=True))
        out[name] = variable_header(name, var, is_coord=name in coord_names)
        if dims == (name,):
            values = np.asarray(var.values)
            coords[name] = Coord(hash_values(values), values)
        elif var.size <= HASHED_VALUES:
            values = np.asarray(var.values)
            small[name] = Coord(hash_values(values), values if values.size <= KEPT_VALUES else None)
    return InputHeader(
        index=index,
        input=cached,
        sizes=sizes,
        variables=out,
        attrs={str(k): v for k, v in attrs.items()},
        coords=coords,
        small=small,
    )


def variable_header(name: str, var: xr.Variable, *, is_coord: bool) -> VariableHeader:
    """The header of one decoded variable (an index coordinate is always a coordinate)."""
    dims = tuple(str(d) for d in var.dims)
    encoding = {k: var.encoding[k] for k in CF_KEYS if k in var.encoding}
    if "dtype" in encoding:
        encoding["dtype"] = np.dtype(encoding["dtype"]).newbyteorder("=")
    return VariableHeader(
        dims=dims,
        shape=tuple(var.shape),
        dtype=var.dtype,
        encoding=encoding,
        attrs=dict(var.attrs),
        is_coord=is_coord or dims == (name,),
        **storage(var.encoding, var.dtype),
    )


#: Encoding flags of xarray's netCDF4 backends that mean a filter decodes each chunk.
_FILTERS = ("zlib", "szip", "bzip2", "blosc", "zstd", "compressed")


def storage(encoding: Mapping[str, Any], dtype: np.dtype) -> dict[str, Any]:
    """How the source stores a variable: its chunk's bytes and whether they are filtered."""
    chunks = encoding.get("chunksizes")
    if not chunks or encoding.get("contiguous"):
        return {"source_chunk": 0, "compressed": False}
    itemsize = np.dtype(encoding.get("dtype", dtype)).itemsize
    filtered = any(encoding.get(k) for k in _FILTERS) or bool(encoding.get("compression"))
    return {"source_chunk": itemsize * math.prod(chunks), "compressed": filtered}


def hash_values(values: np.ndarray) -> str:
    """A content hash of an array, equal for equal values of equal dtype."""
    h = hashlib.sha256(str(values.dtype).encode() + str(values.shape).encode())
    if values.dtype.kind == "O":
        h.update(repr(values.tolist()).encode())
    else:
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:32]


@dataclass
class HeaderSet:
    """Headers of all inputs, with the index coordinates of non-concat dims pooled."""

    concat_dims: tuple[str, ...]
    headers: list[InputHeader] = field(default_factory=list)
    pool: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, header: InputHeader) -> None:
        """Add a header, moving its repeating coordinate values into the pool."""
        coords = {}
        for name, coord in header.coords.items():
            if name in self.concat_dims or coord.values is None:
                coords[name] = coord
                continue
            self.pool.setdefault(coord.hash, coord.values)
            coords[name] = Coord(coord.hash, None)
        small = {}
        for name, coord in header.small.items():
            if coord.values is not None:
                self.pool.setdefault(coord.hash, coord.values)
            small[name] = Coord(coord.hash, None)
        self.headers.append(replace(header, coords=coords, small=small))

    def merge(self, other: HeaderSet) -> None:
        self.headers.extend(other.headers)
        for key, values in other.pool.items():
            self.pool.setdefault(key, values)

    def kept(self, coord: Coord) -> np.ndarray | None:
        """The values of ``coord`` if they were kept, else None."""
        return coord.values if coord.values is not None else self.pool.get(coord.hash)

    def values(self, coord: Coord) -> np.ndarray:
        """The values of ``coord``, from the pool if they were moved there."""
        return coord.values if coord.values is not None else self.pool[coord.hash]

    def sorted(self) -> list[InputHeader]:
        return sorted(self.headers, key=lambda h: h.index)
