"""What each source host is owed: a name that resolves, a limit on requests at once, Retry-After.

The limit is per process (threads share it; see :func:`arcoforge.sources.retry.share`
for how a run's limit is split between worker processes). A host name that does not
resolve will not start to, so it fails at once instead of after every retry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

from arcoforge.errors import UnresolvableHostError
from arcoforge.sources.addresses import resolve
from arcoforge.sources.retry import MAX_RETRY_AFTER

#: Schemes whose host is looked up before fetching (file:// has none; s3 and gs name
#: buckets, whose endpoint the client finds).
_LOOKED_UP = frozenset({"http", "https", "ftp"})

_LOCK = threading.Lock()
#: Held while one caller of whole_hosts gathers its places: two gathering at once could
#: each end up with some of a host's places, waiting for the other's for ever.
_GATHERING = threading.Lock()
_SLOTS: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_RESOLVED: set[tuple[str, int]] = set()
#: When each host may be asked again (time.monotonic), after it asked to wait.
_NOT_BEFORE: dict[str, float] = {}


def host_of(url: str) -> str:
    """The ``host:port`` part of ``url`` ('' for local files), the key of its limit."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1].lower()


@contextmanager
def host_slot(url: str, limit: int) -> Iterator[None]:
    """Hold one of ``limit`` places for requests to ``url``'s host in this process."""
    host = host_of(url)
    if not host:
        yield
        return
    with _LOCK:
        slot = _SLOTS.setdefault((host, limit), threading.BoundedSemaphore(max(1, limit)))
    with slot:
        pause = _NOT_BEFORE.get(host, 0.0) - time.monotonic()
        if pause > 0:
            _pause(pause)
        yield


@contextmanager
def whole_hosts(urls: Iterable[str], limit: int) -> Iterator[None]:
    """Hold every one of ``limit`` places of each host of ``urls`` in this process: for a
    helper process that makes up to ``limit`` requests to each on this one's behalf."""
    one_each = {host_of(url): url for url in urls}
    with ExitStack() as places:
        with _GATHERING:  # one caller at a time; single places are still given back
            for host in sorted(one_each):
                for _ in range(max(1, limit)):
                    places.enter_context(host_slot(one_each[host], limit))
        yield


def _pause(seconds: float) -> None:
    """Wait as a host asked (a function of its own, so tests can see the waits)."""
    time.sleep(seconds)


def pause_host(url: str, seconds: float) -> None:
    """Hold every request of this process to ``url``'s host for ``seconds`` (Retry-After)."""
    host = host_of(url)
    with _LOCK:
        _NOT_BEFORE[host] = max(_NOT_BEFORE.get(host, 0.0), time.monotonic() + seconds)


class AsyncHostSlots:
    """The same limit for requests made on one event loop (asyncio), per host."""

    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self._slots: dict[str, asyncio.Semaphore] = {}

    def __call__(self, url: str) -> asyncio.Semaphore:
        host = host_of(url)
        if host not in self._slots:
            self._slots[host] = asyncio.Semaphore(self.limit)
        return self._slots[host]


def check_resolves(url: str) -> None:
    """Raise :class:`UnresolvableHostError` if ``url``'s host name has no address.

    Asked once per host and port per process; a name that resolved is not asked again.
    """
    parts = urlsplit(url)
    if parts.scheme not in _LOOKED_UP or not parts.hostname:
        return
    key = (parts.hostname, parts.port or 0)
    if key in _RESOLVED:
        return
    try:
        resolve(parts.hostname, parts.port or 0)  # through the resolver tests may set
    except OSError as e:  # socket.gaierror, or a replaced resolver's unknown name
        raise unresolvable(url, parts.hostname, e) from None
    with _LOCK:
        _RESOLVED.add(key)


def unresolvable(url: str, host: str, error: BaseException | str) -> UnresolvableHostError:
    """The error for ``url`` whose ``host`` has no address (not retried: it will not heal)."""
    why = getattr(error, "strerror", None) or str(error)
    return UnresolvableHostError(
        f"{url}: the host name {host!r} does not resolve to an address ({why}). "
        "Check the host name in the recipe's URL; if it is right, check this machine's "
        "DNS settings."
    )


def retry_after(
    headers: Mapping[str, str] | None, *, now: dt.datetime | None = None
) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (a number or an HTTP date), if any.

    Values past :data:`MAX_RETRY_AFTER` are returned as they are: the caller decides.
    """
    value = (headers or {}).get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def too_long(seconds: float) -> bool:
    """Whether a server asked to wait longer than this run will."""
    return seconds > MAX_RETRY_AFTER


_RANGED_SCHEMES = ("http://", "https://", "s3://", "gs://", "gcs://")
#: Hosts found to answer Range requests with whole files, in this process.
_NO_RANGE: set[str] = set()


def can_range(url: str) -> bool:
    """Whether ``url`` is on a store whose objects can be read by byte range (as far
    as this process knows: a server found to ignore Range is not asked again)."""
    return url.startswith(_RANGED_SCHEMES) and host_of(url) not in _NO_RANGE


def refuses_ranges(url: str) -> None:
    """Note that ``url``'s server answered a Range request with the whole file."""
    _NO_RANGE.add(host_of(url))
