"""The next block of a batch read while the one before it is written.

A thread writing a batch's tasks alternates between reading a block (fetching and
decoding its inputs' bytes, much of it spent waiting on the source) and writing it
(compressing and storing, on the CPU). :class:`ReadAhead` reads each block on a
thread of its own while the caller writes the one before, so that both go on at
once (bench/README.md, *Measurements behind the design*).

A block read ahead counts as one more task running in the process
(:data:`~arcoforge.pipeline.slots.SLOTS`) from its read until the caller takes it,
when the caller's own task counts for it: one is read ahead only where the memory
holds one more task then, and otherwise when the caller asks for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from arcoforge.pipeline.slots import SLOTS

_END = object()


class ReadAhead[T]:
    """The items of ``items`` in order, each one after the first read on a thread of its
    own while the caller works with the one before, as far as ``limit`` tasks allow
    (the first too, once the caller calls :meth:`start`).

    A context manager: on leaving it, an item being read ahead is waited for and
    dropped, and ``items`` is closed (a generator then closes what it opened).
    """

    def __init__(self, items: Iterator[T], limit: int) -> None:
        self._items = items
        self._limit = limit
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arcoforge-ahead")
        self._pending: Future[object] | None = None

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        item = self._take() if self._pending is not None else next(self._items, _END)
        if item is _END:
            raise StopIteration
        self.start()
        return item  # type: ignore[return-value]

    def start(self) -> None:
        """Read the next item on the thread of its own now, if one is not being read and
        one more task fits; the caller must hold its own task's place (else two threads
        could each hold a place for an item while waiting for one for their task)."""
        if self._pending is None and SLOTS.acquire(self._limit, wait=False):
            self._pending = self._pool.submit(next, self._items, _END)

    def _take(self) -> object:
        """The item read ahead (its error, raised here); from now on the caller's task
        counts for it."""
        assert self._pending is not None
        pending, self._pending = self._pending, None
        try:
            return pending.result()
        finally:
            SLOTS.release()

    def close(self) -> None:
        """Wait for the item being read ahead, drop it, and close ``items``."""
        if self._pending is not None:
            with contextlib.suppress(Exception):  # the caller's own failure is the one told
                self._take()
        self._pool.shutdown()
        close = getattr(self._items, "close", None)
        if close is not None:
            close()
