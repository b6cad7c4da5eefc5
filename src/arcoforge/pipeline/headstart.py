"""A copy's first batches, read while its pipeline starts.

Importing Beam, building the pipeline and starting its workers take most of a second
on one core, the other idle. A copy whose workers are threads of this process (the
DirectRunner, inputs read by range) reads its first batches meanwhile, on as many
threads of its own. The pipeline's fetch stage takes each batch's result from here
when it comes to it (waiting for one still being read), and no batch is started here
once the first one is taken. Both read a batch with the same function
(:func:`~arcoforge.pipeline.copy_stages.fetch_batch`): same results, errors and marks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from arcoforge.pipeline.context import RunContext
from arcoforge.recipe.pattern import Index

if TYPE_CHECKING:
    from arcoforge.sources.cache import CachedInput

Batch = list[tuple[Index, str]]
Fetched = list["tuple[Index, CachedInput] | None"]

#: The head starts of the runs in progress in this process, by run id.
_STARTED: dict[str, HeadStart] = {}


class HeadStart:
    """Batches of one run read on threads of their own, in order, until one is taken."""

    def __init__(self, ctx: RunContext, batches: list[Batch], threads: int) -> None:
        self.ctx = ctx
        self._batches = batches
        self._lock = threading.Lock()
        self._next = 0
        self._closed = False
        #: the batches started here and not taken yet
        self._reading: dict[tuple[str, ...], Future[Fetched]] = {}
        self._threads = [
            threading.Thread(target=self._work, name=f"arcoforge-head-{k}", daemon=True)
            for k in range(max(1, threads))
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def take(self, batch: Batch) -> Future[Fetched] | None:
        """The batch's result to come, if it was started here; none starts after this."""
        with self._lock:
            self._closed = True
            return self._reading.pop(_key(batch), None)

    def close(self) -> None:
        """Start no more batches, and wait for those being read."""
        with self._lock:
            self._closed = True
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    @property
    def started(self) -> int:
        """How many batches were started here."""
        return self._next

    def _work(self) -> None:
        from arcoforge.pipeline.copy_stages import fetch_batch

        while True:
            with self._lock:
                if self._closed or self._next >= len(self._batches):
                    return
                batch = self._batches[self._next]
                self._next += 1
                future: Future[Fetched] = Future()
                self._reading[_key(batch)] = future
            future.set_running_or_notify_cancel()
            try:
                future.set_result(fetch_batch(self.ctx, batch))
            except BaseException as error:  # the pipeline's stage raises it, as its own
                future.set_exception(error)


def _key(batch: Batch) -> tuple[str, ...]:
    return tuple(url for _, url in batch)


@contextmanager
def head_start(ctx: RunContext, inputs: list[Any], threads: int | None) -> Iterator[None]:
    """Read the first batches of the copy of ``ctx`` on ``threads`` threads while the
    body starts its pipeline; nothing if its workers are not threads of this process."""
    if threads is None or ctx.output is None or not inputs:
        yield
        return
    from arcoforge.pipeline.batches import copy_batches

    head = HeadStart(ctx, copy_batches(ctx, inputs), threads)
    _STARTED[ctx.run_id] = head
    head.start()
    try:
        yield
    finally:
        head.close()
        _STARTED.pop(ctx.run_id, None)


def fetch_batch(ctx: RunContext, batch: Batch) -> Fetched:
    """:func:`~arcoforge.pipeline.copy_stages.fetch_batch`, or its result from the head
    start of this run if it read (or is reading) this batch."""
    head = _STARTED.get(ctx.run_id)
    future = head.take(batch) if head is not None else None
    if future is not None:
        return future.result()
    from arcoforge.pipeline.copy_stages import fetch_batch as fetch_here

    return fetch_here(ctx, batch)
