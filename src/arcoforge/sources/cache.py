"""The input cache: each input fetched, retried, checksummed, written atomically, revalidated.

A cache entry is the file's bytes plus a JSON sidecar (URL, size, sha256, format, and
the ETag and Last-Modified the source sent). The sidecar is written last, so an entry
without one is unfinished and is fetched again. Every fetch of a cached entry asks the
source whether it changed (a conditional GET over HTTP, the object's metadata
elsewhere); a changed source is fetched again, so a stale copy is never used. Local
``file://`` inputs are not copied: only their sidecar is kept, to avoid hashing them
again while their size and modification time stay the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ftplib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

import fsspec

from arcoforge.errors import (
    SourceAccessError,
    SourceError,
    SourceNotFoundError,
)
from arcoforge.location import Location
from arcoforge.recipe.pattern import FileType
from arcoforge.recipe.urls import validate_url
from arcoforge.sources.filetype import SNIFF_BYTES, check_declared, sniff
from arcoforge.sources.guarded import NO_GUARD, Guard, guarded_get
from arcoforge.sources.hosts import (
    check_resolves,
    host_slot,
    pause_host,
    retry_after,
    too_long,
    unresolvable,
)
from arcoforge.sources.manifest import InputIdentity, http_date, iso_date
from arcoforge.sources.retry import MAX_RETRY_AFTER, RetryPolicy

if TYPE_CHECKING:
    from arcoforge.sources.chunkmap import ChunkMap

_BLOCK = 8 << 20
#: Blocks of a streamed download: big enough to cost nothing per call, small enough
#: that a few concurrent downloads per worker hold little memory.
_STREAM_BLOCK = 1 << 20
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class CachedInput:
    """An input ready to read: where its bytes are, their size, checksum and format."""

    url: str
    path: str
    size: int
    sha256: str
    file_type: FileType
    #: the source's validators when it was fetched, if it gave them
    etag: str | None = None
    last_modified: str | None = None
    #: for an input read by byte range where it lies (``path`` is its URL, ``sha256``
    #: empty): each variable's chunk map, by name (see :mod:`arcoforge.sources.chunk_reads`)
    chunks: tuple[tuple[str, ChunkMap], ...] | None = None

    @property
    def is_local(self) -> bool:
        return "://" not in self.path

    @property
    def ranged(self) -> bool:
        """Whether the input is read by byte range, not from a whole copy."""
        return self.chunks is not None

    @property
    def version(self) -> str:
        """What tells this version of the source from another, however it was read: its
        validators where the source gives them, else its checksum."""
        if self.etag or self.last_modified:
            return f"{self.size}:{self.etag}:{self.last_modified}"
        return self.sha256 or str(self.size)

    def identity(self) -> InputIdentity:
        """The source as this copy was made from it (with SHA-256 if the whole file was read)."""
        sha = self.sha256 or None
        return InputIdentity(self.url, self.size, self.etag, self.last_modified, sha)


def cache_key(url: str) -> str:
    """A file name for ``url``: a hash (unique) plus its base name (readable)."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:20]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", urlsplit(url).path.rsplit("/", 1)[-1])[-60:]
    return f"{digest}-{base}" if base else digest


class InputCache(Location):
    """Inputs cached under ``root``, a local folder or an fsspec URL (``s3://bucket/cache``).

    Entries are addressed by full URL (a plain path when local), which is what
    workers anywhere are given to read them.
    """

    def __init__(self, root: str, *, storage_options: dict[str, Any] | None = None):
        super().__init__(root, storage_options)

    def _path(self, name: str) -> str:
        return self.url_of(name)

    def fetch(
        self,
        url: str,
        *,
        file_type: FileType = FileType.AUTO,
        storage_options: dict[str, Any] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        guard: Guard = NO_GUARD,
    ) -> CachedInput:
        """The cached copy of ``url``, fetching it first if needed (under ``guard``'s
        credentials and address policy)."""
        validate_url(url, where="input")
        if url.startswith("file://") and guard.policy is not None:
            guard.policy.check_url(url)  # refuses: untrusted runs read no local files
        if url.startswith("file://"):
            return self._local(url, file_type)
        if file_type is FileType.OPENDAP:
            return self._opendap(url, retry)
        key = cache_key(url)
        data, sidecar = self._path(key), self._path(key + ".json")
        found = self._read_sidecar(sidecar)
        known = None
        if found is not None and found.url == url and self._size(data) == found.size:
            known = found.cached(data)
        try:
            got = self._download(url, data, file_type, storage_options or {}, retry, known, guard)
        except _Unchanged:
            assert known is not None
            check_declared(file_type, known.file_type, url=url)
            return known
        cached = CachedInput(url, data, *got)
        self._write_sidecar(sidecar, cached, mtime_ns=None)
        return cached

    def _local(self, url: str, declared: FileType) -> CachedInput:
        path = url2pathname(urlsplit(url).path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise SourceNotFoundError(f"{url}: no such file.") from None
        sidecar = self._path(cache_key(url) + ".json")
        found = self._read_sidecar(sidecar)
        modified = iso_date(st.st_mtime_ns / 1e9)
        if found is not None and found.size == st.st_size and found.mtime_ns == st.st_mtime_ns:
            check_declared(declared, found.file_type, url=url)
            return CachedInput(url, path, st.st_size, found.sha256, found.file_type, None, modified)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
            ftype = check_declared(declared, sniff(head, url=url), url=url)
            h.update(head)
            while block := f.read(_BLOCK):
                h.update(block)
        cached = CachedInput(url, path, st.st_size, h.hexdigest(), ftype, None, modified)
        self._write_sidecar(sidecar, cached, mtime_ns=st.st_mtime_ns)
        return cached

    def _opendap(self, url: str, retry: RetryPolicy) -> CachedInput:
        """Read an OPeNDAP dataset into the cache as netCDF4 (see :mod:`.opendap`).

        A DAP server gives no validators for the values it serves, so the dataset is
        read again on every fetch: a stale copy is never used.
        """
        from arcoforge.sources.opendap import fetch_opendap

        key = cache_key(url)
        data, sidecar = self._path(key), self._path(key + ".json")
        folder = tempfile.mkdtemp(prefix="arcoforge-dap-")
        try:
            local = os.path.join(folder, "input.nc")
            fetch_opendap(url, local, retry)
            h = hashlib.sha256()
            with open(local, "rb") as f:
                while block := f.read(_BLOCK):
                    h.update(block)
            size = os.path.getsize(local)
            if self.is_local:
                os.makedirs(os.path.dirname(data), exist_ok=True)
                os.replace(local, data)
            else:
                self.fs.put_file(local, data)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        cached = CachedInput(url, data, size, h.hexdigest(), FileType.NETCDF4)
        self._write_sidecar(sidecar, cached, mtime_ns=None)
        return cached

    def _download(
        self,
        url: str,
        dest: str,
        declared: FileType,
        storage_options: dict[str, Any],
        retry: RetryPolicy,
        known: CachedInput | None = None,
        guard: Guard = NO_GUARD,
    ) -> _Fetched:
        """Fetch ``url`` into ``dest``; raises :class:`_Unchanged` if ``known`` is still current."""
        import aiohttp  # imported here: runs that only read headers never need it

        check_resolves(url)  # a name that does not resolve will not start to: no retries
        options = guard.fsspec_options(url, _with_timeout(url, storage_options, retry))
        fs, path = fsspec.core.url_to_fs(url, **options)
        last: BaseException | None = None
        wait: float | None = None
        for attempt in range(retry.attempts):
            if attempt and wait is None:
                _sleep(retry.delay(attempt - 1))
            # a wait the server asked for is kept by host_slot, for every request to it
            wait = None
            try:
                with host_slot(url, retry.per_host):
                    return self._copy(fs, path, url, dest, declared, known, retry, guard)
            except (SourceError, _Unchanged):
                raise
            except FileNotFoundError:
                raise SourceNotFoundError(
                    f"{url}: not found. Check the URL and the range of keys that fills it in."
                ) from None
            except PermissionError as e:
                raise SourceAccessError(f"{url}: access denied ({e}).") from None
            except aiohttp.ClientResponseError as e:
                if e.status in (401, 403):
                    raise SourceAccessError(
                        f"{url}: the server refused access (HTTP {e.status}). If it needs "
                        "credentials, provide them through the environment of this machine."
                    ) from None
                if e.status not in _RETRY_STATUS:
                    raise SourceError(f"{url}: HTTP {e.status} {e.message}.") from None
                wait = _asked_wait(url, e)
                if wait is not None:
                    pause_host(url, wait)
                last = e
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                if _dns_failure(e):
                    host = urlsplit(url).hostname or url
                    raise unresolvable(url, host, _dns_failure(e) or e) from None
                last = e
            except fsspec.exceptions.FSTimeoutError as e:
                last = e
            except ftplib.error_perm as e:  # a 5xx reply: will not change if asked again
                raise SourceError(f"{url}: the FTP server refused it ({e}).") from None
            except ftplib.Error as e:  # a 4xx reply (busy, too many connections) or garbled
                last = e
        if isinstance(last, _Cut):
            sizes = (
                f"expected {last.expected:,} bytes, got {last.got:,}"
                if last.expected is not None
                else f"the connection closed after {last.got:,} bytes, with more to come"
            )
            raise SourceError(
                f"{url}: the source was cut short: {sizes}, in each of {retry.attempts} "
                "attempts. Nothing of it was kept "
                "in the cache. Run again; if it keeps happening, the file on the server is "
                "probably truncated: tell its provider."
            )
        if isinstance(last, asyncio.TimeoutError | TimeoutError | fsspec.exceptions.FSTimeoutError):
            why = f"the server sent nothing for {retry.timeout:g} s"
        else:
            why = f"{type(last).__name__}: {last}"
        raise SourceError(
            f"{url}: could not fetch it in {retry.attempts} attempts; the last one failed: {why}."
        )

    def _copy(
        self,
        fs: fsspec.AbstractFileSystem,
        path: str,
        url: str,
        dest: str,
        declared: FileType,
        known: CachedInput | None,
        retry: RetryPolicy,
        guard: Guard = NO_GUARD,
    ) -> _Fetched:
        """Stream ``path`` into ``dest``, hashing as it goes; atomic on local disks.

        With ``known`` (the copy in the cache), nothing is written if the source says
        it is unchanged: :class:`_Unchanged` is raised instead. On object stores the
        copy being replaced is overwritten only once the source has answered.
        """
        is_http = url.startswith(("http://", "https://"))
        info: dict[str, Any] = {}
        if not is_http:
            fs.invalidate_cache(path)  # a listing cached in this process may be stale
            info = fs.info(path)
            if known is not None and _same_object(known, info):
                raise _Unchanged
        tmp = f"{dest}.part-{uuid.uuid4().hex[:12]}" if self.is_local else dest
        # The destination is opened at the first byte of a body, so a 304 answer
        # leaves the copy in place untouched (on object stores, dest is the copy).
        sink = _Sink(url, declared, lambda: self._open_write(tmp, replacing=known))
        sink.blocking = not self.is_local
        if not is_http:
            sink.etag, sink.last_modified = _object_validators(info)
        try:
            expected = None  # over HTTP, aiohttp checks Content-Length itself
            try:
                if is_http:
                    headers = _conditions(known) if known is not None else {}
                    fsspec.asyn.sync(fs.loop, _stream_http, fs, url, sink, headers, retry, guard)
                else:
                    expected = info.get("size")
                    with fs.open(path, "rb", block_size=_BLOCK) as src:
                        while block := src.read(_BLOCK):
                            sink.write(block)
                sink.close()
            finally:
                sink.release()
            if expected is not None and sink.size != expected:
                raise _Cut(sink.size, expected)
            if self.is_local:
                os.replace(tmp, dest)
        except BaseException:
            if self.is_local and os.path.exists(tmp):
                os.remove(tmp)
            elif not self.is_local and sink.out is not None:
                # a part written in place is not kept: its sidecar is gone already
                with contextlib.suppress(OSError):
                    self.fs.rm_file(dest)
            raise
        assert sink.file_type is not None  # an empty file fails sniffing first
        digest = sink.hash.hexdigest()
        return sink.size, digest, sink.file_type, sink.etag, sink.last_modified

    def _open_write(self, path: str, *, replacing: CachedInput | None = None) -> BinaryIO:
        if self.is_local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return open(path, "wb")
        if replacing is not None:
            # Object stores overwrite the copy in place: its sidecar goes first, so a
            # copy cut short is never taken for the one it describes.
            self.fs.rm_file(f"{path}.json")
        opened: BinaryIO = self.fs.open(path, "wb")
        return opened

    def _size(self, path: str) -> int | None:
        try:
            return os.path.getsize(path) if self.is_local else self.fs.size(path)
        except (FileNotFoundError, OSError):
            return None

    def _read_sidecar(self, path: str) -> _Sidecar | None:
        try:
            text = Path(path).read_text() if self.is_local else self.fs.cat_file(path).decode()
            return _Sidecar.from_json(text)
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def _write_sidecar(self, path: str, cached: CachedInput, *, mtime_ns: int | None) -> None:
        sidecar = _Sidecar(
            url=cached.url,
            size=cached.size,
            sha256=cached.sha256,
            file_type=cached.file_type,
            mtime_ns=mtime_ns,
            fetched=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            etag=cached.etag,
            last_modified=cached.last_modified,
        )
        text = json.dumps(asdict(sidecar), indent=1)
        if self.is_local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.part-{uuid.uuid4().hex[:12]}"
            Path(tmp).write_text(text)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, text.encode())


class _Sink:
    """Where downloaded blocks go: sniffed, hashed and written, in one pass."""

    def __init__(self, url: str, declared: FileType, open_out: Callable[[], BinaryIO]):
        self.url, self.declared = url, declared
        self._open_out = open_out
        self.out: BinaryIO | None = None
        self.hash = hashlib.sha256()
        self.size = 0
        self.file_type: FileType | None = None
        self.etag: str | None = None
        self.last_modified: str | None = None
        #: whether writing may wait on fsspec's event loop (an object-store destination)
        self.blocking = False
        #: the length the source announced, if it did
        self.expected: int | None = None
        self._head = b""

    @property
    def received(self) -> int:
        """Bytes taken so far, those held for sniffing included."""
        return self.size + len(self._head)

    def write(self, block: bytes) -> None:
        """Take the next block; the first bytes are held until the format is known."""
        if self.file_type is None:
            self._head += block
            if len(self._head) < SNIFF_BYTES:
                return
            block = self._release_head()
        self._emit(block)

    def close(self) -> None:
        """Finish a file shorter than the sniffed prefix."""
        if self.file_type is None:
            self._emit(self._release_head())

    def release(self) -> None:
        """Close the output file, if a body was written to it."""
        if self.out is not None:
            self.out.close()

    def _release_head(self) -> bytes:
        found = sniff(self._head, url=self.url)
        self.file_type = check_declared(self.declared, found, url=self.url)
        head, self._head = self._head, b""
        return head

    def _emit(self, block: bytes) -> None:
        self.hash.update(block)
        if self.out is None:
            self.out = self._open_out()
        self.out.write(block)
        self.size += len(block)


async def _stream_http(
    fs: fsspec.AbstractFileSystem,
    url: str,
    sink: _Sink,
    conditions: dict[str, str],
    retry: RetryPolicy,
    guard: Guard = NO_GUARD,
) -> None:
    """GETs on fsspec's session, blocks handed to ``sink`` as they arrive.

    fsspec's file objects pass every read through a thread hand-off and report
    any failed HEAD, a 503 included, as FileNotFoundError; a plain streamed GET
    is twice as fast and keeps the real status. With ``conditions`` (If-None-Match,
    If-Modified-Since), a 304 answer means the cached copy is current: :class:`_Unchanged`
    is raised. A body cut short (a dropped connection, a read timeout) is resumed from
    the byte received last with a Range request, as long as each try brings bytes; a
    server that answers it with the whole file cannot resume (:class:`_Cut`).
    """
    import aiohttp

    session = await fs.set_session()
    kwargs = dict(fs.kwargs)
    base = dict(kwargs.get("headers") or {})
    stalled = 0
    while True:
        start = sink.received
        kwargs["headers"] = {**base, **_resume_headers(sink)} if start else {**base, **conditions}
        try:
            get = (
                guarded_get(session, fs.encode_url(url), guard, **kwargs)
                if guard.active
                else session.get(fs.encode_url(url), **kwargs)
            )
            async with get as response:
                if start:
                    _check_resumed(response, sink)
                else:
                    if response.status == 304 and conditions:
                        raise _Unchanged
                    if response.status == 404:
                        raise FileNotFoundError(url)
                    response.raise_for_status()
                    sink.etag = response.headers.get("ETag") or None
                    sink.last_modified = iso_date(response.headers.get("Last-Modified"))
                    sink.expected = response.content_length
                async for block in response.content.iter_chunked(_STREAM_BLOCK):
                    if sink.blocking:
                        # An object-store cache writes through fsspec, whose calls wait on
                        # the loop this runs on: they are made from another thread.
                        await asyncio.to_thread(sink.write, block)
                    else:
                        sink.write(block)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as e:
            if _dns_failure(e) or not sink.received:
                raise
            if sink.expected is not None and sink.received == sink.expected:
                return  # every byte arrived; the connection dropped as it closed
            stalled = 0 if sink.received > start else stalled + 1
            if stalled >= retry.attempts:
                raise _Cut(sink.received, sink.expected) from e
            if stalled:
                await asyncio.sleep(retry.delay(stalled - 1))
            continue
        if sink.expected is not None and sink.received != sink.expected:
            raise _Cut(sink.received, sink.expected)
        return


def _resume_headers(sink: _Sink) -> dict[str, str]:
    """A request for the rest of the file, answered whole if the file changed meanwhile."""
    headers = {"Range": f"bytes={sink.received}-"}
    if sink.etag and not sink.etag.startswith("W/"):
        headers["If-Range"] = sink.etag
    elif sink.last_modified and (date := http_date(sink.last_modified)):
        headers["If-Range"] = date
    return headers


def _check_resumed(response: Any, sink: _Sink) -> None:
    """Accept only the rest of the same file; anything else starts the copy again."""
    if response.status != 206:
        if response.status >= 400:
            response.raise_for_status()
        # The whole file again: the server ignores Range, or the file changed.
        raise _Cut(sink.received, sink.expected, resumable=False)
    found = response.headers.get("Content-Range", "")
    match = re.match(r"bytes (\d+)-", found)
    if match is None or int(match.group(1)) != sink.received:
        raise _Cut(sink.received, sink.expected, resumable=False)


class _Cut(OSError):
    """A body that ended before its length: ``got`` of ``expected`` bytes."""

    def __init__(self, got: int, expected: int | None, *, resumable: bool = True):
        super().__init__(f"got {got} bytes of {expected if expected is not None else '?'}")
        self.got, self.expected, self.resumable = got, expected, resumable


def _asked_wait(url: str, error: Any) -> float | None:
    """The wait a 429 or 503 answer asked for (Retry-After), refused if too long."""
    if error.status not in (429, 503):
        return None
    seconds = retry_after(error.headers)
    if seconds is not None and too_long(seconds):
        raise SourceError(
            f"{url}: the server is busy (HTTP {error.status}) and asked to wait "
            f"{seconds:g} s before asking again (Retry-After); this run waits at most "
            f"{MAX_RETRY_AFTER:g} s. Run again later."
        )
    return seconds


def _dns_failure(error: BaseException) -> BaseException | None:
    """The name-lookup failure behind ``error``, if that is what it is."""
    import socket

    seen: list[BaseException] = []
    found: BaseException | None = error
    while found is not None and all(found is not e for e in seen):
        if isinstance(found, socket.gaierror) or type(found).__name__ == "ClientConnectorDNSError":
            return found
        seen.append(found)
        found = found.__cause__ or found.__context__
    return None


def _sleep(seconds: float) -> None:
    """Wait before the next attempt (a function of its own, so tests can see the waits)."""
    time.sleep(seconds)


@dataclass(frozen=True, slots=True)
class _Sidecar:
    url: str
    size: int
    sha256: str
    file_type: FileType
    mtime_ns: int | None
    fetched: str
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def from_json(cls, text: str) -> _Sidecar:
        d = json.loads(text)
        return cls(
            url=d["url"],
            size=int(d["size"]),
            sha256=d["sha256"],
            file_type=FileType(d["file_type"]),
            mtime_ns=d.get("mtime_ns"),
            fetched=d.get("fetched", ""),
            etag=d.get("etag"),
            last_modified=d.get("last_modified"),
        )

    def cached(self, path: str) -> CachedInput:
        """The cached input this sidecar describes, its bytes at ``path``."""
        return CachedInput(
            self.url,
            path,
            self.size,
            self.sha256,
            self.file_type,
            self.etag,
            self.last_modified,
        )


#: What a download gives: size, SHA-256, format, ETag and Last-Modified.
_Fetched = tuple[int, str, FileType, str | None, str | None]


class _Unchanged(Exception):
    """The source answered that the cached copy is still current."""


def _conditions(known: CachedInput) -> dict[str, str]:
    """The headers of a conditional GET that answers 304 while ``known`` is current.

    A copy whose source gave neither validator cannot be checked without reading it
    again: it gets a plain GET, and the fresh copy's SHA-256 tells whether it changed.
    """
    headers = {}
    if known.etag:
        headers["If-None-Match"] = known.etag
    if known.last_modified and (date := http_date(known.last_modified)):
        headers["If-Modified-Since"] = date
    return headers


def _object_validators(info: dict[str, Any]) -> tuple[str | None, str | None]:
    """The ETag and last-modified date of an object-store entry (s3fs, gcsfs, others)."""
    etag = info.get("ETag") or info.get("etag") or info.get("e_tag")
    modified = next(
        (info[k] for k in ("LastModified", "last_modified", "updated", "mtime") if info.get(k)),
        None,
    )
    return (str(etag) if etag else None), iso_date(modified)


def _same_object(known: CachedInput, info: dict[str, Any]) -> bool:
    """Whether an object store's metadata shows the object ``known`` was copied from.

    Size and ETag must match; without an ETag, size and last-modified date. With
    neither validator the object is read again.
    """
    etag, modified = _object_validators(info)
    if info.get("size") is not None and int(info["size"]) != known.size:
        return False
    if etag and known.etag:
        return etag == known.etag
    if modified and known.last_modified:
        return modified == known.last_modified
    return False


def _with_timeout(url: str, options: dict[str, Any], retry: RetryPolicy) -> dict[str, Any]:
    """Give HTTP and FTP sources a read timeout unless the recipe set its own."""
    if url.startswith("ftp://"):
        return {"timeout": retry.timeout, **options}
    if not url.startswith(("http://", "https://")) or "client_kwargs" in options:
        return options
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=retry.timeout)
    return {**options, "client_kwargs": {"timeout": timeout}}
