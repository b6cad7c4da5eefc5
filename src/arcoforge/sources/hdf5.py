"""netCDF4 (HDF5) files read with h5py directly: the hot path of headers and raw copies.

xarray's h5netcdf backend walks variables, dimension scales and encodings far
slower than reading the same structure with h5py (bench/README.md), which
matters when an archive has thousands of files. Attributes
go through h5netcdf's own ``Attributes`` mapping and are decoded by xarray's
``decode_cf_variables``, so what comes out is what ``xr.open_dataset`` gives.
A file with anything less common (phony dimensions, strings, compound or enum
types) is reported as unsupported and read through xarray instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from io import RawIOBase
from typing import Any, BinaryIO

import h5py
import numpy as np
import xarray as xr
from h5netcdf.attrs import Attributes
from xarray.backends import BackendArray
from xarray.conventions import decode_cf_variables
from xarray.core import indexing

_SCALE = b"DIMENSION_SCALE"
_NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable"
#: How stored values are decoded: xarray's defaults for ``open_dataset``, spelled out.
CF_DECODING: dict[str, Any] = {
    "concat_characters": True,
    "mask_and_scale": True,
    "decode_times": True,
    "decode_coords": True,
    "drop_variables": None,
    "use_cftime": None,
    "decode_timedelta": None,
}


@dataclass(frozen=True)
class Contents:
    """A file's decoded variables (lazy), which of them are coordinates, its attributes."""

    variables: dict[str, xr.Variable]
    coord_names: set[str]
    attrs: dict[str, Any]


@contextmanager
def open_contents(path: str | BinaryIO | RawIOBase) -> Iterator[Contents | None]:
    """The decoded contents of a netCDF4 file (a path or a file object), or None if it
    needs xarray's full reader.

    Variables read their values lazily from the open file: use them inside the block.
    """
    with h5py.File(path, "r") as f:
        yield contents_of(f)


def contents_of(f: h5py.File) -> Contents | None:
    """The decoded contents of an open netCDF4 file, or None if it needs xarray's reader."""
    raw = _raw_variables(f)
    if raw is None:
        return None
    try:
        variables, attrs, coords = decode_cf_variables(raw, attributes(f), **CF_DECODING)
    except ValueError:  # e.g. undecodable time units: the xarray reader's rules apply
        return None
    return Contents(dict(variables), {str(c) for c in coords}, dict(attrs))


def read_raw(f: h5py.File, name: str, key: tuple[slice, ...]) -> np.ndarray | None:
    """The stored values of ``name`` at ``key``, or None if its dims differ from ``key``'s."""
    dataset = f.get(name)
    if not isinstance(dataset, h5py.Dataset) or dataset.ndim != len(key):
        return None
    return np.asarray(dataset[key])


def _raw_variables(f: h5py.File) -> dict[str, xr.Variable] | None:
    datasets = {n: o for n, o in f.items() if isinstance(o, h5py.Dataset)}
    names: dict[Any, str] = {}
    sizes: dict[str, int] = {}
    out: dict[str, xr.Variable] = {}
    for name, obj in datasets.items():
        if obj.dtype.kind not in "biuf" or h5py.check_enum_dtype(obj.dtype) is not None:
            return None
        is_scale = obj.attrs.get("CLASS") == _SCALE
        if is_scale and obj.attrs.get("NAME", b"").startswith(_NOT_A_VARIABLE):
            sizes.setdefault(name, obj.shape[0] if obj.ndim else 0)
            continue
        if is_scale and obj.ndim == 1:
            dims: tuple[str, ...] | None = (name,)
        else:
            dims = _dims(f, obj, names)
        if dims is None:
            return None
        for dim, n in zip(dims, obj.shape, strict=True):
            if sizes.setdefault(dim, n) != n:
                return None  # unlimited dims of unequal lengths: xarray's rules apply
        attrs = attributes(obj)
        data = indexing.LazilyIndexedArray(_Array(obj))
        encoding = {
            "dtype": obj.dtype,
            "chunksizes": obj.chunks,
            "compressed": obj.id.get_create_plist().get_nfilters() > 0,
        }
        out[name] = xr.Variable(dims, data, attrs, encoding=encoding)
    return out


def _dims(f: h5py.File, obj: h5py.Dataset, names: dict[Any, str]) -> tuple[str, ...] | None:
    if obj.ndim == 0:
        return ()
    refs = obj.attrs.get("DIMENSION_LIST")
    if refs is None or len(refs) != obj.ndim:
        return None  # phony dimensions: leave them to h5netcdf's rules
    dims = []
    for axis in refs:
        if len(axis) != 1:
            return None
        ref = axis[0]
        if ref not in names:
            names[ref] = f[ref].name.rsplit("/", 1)[-1]
        dims.append(names[ref])
    return tuple(dims)


#: The attributes that decide how stored values decode (CF), and bounds that share them.
CF_ATTRIBUTES = (
    "units",
    "calendar",
    "scale_factor",
    "add_offset",
    "_FillValue",
    "missing_value",
    "valid_range",
    "valid_min",
    "valid_max",
    "_Unsigned",
    "bounds",
    "dtype",
)


def cf_attributes(obj: h5py.HLObject) -> dict[str, Any]:
    """The attributes among ``CF_ATTRIBUTES``, as :func:`attributes` reads them."""
    found = Attributes(obj.attrs, None, h5py)
    return {k: _decoded(k, found[k]) for k in CF_ATTRIBUTES if k in obj.attrs}


def attributes(obj: h5py.HLObject) -> dict[str, Any]:
    """Attributes as xarray's h5netcdf backend reads them."""
    return {k: _decoded(k, v) for k, v in Attributes(obj.attrs, None, h5py).items()}


def _decoded(key: str, value: Any) -> Any:
    if key not in ("_FillValue", "missing_value") and isinstance(value, bytes):
        with suppress(UnicodeDecodeError):  # xarray keeps undecodable bytes as they are
            value = value.decode("utf-8")
    return value


class _Array(BackendArray):
    """Lazy access to an open h5py dataset, for xarray's decoding machinery."""

    def __init__(self, dataset: h5py.Dataset):
        self.dataset = dataset
        self.shape = dataset.shape
        self.dtype = dataset.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        found: np.ndarray = indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._get
        )
        return found

    def _get(self, key: tuple[Any, ...]) -> np.ndarray:
        return np.asarray(self.dataset[key])
