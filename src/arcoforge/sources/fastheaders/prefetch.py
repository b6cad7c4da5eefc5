"""Inputs' edges fetched by a helper process, so that fetching never competes with parsing.

Parsing a header (h5py) and driving many requests at once (asyncio) both need this
process's interpreter lock: in one process each slows the other (bench/README.md). An
:class:`EdgePrefetcher` starts a child process
(``python -m arcoforge.sources.fastheaders.prefetch``) that fetches both edges of each
input it is sent (:mod:`arcoforge.sources.fastheaders.edges`) and streams them back in
order, each as soon as it and those before it are in, while this process parses. The
child imports no more than obstore and the sources' store helpers, and stops when its
input closes (through :func:`~arcoforge.exiting.exit_now`).
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import subprocess
import sys
import threading
import traceback
import weakref
from collections.abc import Iterator
from dataclasses import asdict
from typing import IO, Any, NoReturn

from arcoforge.errors import ForgeError, PipelineError, SourceError, error_from_name
from arcoforge.exiting import exit_now
from arcoforge.sources.fastheaders.edges import MAX_IN_FLIGHT, RangeFile, fetch_one
from arcoforge.sources.hosts import AsyncHostSlots
from arcoforge.sources.retry import RetryPolicy
from arcoforge.sources.stores import range_reader, registry_for, source_errors

#: A pipe's capacity, asked for the child's output: a few files' edges.
PIPE_BYTES = 1 << 20
#: The child's command.
COMMAND = (sys.executable, "-m", "arcoforge.sources.fastheaders.prefetch")


class EdgePrefetcher:
    """A child process fetching inputs' edges for one reader (one thread) of a run."""

    def __init__(self, options: dict[str, Any], retry: RetryPolicy, auth: str | None = None):
        self.options = options
        self.retry = retry
        #: the auth profile's name: the child reads its secret from its own environment
        self.auth = auth
        self._proc: subprocess.Popen[bytes] | None = None
        #: frames the child has yet to send for the last call
        self._owed = 0

    def fetch(self, urls: list[str]) -> Iterator[RangeFile | SourceError]:
        """The edges of each of ``urls`` in order, or the error that names it.

        The child starts fetching them now; the iterator waits for each in turn. If
        an earlier call's iterator was left midway, its child is stopped first (its
        frames are still on their way) and another started.
        """
        if self._owed:
            self.close()
        proc = self._started()
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # if it stopped, the first frame says why
            _send(proc.stdin, urls)
        self._owed = len(urls)
        return self._frames(proc, urls)

    def _frames(
        self, proc: subprocess.Popen[bytes], urls: list[str]
    ) -> Iterator[RangeFile | SourceError]:
        assert proc.stdout is not None
        for url in urls:
            frame = self._frame(proc.stdout)
            self._owed -= 1
            if frame[0] == "error":
                yield error_from_name(frame[1], frame[2])  # type: ignore[misc]
            else:
                size, pieces, etag, modified = frame[1:5]
                read = range_reader(url, self.options, self.retry, self.auth)
                yield RangeFile(read, size, pieces, etag=etag, last_modified=modified)

    def close(self) -> None:
        """Stop the child process, if it runs."""
        proc, self._proc = self._proc, None
        self._owed = 0
        if proc is not None:
            _stop(proc)

    def start(self) -> None:
        """Start the child process, if it does not run."""
        self._started()

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.close()
        proc = subprocess.Popen(
            COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        weakref.finalize(self, _stop, proc)
        assert proc.stdin is not None and proc.stdout is not None
        _widen(proc.stdout)
        with contextlib.suppress(OSError):  # if it stopped, the first frame says why
            _send(proc.stdin, (self.options, asdict(self.retry), self.auth))
        self._proc = proc
        return proc

    def _frame(self, out: IO[bytes]) -> tuple[Any, ...]:
        try:
            return pickle.load(out)  # type: ignore[no-any-return]
        except (EOFError, pickle.UnpicklingError, OSError):
            proc, self._proc = self._proc, None
            why = "it was stopped"
            if proc is not None:
                last = _stop(proc)
                why = f"exit status {proc.returncode}" + (f": {last}" if last else "")
            raise PipelineError(
                f"the process fetching the inputs' headers stopped ({why})."
            ) from None


class SharedPrefetcher:
    """One :class:`EdgePrefetcher` for the threads of a process, lent to one at a time.

    The threads of a copy parse headers one at a time (HDF5 holds a lock per process),
    so one child fetching ahead serves them all, and keeps to the per-host limit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._feed: EdgePrefetcher | None = None

    @contextlib.contextmanager
    def lent(
        self, options: dict[str, Any], retry: RetryPolicy, auth: str | None = None
    ) -> Iterator[EdgePrefetcher]:
        """The process's prefetcher for these settings, for the caller alone until it
        returns (one made for other settings is stopped first)."""
        with self._lock:
            yield self._for(options, retry, auth)

    def warm(self, options: dict[str, Any], retry: RetryPolicy, auth: str | None = None) -> None:
        """Start the child for these settings now, to be ready when the first batch asks
        (it starts on another core while this process imports and plans)."""
        with self._lock:
            self._for(options, retry, auth).start()

    def _for(self, options: dict[str, Any], retry: RetryPolicy, auth: str | None) -> EdgePrefetcher:
        feed = self._feed
        if feed is None or (feed.options, feed.retry, feed.auth) != (options, retry, auth):
            if feed is not None:
                feed.close()
            feed = self._feed = EdgePrefetcher(options, retry, auth)
        return feed


#: The prefetcher the threads of this process share (see arcoforge.pipeline.copy_stages).
FEEDS = SharedPrefetcher()


def _send(stream: IO[bytes], value: Any) -> None:
    pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


def _widen(stream: IO[bytes]) -> None:
    """Ask for a pipe of :data:`PIPE_BYTES` (Linux), so the child rarely waits to write."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # the default capacity works, a little slower


def _stop(proc: subprocess.Popen[bytes]) -> str:
    """Stop ``proc`` (it ends when its input closes) and return the last line it wrote."""
    for stream in (proc.stdin, proc.stdout):
        with contextlib.suppress(OSError):
            if stream is not None:
                stream.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is None or proc.stderr.closed:
        return ""
    with proc.stderr:
        lines = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else ""


# --- the child process -------------------------------------------------------------


def main() -> NoReturn:
    """Answer each list of URLs read from stdin with one frame per URL on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    code = 0
    try:
        options, retry, auth = pickle.load(stdin)
        policy = RetryPolicy(**retry)
        while True:
            try:
                urls = pickle.load(stdin)
            except EOFError:
                break
            asyncio.run(_answer(urls, options, policy, stdout, auth))
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    except BaseException:
        traceback.print_exc()
        code = 1
    exit_now(code)


async def _answer(
    urls: list[str],
    options: dict[str, Any],
    retry: RetryPolicy,
    out: IO[bytes],
    auth: str | None = None,
) -> None:
    limit = asyncio.Semaphore(MAX_IN_FLIGHT)
    requests = AsyncHostSlots(retry.per_host)
    tasks: list[asyncio.Future[RangeFile] | Exception] = []
    for url in urls:
        try:  # a store for a host name that does not resolve is refused at once
            store, path = registry_for(url, options, retry, auth).resolve(url)
        except Exception as e:
            tasks.append(e)
            continue
        tasks.append(asyncio.ensure_future(fetch_one(store, path, limit, requests(url))))
    for url, task in zip(urls, tasks, strict=True):
        try:
            if isinstance(task, Exception):
                raise task
            found = await task
            frame: tuple[Any, ...] = (
                "edges",
                found.size,
                found.pieces,
                found.etag,
                found.last_modified,
            )
        except Exception as e:
            frame = _error_frame(url, e)
        pickle.dump(frame, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


def _error_frame(url: str, error: Exception) -> tuple[str, str, str]:
    """The error that names ``url`` (see :class:`source_errors`), as a frame."""
    try:
        with source_errors(url):
            raise error
    except ForgeError as e:
        return ("error", type(e).__name__, str(e))
    except Exception as e:
        return ("error", "SourceError", f"{url}: {type(e).__name__}: {e}")
    raise AssertionError("unreachable")


if __name__ == "__main__":
    main()
