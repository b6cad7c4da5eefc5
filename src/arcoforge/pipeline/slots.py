"""How many tasks a worker runs at once: as many as its memory holds of the largest.

``--max-memory`` is the budget of one task. A Dask worker with several threads
(or any runner that calls a DoFn from several threads) would otherwise run as
many tasks as it has threads, whatever their size; here each worker process
lets at most ``max(1, worker memory // largest task)`` write at once and the
others wait.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def task_limit(worker_memory: int, largest_task: int) -> int:
    """Tasks a worker with ``worker_memory`` bytes may run at once; at least one."""
    if worker_memory <= 0 or largest_task <= 0:
        return 1
    return max(1, worker_memory // largest_task)


def worker_memory(share: int = 0) -> int:
    """This worker's memory: its Dask worker's memory limit, else ``share``, else the machine's.

    ``share`` is what the launcher gave each local worker process (the machine's
    memory divided among them); a worker of a running Dask cluster knows its own.
    """
    limit = None
    distributed = sys.modules.get("distributed")  # never imported by other runners' workers
    if distributed is not None:
        try:
            limit = distributed.get_worker().memory_manager.memory_limit
        except ValueError:  # not in a Dask worker's task
            limit = None
    if limit:
        return int(limit)
    if share > 0:
        return share
    import psutil

    return int(psutil.virtual_memory().total)


def memory_share(workers: int) -> int:
    """Each of ``workers`` local worker processes' share of the machine's memory."""
    import psutil

    return int(psutil.virtual_memory().total) // max(1, workers)


class TaskSlots:
    """A counter of the tasks running in this process, which waits at a limit."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.active = 0
        #: the most tasks that ran at once in this process
        self.most = 0

    @contextmanager
    def hold(self, limit: int) -> Iterator[None]:
        """Wait until fewer than ``limit`` tasks run, then run."""
        self.acquire(limit)
        try:
            yield
        finally:
            self.release()

    def acquire(self, limit: int, *, wait: bool = True) -> bool:
        """Count one more task running, once fewer than ``limit`` run (at once, or not
        at all, without ``wait``); whether it was counted. :meth:`release` uncounts it."""

        def room() -> bool:
            return self.active < max(1, limit)

        with self._cond:
            if not (self._cond.wait_for(room) if wait else room()):
                return False
            self.active += 1
            self.most = max(self.most, self.active)
            return True

    def release(self) -> None:
        """One task counted by :meth:`acquire` is done."""
        with self._cond:
            self.active -= 1
            self._cond.notify()


#: Shared by every writing DoFn of this process, whichever thread runs it.
SLOTS = TaskSlots()
