"""Reading a file's header where it lies: both its edges fetched first, the rest on demand.

A netCDF4 (HDF5) header sits at the start of the file, and for many writers partly
at its end, after the data. :func:`fetch_edges` fetches both edges of many files at
once (two ranged requests each, concurrently), and each file is then parsed from
memory through a :class:`RangeFile`; a read outside the fetched bytes fetches one
aligned block. The HDF5 library cannot run two parses at once, so fetching
everything a parse needs before it starts is what lets requests overlap.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import io
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from arcoforge.sources.manifest import iso_date

if TYPE_CHECKING:
    from obstore import GetOptions

#: Bytes fetched from each end of a file before parsing it.
EDGE_BYTES = 64 * 1024
#: Bytes fetched by a read that misses the fetched ranges (aligned to this size).
BLOCK_BYTES = 64 * 1024
#: Files whose edges are fetched at once (two requests each).
MAX_IN_FLIGHT = 16
#: Held while HDF5 (h5py, VirtualiZarr's parser) reads a RangeFile. HDF5 is not
#: thread-safe: h5py serializes its own calls, but reading a RangeFile calls back into
#: Python, which fetches the bytes missing with the GIL released; two such reads must
#: never interleave in one process.
HDF5_READS = threading.Lock()


class RangeFile(io.RawIOBase):
    """A read-only file of ``size`` bytes over fetched pieces; a miss fetches a block."""

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        size: int,
        pieces: dict[int, bytes] | None = None,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
    ):
        super().__init__()
        self._fetch = fetch
        self.size = size
        #: the source's validators, as its answer to the first request gave them
        self.etag = etag
        self.last_modified = last_modified
        self._starts: list[int] = []
        self._pieces: list[bytes] = []
        self._pos = 0
        self.fetches = 0
        for start, data in sorted((pieces or {}).items()):
            self._add(start, data)

    def _add(self, start: int, data: bytes) -> None:
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._pieces.insert(i, data)

    @property
    def held_bytes(self) -> int:
        """How many bytes of the file were fetched (its edges, and every miss since)."""
        return sum(len(p) for p in self._pieces)

    @property
    def pieces(self) -> dict[int, bytes]:
        """The bytes held so far, by the offset they start at."""
        return dict(zip(self._starts, self._pieces, strict=True))

    def pread(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end of the file)."""
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and self._starts[i] + len(self._pieces[i]) >= end:
            start = self._starts[i]
            return self._pieces[i][offset - start : end - start]
        first = offset // BLOCK_BYTES * BLOCK_BYTES
        last = min(self.size, -(-end // BLOCK_BYTES) * BLOCK_BYTES)
        data = self._fetch(first, last - first)
        self.fetches += 1
        if len(data) != last - first:
            raise OSError(f"expected {last - first} bytes at {first}, got {len(data)}")
        self._add(first, data)
        return data[offset - first : end - first]

    # --- the file protocol h5py's file-object driver uses ---------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.pread(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        data = self.pread(self._pos, size)
        self._pos += len(data)
        return data


def fetch_edges(
    store: Any, paths: Sequence[str], per_host: int = MAX_IN_FLIGHT
) -> list[RangeFile | BaseException]:
    """A :class:`RangeFile` holding the edges of each of ``paths`` (or the error it met).

    At most ``per_host`` requests are in flight at once (all ``paths`` are on one store).
    """
    return asyncio.run(_fetch_all(store, list(paths), per_host))


async def _fetch_all(
    store: Any, paths: list[str], per_host: int
) -> list[RangeFile | BaseException]:
    limit = asyncio.Semaphore(MAX_IN_FLIGHT)
    requests = asyncio.Semaphore(max(1, per_host))
    return await asyncio.gather(
        *(fetch_one(store, path, limit, requests) for path in paths), return_exceptions=True
    )


async def fetch_one(
    store: Any,
    path: str,
    limit: asyncio.Semaphore,
    requests: asyncio.Semaphore | None = None,
) -> RangeFile:
    """A :class:`RangeFile` holding both edges of ``path``, fetched at once.

    The two requests share one of ``limit``'s places, so files complete in the order
    they were asked for; each also holds one of ``requests``' places (the per-host
    limit) until its body is in. The tail is asked for as a suffix, whose size need
    not be known.
    """
    import obstore

    async def get(options: GetOptions) -> tuple[bytes, Any]:
        async with requests or contextlib.nullcontext():
            response = await obstore.get_async(store, path, options=options)
            return bytes(await response.bytes_async()), response.meta

    async with limit:
        head: tuple[bytes, Any] | BaseException
        tail: tuple[bytes, Any] | BaseException
        head, tail = await asyncio.gather(
            get({"range": (0, EDGE_BYTES)}),
            get({"range": {"suffix": EDGE_BYTES}}),
            return_exceptions=True,
        )
        if isinstance(head, BaseException):  # an empty file has no range to give
            meta = await obstore.head_async(store, path)
            if int(meta["size"]):
                raise head
            return RangeFile(_no_fetch, 0, **_validators(meta))
        first, head_meta = head
        size = int(head_meta["size"])
        validators = _validators(head_meta)
        if size <= len(first):
            return RangeFile(_no_fetch, size, {0: first}, **validators)
        if isinstance(tail, BaseException):
            raise tail
        last = tail[0]
    tail_start = size - len(last)
    if tail_start <= len(first):  # the edges meet: the whole file
        pieces = {0: first + last[len(first) - tail_start :]}
    else:
        pieces = {0: first, tail_start: last}

    def fetch(offset: int, length: int) -> bytes:
        return bytes(obstore.get_range(store, path, start=offset, length=length))

    return RangeFile(fetch, size, pieces, **validators)


class Validators(TypedDict):
    """What tells one version of an object from another."""

    etag: str | None
    last_modified: str | None


def _validators(meta: Any) -> Validators:
    """The ETag and last-modified date (ISO 8601 UTC) of an obstore object's metadata."""
    return {"etag": meta.get("e_tag") or None, "last_modified": iso_date(meta.get("last_modified"))}


def _no_fetch(offset: int, length: int) -> bytes:
    raise OSError(f"read of {length} bytes at {offset} past the end of an empty file")
