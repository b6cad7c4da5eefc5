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

Files of a compressed archive differ outside data too (each chunk's size and place).
For them a probe with h5py's low-level API (see
:func:`~arcoforge.sources.fastheaders.probes.probe`, a tenth of a parse) finds the
chunk extents; an input whose probe matches a parsed one's takes that one's header with
its own extents and small values, as virtual datasets do. Like them, it takes the parsed
input's attributes, except the units and calendar of its small variables, which must be
its own. The second input probed alike shows where such files differ (see
:mod:`arcoforge.sources.fastheaders.relocated`); later ones are then read from their
edges alone, without HDF5: a twentieth of the probe's cost, and no wait for the lock
that keeps HDF5 to one parse at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import h5py
import numpy as np
import xarray as xr
from xarray.conventions import decode_cf_variables

from arcoforge.recipe.pattern import Index
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.chunkmap import Chunk, ChunkMap
from arcoforge.sources.fastheaders.edges import HDF5_READS, RangeFile
from arcoforge.sources.fastheaders.probes import Probe, Stored, own_attrs, probe
from arcoforge.sources.fastheaders.relocated import Learnt
from arcoforge.sources.fastheaders.templates import Model, model_of, repeats
from arcoforge.sources.hdf5 import CF_DECODING, contents_of
from arcoforge.sources.headers import KEPT_VALUES, Coord, InputHeader, describe, hash_values

#: Models kept by one process (an archive has one file size, or one per month length).
MAX_MODELS = 16


@dataclass(frozen=True)
class SmallValues:
    """A small variable's stored values: where they lie, their type and shape, their dims
    and attributes before decoding, and the parsed input's bytes of them (of its one
    chunk, if it is chunked: a netCDF-4 variable along an unlimited dimension is)."""

    offset: int
    dtype: np.dtype
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    attrs: dict[str, object]
    raw: bytes
    #: the shape of what ``raw`` holds: ``shape``, or its chunk's, which HDF5 stores whole
    held: tuple[int, ...] = ()

    def values(self, raw: bytes) -> np.ndarray:
        """The variable's values out of bytes stored as the parsed input's ``raw`` are."""
        data = np.frombuffer(raw, self.dtype).reshape(self.held or self.shape)
        return data[tuple(slice(0, n) for n in self.shape)]


@dataclass(frozen=True)
class Parsed:
    """A parsed input that later ones may repeat: its bytes, probe, chunk maps and header."""

    #: its bytes, if later inputs may repeat them (see :class:`Model`)
    model: Model | None
    probe: Probe
    chunks: tuple[tuple[str, ChunkMap], ...]
    header: InputHeader
    #: the variables the header loads (index coordinates and small ones)
    loaded: dict[str, SmallValues]
    #: the units and calendar of each loaded variable, which decode its values
    own: dict[str, dict[str, str]]


class Repeats:
    """The parsed inputs that later inputs of one process may repeat (thread-safe).

    A later input is read without a parse if it repeats a parsed one's bytes outside data
    (its *model*, one per file size), or else if its probe matches a parsed one's (its
    *template*): same variables, types, shapes, chunking, filters and decoding
    attributes, its own chunk extents and small values. Compressed archives take the
    second way: each file's chunks have their own sizes, so their bytes differ. Once two
    of them are probed alike, the others are probed from their bytes (a *relocation*).
    """

    def __init__(self, limit: int = MAX_MODELS):
        self._limit = limit
        self._lock = threading.Lock()
        self._by_size: dict[int, Parsed] = {}
        self._by_key: dict[tuple[object, ...], Parsed] = {}
        #: how inputs of a compressed archive differ from a parsed one, by its probe's key
        self._relocations: Learnt[Parsed] = Learnt(limit)

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
        if parsed is not None and parsed.model is not None and repeats(parsed.model, source):
            offsets = {name: s.offset for name, s in parsed.loaded.items()}
            found = _own_values(parsed, replace(cached, chunks=parsed.chunks), source, offsets)
            if found is not None:
                return found[0], replace(found[1], index=index)
        for _, like, relocation in self._relocations.newest_first():  # moved by chunk sizes
            moved = relocation.probe(source)
            if moved is not None:
                # its header bytes are the parsed input's: so are its units and calendars
                templated = _templated(like, moved, like.own, cached, source)
                if templated is not None:
                    return templated[0], replace(templated[1], index=index)
        return self._parse(cached, source, index, concat_dims)

    def _parse(
        self, cached: CachedInput, source: RangeFile, index: Index, concat_dims: tuple[str, ...]
    ) -> tuple[CachedInput, InputHeader] | None:
        from arcoforge.sources.chunkmap import map_file

        with HDF5_READS, h5py.File(source, "r") as f:
            # probed before any value is read (decoding times reads some): what a model
            # checks is what the parse of the header alone read
            found = probe(f)
            if found is not None:
                with self._lock:
                    like = self._by_key.get(found.key)
                if like is not None:
                    self._relocations.learn(found.key, like, like.model, found, source)
                    own = own_attrs(f, tuple(like.loaded))
                    templated = _templated(like, found, own, cached, source)
                    if templated is not None:
                        return templated[0], replace(templated[1], index=index)
            maps = map_file(f)
            if maps is None:
                return None
            chunks = tuple(sorted(maps.items()))
            cached = replace(cached, chunks=chunks)
            model = None if found is None or source.fetches else model_of(source, found)
            contents = contents_of(f)
            if contents is None:
                return None
            dims = {d for v in contents.variables.values() for d in v.dims}
            if not dims.issuperset(concat_dims):
                return None
            header = describe(
                contents.variables, contents.coord_names, contents.attrs, index, cached
            )
            if found is not None and all(m.values is None for m in maps.values()):
                loaded = _loaded(f, header, found.stored, source)
                if loaded is not None:
                    own = own_attrs(f, tuple(loaded))
                    self._keep(Parsed(model, found, chunks, header, loaded, own))
        return cached, header

    def _keep(self, parsed: Parsed) -> None:
        with self._lock:
            if parsed.model is not None:
                self._by_size[parsed.model.size] = parsed
            self._by_key[parsed.probe.key] = parsed
            _trim(self._by_size, self._limit)
            _trim(self._by_key, self._limit)


def _trim(kept: dict[Any, Parsed], limit: int) -> None:
    """Forget the oldest of ``kept`` beyond ``limit``."""
    while len(kept) > limit:
        del kept[next(iter(kept))]


def _loaded(
    f: h5py.File, header: InputHeader, stored: dict[str, Stored], source: RangeFile
) -> dict[str, SmallValues] | None:
    """Where the values the header loaded lie, or None if one of them is stored otherwise
    than as one run of bytes (in several chunks, or filtered)."""
    from arcoforge.sources.hdf5 import attributes

    out = {}
    for name in (*header.coords, *header.small):
        where = stored.get(name)
        if where is None or len(where.entries) != 1:
            return None
        ((_, offset, length),) = where.entries
        dataset = f[name]
        dtype = dataset.dtype
        shape = tuple(int(n) for n in dataset.shape)
        held = shape if where.chunks is None else where.chunks
        if where.chunks is not None and (
            dataset.id.get_create_plist().get_nfilters()
            or any(c < n for c, n in zip(held, shape, strict=True))
        ):
            return None
        if length != dtype.itemsize * int(np.prod(held)):
            return None
        dims = header.variables[name].dims
        raw = source.pread(offset, length)
        out[name] = SmallValues(offset, dtype, shape, dims, attributes(dataset), raw, held)
    return out


def _templated(
    like: Parsed,
    found: Probe,
    own: dict[str, dict[str, str]],
    cached: CachedInput,
    source: RangeFile,
) -> tuple[CachedInput, InputHeader] | None:
    """The input made from the parsed input whose probe ``found`` matches: its own chunk
    extents and small values; None if its loaded variables have other units or calendars
    (``own``), or lie where they cannot be read as the parsed input's were."""
    if own != like.own:
        return None
    chunks = []
    for name, cmap in like.chunks:
        where = found.stored.get(name)
        if where is None:
            return None
        chunks.append((name, replace(cmap, chunks=_extents(cmap, where))))
    offsets = {}
    for name, small in like.loaded.items():
        where = found.stored[name]
        if len(where.entries) != 1:
            return None
        ((_, offset, length),) = where.entries
        if length != len(small.raw):
            return None
        offsets[name] = offset
    return _own_values(like, replace(cached, chunks=tuple(chunks)), source, offsets)


def _extents(cmap: ChunkMap, where: Stored) -> tuple[Chunk, ...]:
    """A variable's stored chunks as a probe found them (origins in elements)."""
    if where.chunks is None:
        return tuple(Chunk(pos, offset, size) for pos, offset, size in where.entries)
    return tuple(
        Chunk(tuple(p * c for p, c in zip(pos, where.chunks, strict=True)), offset, size)
        for pos, offset, size in where.entries
    )


def _own_values(
    parsed: Parsed, cached: CachedInput, source: RangeFile, offsets: dict[str, int]
) -> tuple[CachedInput, InputHeader] | None:
    """The input described as ``parsed`` with its own small values, read at ``offsets``;
    None if they decode to another type than the parsed input's (e.g. times past what
    datetime64 holds)."""
    header = parsed.header
    raw = {name: source.pread(offsets[name], len(s.raw)) for name, s in parsed.loaded.items()}
    changed = [name for name, s in parsed.loaded.items() if raw[name] != s.raw]
    coords, small = dict(header.coords), dict(header.small)
    if changed:
        # decoded with their bounds or the variables they bound (bounds take their
        # variable's units where they have none); the others are the parsed input's
        paired = _paired(parsed.loaded, changed)
        variables = {
            name: xr.Variable(s.dims, s.values(raw[name]), s.attrs)
            for name, s in parsed.loaded.items()
            if name in paired
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
    return cached, replace(header, input=cached, coords=coords, small=small)


def _paired(loaded: dict[str, SmallValues], names: list[str]) -> set[str]:
    """``names``, with the bounds they name and the variables they are the bounds of."""
    found = set(names)
    for name in names:
        bounds = loaded[name].attrs.get("bounds")
        if isinstance(bounds, str) and bounds in loaded:
            found.add(bounds)
    found.update(n for n, s in loaded.items() if s.attrs.get("bounds") in names)
    return found
