"""A netCDF4 file's probe: what files written alike share, and where each one's bytes lie.

A probe reads a file's header with h5py's low-level API, at a fraction of the cost of a
parse (bench/README.md): each root dataset's name, shape, type, storage layout, chunk
shape, filters and fill value, the attributes that decide decoding and the netCDF
dimension ids (its *key*), and the byte ranges of its chunks. Two files whose keys are
equal are described alike, but for their data and small values (see
:mod:`arcoforge.sources.fastheaders.templates` and
:mod:`arcoforge.sources.fastheaders.repeated`). h5py and numpy only, so that the launcher
can probe the first input without importing xarray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

#: Attributes that change how stored values decode: part of a layout.
LAYOUT_ATTRS = ("scale_factor", "add_offset", "_FillValue", "missing_value", "_Unsigned")
#: Attributes a file may set for itself: its small coordinates are decoded with them.
OWN_ATTRS = ("units", "calendar")
#: The netCDF dimension ids, which fix each dataset's dims.
_DIM_ATTRS = ("_Netcdf4Coordinates", "_Netcdf4Dimid")
#: Attributes whose presence is part of a layout.
_KEY_ATTRS = (*LAYOUT_ATTRS, *_DIM_ATTRS, "CLASS")


@dataclass(frozen=True)
class Stored:
    """Where one dataset's bytes are: ``(chunk position, offset, length)`` per chunk."""

    chunks: tuple[int, ...] | None
    entries: tuple[tuple[tuple[int, ...], int, int], ...]


@dataclass(frozen=True)
class Probe:
    """What a netCDF4 file's header says, as far as a layout needs it."""

    #: everything that must be equal for two files to share a layout
    key: tuple[Any, ...]
    stored: dict[str, Stored]


def probe(f: h5py.File) -> Probe | None:
    """The layout key and byte ranges of ``f``'s root datasets, or None if it has no layout."""
    key: list[Any] = []
    stored: dict[str, Stored] = {}
    for raw_name in sorted(f.id):
        name = raw_name.decode("utf-8", "surrogateescape")
        try:
            obj = h5py.h5o.open(f.id, raw_name)
        except (KeyError, OSError, ValueError):  # e.g. a dangling link: parsed in full
            return None
        if not isinstance(obj, h5py.h5d.DatasetID):
            key.append((name, "group"))
            continue
        found = _dataset(obj)
        if found is None:
            return None
        key.append((name, *found[0]))
        stored[name] = found[1]
    return Probe(tuple(key), stored)


def _dataset(dsid: h5py.h5d.DatasetID) -> tuple[tuple[Any, ...], Stored] | None:
    dtype = dsid.dtype
    if dtype.kind not in "biuf":  # strings, compounds, references: parsed in full
        return None
    dcpl = dsid.get_create_plist()
    layout = dcpl.get_layout()
    filters = tuple(dcpl.get_filter(i)[:3] for i in range(dcpl.get_nfilters()))
    fill = np.zeros((1,), dtype=dtype)
    dcpl.get_fill_value(fill)
    present = tuple(a for a in _KEY_ATTRS if h5py.h5a.exists(dsid, a.encode()))
    if dsid.rank and not any(a in _DIM_ATTRS for a in present):
        return None  # dims from dimension scales alone: not worth pinning down here
    # The values of the attributes that decide decoding, and the dims of a variable
    # with more than one (a one-dimensional one is its own dimension or its dimension's)
    values = tuple(
        _frozen(_attr(dsid, a))
        for a in present
        if a in LAYOUT_ATTRS or (a == "_Netcdf4Coordinates" and dsid.rank > 1)
    )
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dsid.get_offset()
        if offset is None and not _dimension_only(dsid):
            return None  # never written: parsed in full
        where = Stored(
            None,
            ()  # a netCDF dimension without a variable: no values, nothing stored
            if offset is None
            else (((0,) * dsid.rank, int(offset), int(dsid.get_storage_size())),),
        )
    elif layout == h5py.h5d.CHUNKED:
        chunks = tuple(dcpl.get_chunk())
        infos: list[Any] = []
        dsid.chunk_iter(infos.append)
        grid = [-(-n // c) for n, c in zip(dsid.shape, chunks, strict=True)]
        if len(infos) != int(np.prod(grid)) or any(i.filter_mask for i in infos):
            return None  # chunks never written, or one that skipped a filter
        entries = tuple(
            (tuple(np.floor_divide(i.chunk_offset, chunks).tolist()), i.byte_offset, i.size)
            for i in infos
        )
        where = Stored(chunks, entries)
    else:  # compact: values inside the header
        return None
    entry = (dsid.shape, dtype.str, layout, where.chunks, filters, fill.tobytes(), present, values)
    return entry, where


def _dimension_only(dsid: h5py.h5d.DatasetID) -> bool:
    """Whether a dataset is a netCDF dimension that is not a variable (never written)."""
    if not h5py.h5a.exists(dsid, b"NAME"):
        return False
    return str(_text(_attr(dsid, "NAME"))).startswith(
        "This is a netCDF dimension but not a netCDF variable"
    )


def own_attrs(f: h5py.File, names: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """The units and calendar each of ``names`` has in ``f``."""
    out = {}
    for name in names:
        dsid = h5py.h5d.open(f.id, name.encode())
        out[name] = {
            a: _text(_attr(dsid, a)) for a in OWN_ATTRS if h5py.h5a.exists(dsid, a.encode())
        }
    return out


def _attr(dsid: h5py.h5d.DatasetID, name: str) -> Any:
    """An attribute's value as stored (strings as bytes), read with the low-level API."""
    aid = h5py.h5a.open(dsid, name.encode())
    if aid.shape is None:  # an empty attribute
        return h5py.AttributeManager(h5py.Dataset(dsid))[name]
    value = np.empty(aid.shape, dtype=aid.dtype)
    aid.read(value)
    return value[()] if value.ndim == 0 else value


def _frozen(value: Any) -> Any:
    """``value`` as something hashable that compares by content."""
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype.kind == "O":  # variable-length strings: compare the strings
            return ("O", array.shape, tuple(array.ravel().tolist()))
        return (array.dtype.str, array.shape, array.tobytes())
    return value


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.ravel()[0]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
