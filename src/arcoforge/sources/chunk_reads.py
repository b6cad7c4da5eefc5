"""Inputs read where they lie, by byte range: their header first, then each task's chunks.

An input read this way is never downloaded whole nor cached on disk. Its header is
parsed from both edges of the file (see :mod:`arcoforge.sources.fastheaders.edges`), which also
gives every variable's :class:`~arcoforge.sources.chunkmap.ChunkMap`; a task then asks
for exactly the byte ranges of the source chunks it needs (neighbours coalesced by
obstore, several pieces in flight), decodes them here and fills its block. Inputs that
HDF5 alone can read (netCDF3, unusual filters) go through the input cache instead.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn

import numpy as np
from numpy.lib.stride_tricks import as_strided

from arcoforge.errors import (
    InputFormatError,
    SourceAccessError,
    SourceError,
    SourceNotFoundError,
    UnrepresentableError,
)
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.chunkmap import Chunk, ChunkMap
from arcoforge.sources.fastheaders.edges import RangeFile, fetch_one
from arcoforge.sources.fastheaders.repeated import Repeats
from arcoforge.sources.filetype import check_declared, sniff
from arcoforge.sources.headers import InputHeader
from arcoforge.sources.hosts import host_slot, refuses_ranges
from arcoforge.sources.retry import RetryPolicy
from arcoforge.sources.stores import registry_for, source_errors

#: Pieces (input slices) of one task read at once; a contiguous slice is fetched as one
#: span unless that span is SPAN_SLACK times larger; obstore merges requested ranges
#: closer than COALESCE_GAP. The memory estimate counts all three (plan.memory).
PIECES_IN_FLIGHT = 2
SPAN_SLACK = 2
COALESCE_GAP = 1024**2

#: The index of an input read outside a pattern.
NO_INDEX = Index(())


def open_ranged(
    url: str,
    *,
    file_type: FileType,
    options: dict[str, Any],
    retry: RetryPolicy,
    index: Index = NO_INDEX,
    concat_dims: tuple[str, ...] = (),
    repeats: Repeats | None = None,
    edges: RangeFile | None = None,
) -> tuple[CachedInput, InputHeader] | None:
    """The input as read by range (with its chunk maps) and its header, or None if it
    needs the cache.

    None for netCDF3, for files with a variable HDF5 alone can read (see
    :func:`~arcoforge.sources.chunkmap.map_variable`), for files whose header xarray's
    full reader must read, and for servers that ignore Range. An input that repeats
    one parsed before by the same ``repeats`` is not parsed again. ``edges``, if given,
    are its edges fetched already (by an :class:`EdgePrefetcher`).
    """
    if edges is None:
        fetched = fetch_ranged(url, file_type=file_type, options=options, retry=retry)
    else:
        fetched = ranged_input(url, edges, file_type)
    if fetched is None:
        return None
    cached, source = fetched
    with source_errors(url):
        return (Repeats() if repeats is None else repeats).read(
            cached, source, index, concat_dims=concat_dims
        )


def fetch_ranged(
    url: str, *, file_type: FileType, options: dict[str, Any], retry: RetryPolicy
) -> tuple[CachedInput, RangeFile] | None:
    """The input (no chunk maps yet) and its fetched edges, or None if it needs the cache
    (not netCDF4, or on a server that ignores Range)."""
    try:
        with source_errors(url), host_slot(url, retry.per_host):
            store, path = registry_for(url, options, retry).resolve(url)
            source = asyncio.run(_edges(store, path))
    except UnrepresentableError:
        refuses_ranges(url)
        return None  # a server that ignores Range: the copy downloads the whole file
    return ranged_input(url, source, file_type)


def ranged_input(
    url: str, source: RangeFile, file_type: FileType
) -> tuple[CachedInput, RangeFile] | None:
    """The input whose edges ``source`` holds (no chunk maps yet), or None if it is not
    netCDF4 (the copy caches it); a file of another type than declared is refused."""
    found = check_declared(file_type, sniff(source.pread(0, 8), url=url), url=url)
    if found is not FileType.NETCDF4:
        return None
    cached = CachedInput(url, url, source.size, "", found, source.etag, source.last_modified)
    return cached, source


async def _edges(store: Any, path: str) -> RangeFile:
    # one request at a time: the caller holds one of the host's places
    return await fetch_one(store, path, asyncio.Semaphore(1), asyncio.Semaphore(1))


@dataclass(frozen=True, slots=True)
class PieceRead:
    """One slice of one ranged input, and the view of the block it fills."""

    url: str
    chunks: ChunkMap
    key: tuple[slice, ...]
    out: np.ndarray


def read_pieces(reads: Sequence[PieceRead], *, options: dict[str, Any], retry: RetryPolicy) -> None:
    """Fill each read's ``out`` with its stored values, a few pieces at a time."""
    if reads:
        asyncio.run(_read_all(list(reads), options, retry))


async def _read_all(reads: list[PieceRead], options: dict[str, Any], retry: RetryPolicy) -> None:
    limit = asyncio.Semaphore(PIECES_IN_FLIGHT)
    requests = asyncio.Semaphore(max(1, retry.per_host))  # the worker's share per host

    async def one(read: PieceRead) -> None:
        async with limit:
            try:
                await _read_piece(read, options, retry, requests)
            except SourceError:
                raise
            except zlib.error as e:
                raise InputFormatError(
                    f"{read.url}: a chunk could not be inflated ({e}): the file is damaged, or "
                    "changed while it was read. Run again; if it persists, the file is corrupt."
                ) from e
            except Exception as e:
                if not _from_store(e):
                    raise
                _raise_for(read.url, e)

    await asyncio.gather(*(one(r) for r in reads))


async def _read_piece(
    read: PieceRead, options: dict[str, Any], retry: RetryPolicy, requests: asyncio.Semaphore
) -> None:
    cmap, key, out = read.chunks, read.key, read.out
    if cmap.values is not None:
        out[...] = cmap.values[key]
        return
    if cmap.chunk_shape is None:
        await _read_contiguous(read, options, retry, requests)
        return
    overlaps = [(c, _overlap(c.origin, cmap.chunk_shape, key)) for c in cmap.chunks]
    wanted = [(c, o) for c, o in overlaps if o is not None]
    if len(wanted) < _count(cmap, key):  # chunks never written hold fill values
        out[...] = cmap.fill
    if not wanted:
        return
    data = await _fetch(
        read.url, [(c.offset, c.offset + c.size) for c, _ in wanted], options, retry, requests
    )
    dtype = cmap.np_dtype
    loop = asyncio.get_running_loop()
    for i, (chunk, (inner, dest)) in enumerate(wanted):
        into = _whole(out[dest], cmap, inner)
        # decoding releases the GIL (zlib): another piece's fetch or decode runs meanwhile,
        # on few threads (each keeps its own malloc arena)
        decoded = await loop.run_in_executor(
            _decoder(), partial(cmap.decode, memoryview(data[i]), chunk, url=read.url, into=into)
        )
        data[i] = None  # the compressed bytes go as soon as they are decoded
        if decoded is not into:  # else decoded in place, straight into the block
            values = np.frombuffer(decoded, dtype, count=int(np.prod(cmap.chunk_shape)))
            out[dest] = values.reshape(cmap.chunk_shape)[inner]
            del values
        del decoded


def _whole(target: np.ndarray, cmap: ChunkMap, inner: tuple[slice, ...]) -> np.ndarray | None:
    """``target``'s bytes, where a whole chunk fills it as stored (same dtype, one
    contiguous run): its last filter may decode straight into them. Else None."""
    assert cmap.chunk_shape is not None
    whole = all(s.start == 0 and s.stop == c for s, c in zip(inner, cmap.chunk_shape, strict=True))
    if not whole or target.dtype != cmap.np_dtype or not target.flags.c_contiguous:
        return None
    return target.reshape(-1).view(np.uint8)


async def _read_contiguous(
    read: PieceRead, options: dict[str, Any], retry: RetryPolicy, requests: asyncio.Semaphore
) -> None:
    cmap, out = read.chunks, read.out
    if not cmap.chunks:
        out[...] = cmap.fill  # never written: all fill values
        return
    base = cmap.chunks[0].offset
    spans = list(_spans(cmap.shape, read.key, cmap.np_dtype.itemsize))
    data = await _fetch(
        read.url, [(base + a, base + b) for a, b, _ in spans], options, retry, requests
    )
    strides = _strides(cmap.shape, cmap.np_dtype.itemsize)
    for i, (_a, _b, (dest, lens)) in enumerate(spans):
        flat = np.frombuffer(data[i], cmap.np_dtype)
        out[dest] = as_strided(flat, shape=lens, strides=strides[len(strides) - len(lens) :])
        del flat
        data[i] = None  # each span goes once it is placed


_DECODER: ThreadPoolExecutor | None = None


def _decoder() -> ThreadPoolExecutor:
    """The threads that decode chunks in this process: one per piece in flight."""
    global _DECODER
    if _DECODER is None:
        _DECODER = ThreadPoolExecutor(PIECES_IN_FLIGHT, thread_name_prefix="arcoforge-decode")
    return _DECODER


def _from_store(error: BaseException) -> bool:
    """Whether ``error`` came from the store (obstore's errors, I/O, time-outs)."""
    return type(error).__module__.startswith("obstore") or isinstance(error, OSError)


def _raise_for(url: str, error: BaseException) -> NoReturn:
    """Raise ``error`` of the store as the project's error naming ``url``."""
    try:
        with source_errors(url):  # not found, access refused: their own errors
            raise error
    except (SourceNotFoundError, SourceAccessError):
        raise
    except Exception:
        pass
    raise SourceError(
        f"{url}: could not read the byte ranges a task needs, after retries: "
        f"{type(error).__name__}: {error}. Check that the server is up and answers range "
        "requests, or run with --cache to fetch the inputs whole."
    ) from error


def _spans(
    shape: tuple[int, ...], key: tuple[slice, ...], itemsize: int
) -> list[tuple[int, int, tuple[tuple[Any, ...], tuple[int, ...]]]]:
    """Byte spans covering ``key`` in C order, each with the part of the slice it fills.

    One span from the first to the last element wanted, unless it would hold more than
    ``SPAN_SLACK`` times the values wanted: then one span per index of the first axis.
    """
    starts = [k.start for k in key]
    lens = tuple(k.stop - k.start for k in key)
    if not all(lens):
        return []
    strides = _strides(shape, 1)
    first = sum(s * st for s, st in zip(starts, strides, strict=True))
    last = sum((s + n - 1) * st for s, n, st in zip(starts, lens, strides, strict=True)) + 1
    wanted = int(np.prod(lens))
    if len(key) <= 1 or last - first <= SPAN_SLACK * wanted:
        dest = tuple(slice(None) for _ in key)
        return [(first * itemsize, last * itemsize, (dest, lens))]
    out = []
    for i in range(lens[0]):
        for a, b, (dest, sub) in _spans(shape[1:], key[1:], itemsize):
            shift = (starts[0] + i) * strides[0] * itemsize
            out.append((a + shift, b + shift, ((i, *dest), sub)))
    return out


def _strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    out, step = [], itemsize
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


def _overlap(
    origin: tuple[int, ...], chunk_shape: tuple[int, ...], key: tuple[slice, ...]
) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Where chunk and slice meet: the part of the chunk, and of the slice, or None."""
    inner, dest = [], []
    for o, c, k in zip(origin, chunk_shape, key, strict=True):
        a, b = max(o, k.start), min(o + c, k.stop)
        if a >= b:
            return None
        inner.append(slice(a - o, b - o))
        dest.append(slice(a - k.start, b - k.start))
    return tuple(inner), tuple(dest)


def _count(cmap: ChunkMap, key: tuple[slice, ...]) -> int:
    """How many chunk positions the slice touches (written or not)."""
    assert cmap.chunk_shape is not None
    n = 1
    for c, k in zip(cmap.chunk_shape, key, strict=True):
        n *= (k.stop - 1) // c - k.start // c + 1 if k.stop > k.start else 0
    return n


async def _fetch(
    url: str,
    ranges: list[tuple[int, int]],
    options: dict[str, Any],
    retry: RetryPolicy,
    requests: asyncio.Semaphore,
) -> list[Any]:
    """The bytes of each ``(start, end)`` range of ``url``, in one coalescing call."""
    import obstore

    store, path = registry_for(url, options, retry).resolve(url)
    starts = [a for a, _ in ranges]
    ends = [b for _, b in ranges]
    async with requests:
        return list(await obstore.get_ranges_async(store, path, starts=starts, ends=ends))


def chunk_of(cached: CachedInput, name: str) -> ChunkMap | None:
    """The chunk map of variable ``name`` of a ranged input, if it has one."""
    for found, cmap in cached.chunks or ():
        if found == name:
            return cmap
    return None


__all__ = [
    "Chunk",
    "PieceRead",
    "chunk_of",
    "fetch_ranged",
    "open_ranged",
    "read_pieces",
]
