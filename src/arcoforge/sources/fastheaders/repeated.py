"""Inputs read by range that repeat one parsed before: its chunk maps, their own values.

Parsing a netCDF4 header with h5py and describing it is most of what reading an input's
header costs (bench/README.md), and most of it rebuilds what every file of an archive
shares. Files written alike are often the same bytes everywhere but in their data: an
input whose fetched edges repeat a parsed one's outside every dataset's stored bytes is
read by HDF5 exactly as that one was (see
:class:`~arcoforge.sources.fastheaders.templates.Model`), so it has the same variables,
attributes, encodings and byte ranges. Only its data may differ, and of its data a header holds
only the small variables (coordinates such as ``time``, bounds): those are read from its
own bytes and decoded as the parsed input's were.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import h5py
import numpy as np
import xarray as xr
from xarray.conventions import decode_cf_variables

from arcoforge.recipe.pattern import Index
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.chunkmap import ChunkMap
from arcoforge.sources.fastheaders.edges import RangeFile
from arcoforge.sources.fastheaders.templates import Model, Stored, model_of, probe, repeats
from arcoforge.sources.hdf5 import CF_DECODING, contents_of
from arcoforge.sources.headers import KEPT_VALUES, Coord, InputHeader, describe, hash_values

#: Models kept by one process (an archive has one file size, or one per month length).
MAX_MODELS = 16


@dataclass(frozen=True)
class SmallValues:
    """A small variable's stored values: where they lie, their type and shape, their dims
    and attributes before decoding, and the parsed input's bytes of them."""

    offset: int
    dtype: np.dtype
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    attrs: dict[str, object]
    raw: bytes


@dataclass(frozen=True)
class Parsed:
    """A parsed input that later ones may repeat: its bytes, chunk maps and header."""

    model: Model
    chunks: tuple[tuple[str, ChunkMap], ...]
    header: InputHeader
    #: the variables the header loads (index coordinates and small ones)
    loaded: dict[str, SmallValues]


class Repeats:
    """The parsed inputs that later inputs of one process may repeat (thread-safe)."""

    def __init__(self, limit: int = MAX_MODELS):
        self._limit = limit
        self._lock = threading.Lock()
        self._by_size: dict[int, Parsed] = {}

    def __len__(self) -> int:
        return len(self._by_size)

    def read(
        self,
        cached: CachedInput,
        source: RangeFile,
        index: Index,
        *,
        concat_dims: tuple[str, ...],
    ) -> tuple[CachedInput, InputHeader] | None:
        """The input with its chunk maps, and its header; None if it needs the cache.

        ``cached`` describes the input without chunk maps yet; ``source`` holds its
        fetched edges.
        """
        with self._lock:
            parsed = self._by_size.get(source.size)
        if parsed is not None and repeats(parsed.model, source):
            found = _repeated(parsed, cached, source, index)
            if found is not None:
                return found
        return self._parse(cached, source, index, concat_dims)

    def _parse(
        self, cached: CachedInput, source: RangeFile, index: Index, concat_dims: tuple[str, ...]
    ) -> tuple[CachedInput, InputHeader] | None:
        from arcoforge.sources.chunkmap import map_file

        with h5py.File(source, "r") as f:
            maps = map_file(f)
            if maps is None:
                return None
            chunks = tuple(sorted(maps.items()))
            cached = replace(cached, chunks=chunks)
            # the model is taken before any value is read (decoding times reads some):
            # what it checks is what the parse of the header alone read
            found = probe(f) if source.fetches == 0 else None
            model = None if found is None else model_of(source, found)
            contents = contents_of(f)
            if contents is None:
                return None
            dims = {d for v in contents.variables.values() for d in v.dims}
            if not dims.issuperset(concat_dims):
                return None
            header = describe(
                contents.variables, contents.coord_names, contents.attrs, index, cached
            )
            if model is not None and all(m.values is None for m in maps.values()):
                loaded = _loaded(f, header, found.stored if found else {}, source)
                if loaded is not None:
                    self._keep(Parsed(model, chunks, header, loaded))
        return cached, header

    def _keep(self, parsed: Parsed) -> None:
        with self._lock:
            self._by_size[parsed.model.size] = parsed
            while len(self._by_size) > self._limit:
                del self._by_size[next(iter(self._by_size))]


def _loaded(
    f: h5py.File, header: InputHeader, stored: dict[str, Stored], source: RangeFile
) -> dict[str, SmallValues] | None:
    """Where the values the header loaded lie, or None if one of them is chunked."""
    from arcoforge.sources.hdf5 import attributes

    out = {}
    for name in (*header.coords, *header.small):
        where = stored.get(name)
        if where is None or where.chunks is not None:
            return None
        ((_, offset, length),) = where.entries
        dataset = f[name]
        dtype = dataset.dtype
        shape = tuple(int(n) for n in dataset.shape)
        if length != dtype.itemsize * int(np.prod(shape)):
            return None
        dims = header.variables[name].dims
        out[name] = SmallValues(
            offset, dtype, shape, dims, attributes(dataset), source.pread(offset, length)
        )
    return out


def _repeated(
    parsed: Parsed, cached: CachedInput, source: RangeFile, index: Index
) -> tuple[CachedInput, InputHeader] | None:
    """The input made from ``parsed``, with its own small values; None if they decode to
    another type than the parsed input's (e.g. times past what datetime64 holds)."""
    cached = replace(cached, chunks=parsed.chunks)
    header = parsed.header
    raw = {name: source.pread(s.offset, len(s.raw)) for name, s in parsed.loaded.items()}
    changed = [name for name, s in parsed.loaded.items() if raw[name] != s.raw]
    coords, small = dict(header.coords), dict(header.small)
    if changed:
        # decoded together: bounds take their variable's units where they have none
        variables = {
            name: xr.Variable(s.dims, np.frombuffer(raw[name], s.dtype).reshape(s.shape), s.attrs)
            for name, s in parsed.loaded.items()
        }
        decoded, _, _ = decode_cf_variables(variables, {}, **CF_DECODING)
        for name in changed:
            var = decoded[name]
            if var.dtype != header.variables[name].dtype:
                return None
            values = np.asarray(var.values)
            digest = hash_values(values)
            if name in coords:
                coords[name] = Coord(digest, values)
            else:
                small[name] = Coord(digest, values if values.size <= KEPT_VALUES else None)
    return cached, replace(header, index=index, input=cached, coords=coords, small=small)
