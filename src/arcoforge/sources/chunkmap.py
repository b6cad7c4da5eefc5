"""Where each stored chunk of a netCDF4 (HDF5) variable lies, and how to decode it.

A :class:`ChunkMap` is read from the file's header (the chunk index, or a contiguous
variable's one extent) while the header is parsed, so a copy can later request exactly
the bytes it needs and decode them without HDF5. Variables small enough are kept as
values instead. Anything else (unusual filters, external storage) has no map, and the
input is read from the input cache as before.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import deflate
import h5py
import numpy as np
from numcodecs import Shuffle

from arcoforge.errors import SourceError
from arcoforge.sources.hdf5 import CF_DECODING, cf_attributes
from arcoforge.sources.timeform import TimeForm, time_form

#: HDF5 filter ids decoded here: deflate (zlib), shuffle, fletcher32.
DEFLATE, SHUFFLE, FLETCHER32 = 1, 2, 3
SUPPORTED_FILTERS = frozenset({DEFLATE, SHUFFLE, FLETCHER32})
#: Variables of at most this many bytes that cannot be read by range (compact ones, other
#: filters) are kept as values in the map.
INLINE_BYTES = 64 * 1024
#: Chunks a variable may have for its map to travel with the input's header.
MAX_CHUNKS = 100_000


@dataclass(frozen=True, slots=True)
class Chunk:
    """One stored chunk: its first element, its bytes in the file, the filters it skips."""

    origin: tuple[int, ...]
    offset: int
    size: int
    filter_mask: int = 0


@dataclass(frozen=True, slots=True)
class ChunkMap:
    """How one variable is stored: shape, dtype, chunking, filters and chunk extents.

    ``chunk_shape`` is None for contiguous storage (one chunk at ``chunks[0]``, or none if
    never written); ``values`` holds a small variable's stored values outright.
    """

    shape: tuple[int, ...]
    dtype: str
    chunk_shape: tuple[int, ...] | None
    #: (filter id, its parameters), in the order HDF5 applies them when writing
    filters: tuple[tuple[int, tuple[int, ...]], ...]
    chunks: tuple[Chunk, ...]
    fill: Any = 0
    values: np.ndarray | None = None
    #: the variable's attributes as xarray reads them, for decoding its values
    attrs: dict[str, Any] | None = None

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def chunk_bytes(self) -> int:
        """The bytes of one whole chunk, decoded (HDF5 stores edge chunks whole)."""
        return math.prod(self.chunk_shape or self.shape) * self.np_dtype.itemsize

    def decode(self, data: Any, chunk: Chunk, *, url: str, into: np.ndarray | None = None) -> Any:
        """A chunk's stored bytes (any buffer), undone through its filters (last applied,
        first undone); returns a buffer: ``into`` (bytes of the chunk's size) if the last
        filter undone could write there, as the shuffle can (one copy fewer)."""
        undo = [i for i in reversed(range(len(self.filters))) if not chunk.filter_mask & (1 << i)]
        for i in undo:
            fid, params = self.filters[i]
            if fid == DEFLATE:
                data = inflate(data, self.chunk_bytes)
            elif fid == SHUFFLE:
                size = params[0] if params else self.np_dtype.itemsize
                if i == undo[-1] and into is not None and len(data) == into.nbytes:
                    unshuffle(data, size, into)  # the last step: straight into place
                    data = into
                else:
                    data = unshuffle(data, size)
            elif fid == FLETCHER32:
                data = check_fletcher32(data, url=url, chunk=chunk)
        return data


def map_variable(dataset: h5py.Dataset) -> ChunkMap | None:
    """The chunk map of ``dataset``, or None if it must be read through HDF5."""
    dtype = dataset.dtype
    if dtype.kind not in "biuf" or dtype.names is not None:
        return None
    shape = tuple(int(n) for n in dataset.shape)
    fill = _fill(dataset)
    attrs = cf_attributes(dataset)
    small = math.prod(shape) * dtype.itemsize <= INLINE_BYTES
    plist = dataset.id.get_create_plist()
    filters = []
    for i in range(plist.get_nfilters()):
        fid, _flags, params, _name = plist.get_filter(i)
        filters.append((int(fid), tuple(int(p) for p in params)))
    readable = not dataset.external and all(f in SUPPORTED_FILTERS for f, _ in filters)
    if plist.get_layout() not in (h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED):
        readable = False  # compact: the values are in the header itself
    if not readable:
        if not small:
            return None
        # kept as values: maps travel with every input through the pipeline, so only
        # what cannot be fetched by range is carried
        values = np.asarray(dataset[()])
        return ChunkMap(shape, dtype.str, None, (), (), fill, values, attrs)
    if dataset.chunks is None:
        offset = dataset.id.get_offset()
        size = dataset.id.get_storage_size()
        chunks = () if offset is None else (Chunk((0,) * len(shape), int(offset), int(size)),)
        return ChunkMap(shape, dtype.str, None, (), chunks, fill, attrs=attrs)
    listed: list[Chunk] = []
    if dataset.id.get_num_chunks() > MAX_CHUNKS:
        return None

    def add(info: Any) -> None:
        listed.append(
            Chunk(
                tuple(int(o) for o in info.chunk_offset),
                info.byte_offset,
                info.size,
                info.filter_mask,
            )
        )

    dataset.id.chunk_iter(add)
    chunk_shape = tuple(int(c) for c in dataset.chunks)
    return ChunkMap(shape, dtype.str, chunk_shape, tuple(filters), tuple(listed), fill, attrs=attrs)


def map_file(f: h5py.File) -> dict[str, ChunkMap] | None:
    """The chunk map of every variable of the root group, or None if any has none."""
    out = {}
    for name, obj in f.items():
        if not isinstance(obj, h5py.Dataset):
            continue
        found = map_variable(obj)
        if found is None:
            return None
        out[name] = found
    return _with_bounds_units(out)


def _with_bounds_units(maps: dict[str, ChunkMap]) -> dict[str, ChunkMap]:
    """Time bounds given their variable's units and calendar where they lack them, as
    xarray does when it decodes a whole file (CF: bounds share their variable's)."""
    from dataclasses import replace

    for cmap in list(maps.values()):
        attrs = cmap.attrs or {}
        bounds = attrs.get("bounds")
        if (
            not isinstance(bounds, str)
            or bounds not in maps
            or time_form(cmap.np_dtype, attrs=attrs) is not TimeForm.ENCODED
        ):
            continue
        own = dict(maps[bounds].attrs or {})
        for key in ("units", "calendar"):
            if key in attrs:
                own.setdefault(key, attrs[key])
        maps[bounds] = replace(maps[bounds], attrs=own)
    return maps


def decode_values(name: str, cmap: ChunkMap, raw: np.ndarray) -> np.ndarray:
    """Stored values of ``name`` decoded as xarray decodes them (the header's rules)."""
    import xarray as xr
    from xarray.conventions import decode_cf_variables

    dims = tuple(f"dim_{i}" for i in range(raw.ndim))
    variables, _, _ = decode_cf_variables(
        {name: xr.Variable(dims, raw, dict(cmap.attrs or {}))},
        {},
        **CF_DECODING,
    )
    return np.asarray(variables[name].values)


def inflate(data: Any, size: int) -> Any:
    """Deflated (zlib) ``data`` inflated, most likely to ``size`` bytes.

    libdeflate inflates a whole buffer about twice as fast as zlib, and releases the GIL
    (bench/README.md, *Codecs*); it needs the size, which a chunk's shape gives. Anything
    it refuses (another size, damaged data) goes through zlib, which says what is wrong.
    """
    try:
        return deflate.zlib_decompress(data, size)
    except deflate.DeflateError:
        return zlib.decompress(data)


def unshuffle(data: Any, itemsize: int, out: np.ndarray | None = None) -> Any:
    """HDF5's shuffle undone: byte k of every element was stored in the k-th run.

    One copy: the bytes are transposed straight into the buffer returned, ``out`` if
    given (a byte array of the data's size, such as the part of a block it fills).
    """
    if itemsize <= 1:
        if out is None:
            return data
        out[...] = np.frombuffer(data, np.uint8)
        return out
    if len(data) % itemsize == 0:  # numcodecs' loop is 2-3 times numpy's transpose
        return Shuffle(itemsize).decode(data, out=out)
    whole = len(data) // itemsize * itemsize
    raw = np.frombuffer(data, np.uint8, whole)
    out = np.empty(len(data), np.uint8) if out is None else out
    out[:whole].reshape(-1, itemsize)[...] = raw.reshape(itemsize, -1).T
    out[whole:] = np.frombuffer(data, np.uint8, offset=whole)  # HDF5 leaves a tail as is
    return out


def check_fletcher32(data: bytes, *, url: str, chunk: Chunk) -> bytes:
    """The chunk without its trailing Fletcher-32 checksum, which must match it."""
    from numcodecs.fletcher32 import Fletcher32

    try:
        return bytes(Fletcher32().decode(data))
    except RuntimeError as e:
        raise SourceError(
            f"{url}: the chunk at byte {chunk.offset} ({chunk.size} bytes) fails its "
            f"Fletcher-32 checksum ({e}): the file is damaged or changed while it was read. "
            "Run again; if it persists, the source file itself is corrupt."
        ) from None


def _fill(dataset: h5py.Dataset) -> Any:
    try:
        value = dataset.fillvalue
    except (OSError, ValueError):
        return 0
    return value.item() if isinstance(value, np.generic) else value
