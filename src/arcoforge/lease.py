"""Lease: one run at a time per output, on local disk and object storage.

A lease is a small document (``ROOT/.forge/leases/<id>.json``) naming its owner
and when it expires, taken with a create-if-absent write and renewed with a
replace-if-unchanged one (see :mod:`arcoforge.conditional`). A run that finds a
live lease names the run holding it; a lease whose holder was killed expires
and is taken over, so a stale one never blocks for longer than its term (on the
machine that took it, at once: its process is gone).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from arcoforge.conditional import Conditional, Versioned
from arcoforge.errors import LeaseHeldError
from arcoforge.location import Location

#: Seconds a lease lives without renewal; its holder renews it every third of that.
DEFAULT_TERM = 60.0


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lease, and until when (seconds since the epoch)."""

    owner: str
    host: str
    pid: int
    started: float
    expires: float

    def is_dead(self) -> bool:
        """Whether the holder ran on this machine and its process no longer exists."""
        if self.host != socket.gethostname():
            return False  # another machine's process: only its expiry tells
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        return False

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return f"run {self.owner[:8]} (process {self.pid} on {self.host}, started {started})"


class Lease:
    """The lease on ``name`` below ``root``; a context manager that holds it while in use."""

    def __init__(self, root: Location, name: str, *, term: float = DEFAULT_TERM):
        self.docs = Conditional(root)
        self.name = name
        self.term = term
        self.owner = uuid.uuid4().hex
        self._held = False
        self._started = time.time()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock = threading.Lock()

    def acquire(self, *, wait: float = 0.0) -> None:
        """Take the lease, waiting up to ``wait`` seconds for another holder to let go."""
        deadline = time.monotonic() + wait
        while True:
            holder = self._try_take()
            if holder is None:
                break
            if time.monotonic() >= deadline:
                raise LeaseHeldError(
                    f"{self.docs.location.url_of(self.name)}: {holder.describe()} is writing "
                    f"this output; its lease runs until "
                    f"{time.strftime('%H:%M:%S UTC', time.gmtime(holder.expires))}. Wait for "
                    "it to finish (or, if it was killed, for the lease to expire), then run again."
                )
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        self._renewer = threading.Thread(target=self._renew_loop, name="forge-lease", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        """Let the lease go (only if it is still ours)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        with self._lock:
            if self._held:
                mine = self._mine()
                if mine is not None:
                    self.docs.delete(self.name, mine.version)
                self._held = False

    def holder(self) -> Holder | None:
        """Who holds the lease now, if anyone does and it has not expired."""
        found = self.docs.read(self.name)
        if found is None:
            return None
        holder = _parse(found)
        return holder if holder is not None and holder.expires > time.time() else None

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _doc(self) -> bytes:
        holder = Holder(
            owner=self.owner,
            host=socket.gethostname(),
            pid=os.getpid(),
            started=self._started,
            expires=time.time() + self.term,
        )
        return json.dumps(asdict(holder)).encode()

    def _try_take(self) -> Holder | None:
        """Take the lease if free or expired; else return its live holder."""
        found = self.docs.read(self.name)
        if found is None:
            if self.docs.create(self.name, self._doc()):
                self._held = True
                return None
            found = self.docs.read(self.name)
            if found is None:
                return self._try_take()
        holder = _parse(found)
        if holder is not None and holder.expires > time.time() and not holder.is_dead():
            return holder
        # expired, its process gone (a killed run), or unreadable: take it over, unless
        # someone is quicker
        if self.docs.replace(self.name, self._doc(), found.version):
            self._held = True
            return None
        return self._try_take()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.term / 3):
            with self._lock:
                mine = self._mine() if self._held else None
                if mine is None or not self.docs.replace(self.name, self._doc(), mine.version):
                    self._held = False  # lost: taken over after it expired
                    return

    @property
    def held(self) -> bool:
        """Whether this lease is still ours (False once taken over after expiring)."""
        return self._held

    def _mine(self) -> Versioned | None:
        """The lease document, if it is still ours."""
        found = self.docs.read(self.name)
        holder = None if found is None else _parse(found)
        return found if holder is not None and holder.owner == self.owner else None


def _parse(found: Versioned) -> Holder | None:
    try:
        return Holder(**json.loads(found.data))
    except (ValueError, TypeError):
        return None
