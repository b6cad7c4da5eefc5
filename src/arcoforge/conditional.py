"""Conditional writes: create-if-absent and replace-if-unchanged, on local disk and S3.

Several processes share small documents: a run's state, a catalog's index, a lease
on an output. Each change is read, changed and written back only if nobody wrote
in between; a writer that loses the race reads again and retries. On S3 this is
``PutObject`` with ``If-None-Match: *`` or ``If-Match: <etag>``; on local disk an
exclusive ``flock`` on a sidecar file around the compare and an atomic rename.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from arcoforge.errors import TargetError
from arcoforge.location import Location

#: Error codes S3 answers when a condition does not hold (412) or a write raced (409).
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


@dataclass(frozen=True, slots=True)
class Versioned:
    """A document's bytes and an opaque token of the version they were read at."""

    data: bytes
    version: str


class ConflictError(TargetError):
    """A conditional update kept losing the race to other writers."""


class Conditional:
    """Conditional reads and writes of the documents below ``location``."""

    def __init__(self, location: Location):
        self.location = location
        if location.is_local:
            self._backend: _Backend = _LocalBackend()
        elif _is_s3(location):
            self._backend = _S3Backend(location.fs)
        else:
            protocol = location.fs.protocol
            raise TargetError(
                f"{location.url}: shared documents need conditional writes, which ARCO Forge "
                f"supports on local disk and s3:// only; got {protocol!r}. Choose a local "
                "or s3:// location for the output root."
            )

    @staticmethod
    def supports(location: Location) -> bool:
        """Whether ``location``'s store offers conditional writes."""
        return location.is_local or _is_s3(location)

    def read(self, name: str) -> Versioned | None:
        """The document ``name`` and its version, or None if it does not exist."""
        return self._backend.read(self.location.path(name))

    def create(self, name: str, data: bytes) -> bool:
        """Write ``name`` only if it does not exist; whether it was written."""
        return self._backend.create(self.location.path(name), data)

    def replace(self, name: str, data: bytes, version: str) -> bool:
        """Write ``name`` only if it is still at ``version``; whether it was written."""
        return self._backend.replace(self.location.path(name), data, version)

    def delete(self, name: str, version: str) -> bool:
        """Remove ``name`` only if it is still at ``version``; whether it was removed."""
        return self._backend.delete(self.location.path(name), version)

    def update(
        self,
        name: str,
        change: Callable[[bytes | None], bytes | None],
        *,
        attempts: int = 50,
    ) -> bytes | None:
        """Apply ``change`` to the document until no other writer intervenes.

        ``change`` gets the current bytes (None when absent) and returns the new ones,
        or None to leave the document as it is; it may run several times, so it must
        not have other effects. Returns what the document holds afterwards.
        """
        for attempt in range(attempts):
            current = self.read(name)
            new = change(None if current is None else current.data)
            if new is None or (current is not None and new == current.data):
                return None if current is None else current.data
            written = (
                self.create(name, new)
                if current is None
                else self.replace(name, new, current.version)
            )
            if written:
                return new
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))
        raise ConflictError(
            f"{self.location.url_of(name)}: could not be updated after {attempts} attempts, "
            "because other writers kept changing it. Try again when fewer runs write there."
        )


def _is_s3(location: Location) -> bool:
    protocol = location.fs.protocol
    return "s3" in ((protocol,) if isinstance(protocol, str) else tuple(protocol))


class _Backend:
    def read(self, path: str) -> Versioned | None:
        raise NotImplementedError

    def create(self, path: str, data: bytes) -> bool:
        raise NotImplementedError

    def replace(self, path: str, data: bytes, version: str) -> bool:
        raise NotImplementedError

    def delete(self, path: str, version: str) -> bool:
        raise NotImplementedError


class _LocalBackend(_Backend):
    """Local files; versions are content hashes, changes hold an exclusive lock."""

    def read(self, path: str) -> Versioned | None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return Versioned(data, _digest(data))

    def create(self, path: str, data: bytes) -> bool:
        with self._locked(path):
            if os.path.exists(path):
                return False
            self._put(path, data)
            return True

    def replace(self, path: str, data: bytes, version: str) -> bool:
        with self._locked(path):
            current = self.read(path)
            if current is None or current.version != version:
                return False
            self._put(path, data)
            return True

    def delete(self, path: str, version: str) -> bool:
        with self._locked(path):
            current = self.read(path)
            if current is None or current.version != version:
                return False
            os.remove(path)
            return True

    @contextmanager
    def _locked(self, path: str) -> Iterator[None]:
        folder, name = os.path.split(path)
        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, f".{name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _put(path: str, data: bytes) -> None:
        folder, name = os.path.split(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # readers see the old bytes or the new, never a part
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise


class _S3Backend(_Backend):
    """S3 (and S3-compatible stores that honour conditional PUTs); versions are ETags."""

    def __init__(self, fs: Any):
        self.fs = fs

    def read(self, path: str) -> Versioned | None:
        bucket, key = self._split(path)
        try:
            response = self.fs.call_s3("get_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None
        body = response["Body"]
        try:
            data = _read_body(self.fs, body)
        finally:
            body.close()
        return Versioned(data, response["ETag"])

    def create(self, path: str, data: bytes) -> bool:
        return self._put(path, data, IfNoneMatch="*")

    def replace(self, path: str, data: bytes, version: str) -> bool:
        return self._put(path, data, IfMatch=version)

    def delete(self, path: str, version: str) -> bool:
        return self._call(path, "delete_object", IfMatch=version)

    def _put(self, path: str, data: bytes, **condition: str) -> bool:
        return self._call(path, "put_object", Body=data, **condition)

    def _call(self, path: str, method: str, **kwargs: Any) -> bool:
        """Make a conditional request; whether its condition held and it was done."""
        bucket, key = self._split(path)
        try:
            self.fs.call_s3(method, Bucket=bucket, Key=key, **kwargs)
        except (FileExistsError, FileNotFoundError):
            return False  # If-None-Match on an existing key; If-Match on a deleted one
        except OSError as e:
            if _is_conflict(e):
                return False
            raise
        self.fs.invalidate_cache(path)
        return True

    def _split(self, path: str) -> tuple[str, str]:
        bucket, key, _ = self.fs.split_path(path)
        return bucket, key


def _read_body(fs: Any, body: Any) -> bytes:
    """The bytes of a streamed S3 response body, read on the filesystem's event loop."""
    from fsspec.asyn import sync

    async def read() -> bytes:
        data: bytes = await body.read()
        return data

    data: bytes = sync(fs.loop, read)
    return data


def _is_conflict(error: BaseException) -> bool:
    """Whether ``error`` (or the botocore error behind it) says a condition failed."""
    found: BaseException | None = error
    while found is not None:
        response = getattr(found, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _CONFLICT_CODES or status in ("409", "412"):
                return True
        found = found.__cause__
    return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
