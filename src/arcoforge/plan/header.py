"""InputHeader: what one input holds, read once from its header and coordinates.

Headers travel through the pipeline, so they stay small: variables are
described, not loaded, and index coordinates that repeat across inputs (the
grid's lat and lon) are kept once in a pool keyed by their hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import xarray as xr

from arcoforge.recipe.pattern import Index
from arcoforge.recipe.recipe import Preprocess
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.opener import open_dataset

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


@dataclass(frozen=True, slots=True)
class VariableHeader:
    """One variable of one input: dims, decoded dtype, CF encoding and attributes."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    encoding: dict[str, Any]
    attrs: dict[str, Any]
    is_coord: bool

    @property
    def is_time(self) -> bool:
        """Whether the values are decoded times (datetime64 or cftime objects)."""
        return self.dtype.kind == "M" or (self.dtype.kind == "O" and "calendar" in self.encoding)


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
    with open_dataset(
        cached,
        index,
        concat_dims=concat_dims,
        preprocess=preprocess,
        storage_options=storage_options,
    ) as ds:
        return describe(ds, index, cached)


def describe(ds: xr.Dataset, index: Index, cached: CachedInput) -> InputHeader:
    """The header of an opened dataset."""
    variables = {}
    coords = {}
    for name, var in ds.variables.items():
        name = str(name)
        variables[name] = VariableHeader(
            dims=tuple(str(d) for d in var.dims),
            shape=tuple(var.shape),
            dtype=var.dtype,
            encoding={k: var.encoding[k] for k in CF_KEYS if k in var.encoding},
            attrs=dict(var.attrs),
            is_coord=name in ds.coords,
        )
        if var.dims == (name,):
            values = np.asarray(var.values)
            coords[name] = Coord(hash_values(values), values)
    return InputHeader(
        index=index,
        input=cached,
        sizes={str(k): int(v) for k, v in ds.sizes.items()},
        variables=variables,
        attrs=dict(ds.attrs),
        coords=coords,
    )


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
        self.headers.append(replace(header, coords=coords))

    def merge(self, other: HeaderSet) -> None:
        self.headers.extend(other.headers)
        for key, values in other.pool.items():
            self.pool.setdefault(key, values)

    def values(self, coord: Coord) -> np.ndarray:
        """The values of ``coord``, from the pool if they were moved there."""
        return coord.values if coord.values is not None else self.pool[coord.hash]

    def sorted(self) -> list[InputHeader]:
        return sorted(self.headers, key=lambda h: h.index)
