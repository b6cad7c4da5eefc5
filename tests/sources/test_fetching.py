"""Fetching from servers that need care: names that do not resolve, throttling, dropped
connections, bodies cut short and servers that ignore Range (a real aiohttp server)."""

from __future__ import annotations

import hashlib
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import SourceError, UnrepresentableError, UnresolvableHostError
from arcoforge.recipe.pattern import Index
from arcoforge.sources import cache as cache_module
from arcoforge.sources import hosts
from arcoforge.sources.cache import InputCache
from arcoforge.sources.retry import RetryPolicy, share
from arcoforge.sources.virtual import open_virtual

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, timeout=5.0)
INDEX = Index((("time", 0),))


@pytest.fixture
def served(http_server: SourceServer) -> tuple[SourceServer, list[Path]]:
    files = write_files(make_sst(days=4), http_server.root, steps=1)
    return http_server, [f.path for f in files]


@pytest.fixture
def big_file(http_server: SourceServer) -> Path:
    """A netCDF4 file of about 1 MB of incompressible values, stored uncompressed."""
    values = np.random.default_rng(3).random((250, 1000), dtype=np.float32)
    path = http_server.root / "big.nc"
    xr.Dataset({"v": (("y", "x"), values)}).to_netcdf(path, engine="h5netcdf")
    return path


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[float]]:
    """The waits fetching asks for, recorded instead of slept (backoff, Retry-After)."""
    seen: dict[str, list[float]] = {"backoff": [], "asked": []}
    monkeypatch.setattr(cache_module, "_sleep", seen["backoff"].append)
    monkeypatch.setattr(hosts, "_pause", seen["asked"].append)
    return seen


@pytest.fixture
def stub_resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names under ``.invalid`` do not resolve (RFC 6761), answered here without a DNS
    server; every other lookup goes to the real resolver (and the test suite's guard)."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- errors that will not heal -----------------------------------------------------


def test_a_host_that_does_not_resolve_fails_at_once(
    stub_resolver: list[str], waits: dict[str, list[float]], tmp_path: Path
) -> None:
    url = "http://data.invalid/sst.19810901.nc"
    with pytest.raises(UnresolvableHostError, match="does not resolve") as info:
        InputCache(str(tmp_path / "c")).fetch(url, retry=RetryPolicy(attempts=5))
    assert url in str(info.value) and "'data.invalid'" in str(info.value)
    assert stub_resolver == ["data.invalid"]  # asked once, and not retried
    assert waits == {"backoff": [], "asked": []}


def test_references_from_a_host_that_does_not_resolve_fail_at_once(
    stub_resolver: list[str],
) -> None:
    with pytest.raises(UnresolvableHostError, match="does not resolve"):
        open_virtual(INDEX, "http://refs.invalid/a.nc", retry=RetryPolicy(attempts=5))
    assert stub_resolver == ["refs.invalid"]


def test_a_truncated_source_is_named_with_its_sizes_and_not_kept(
    served, waits: dict[str, list[float]], tmp_path: Path
) -> None:
    server, files = served
    server.faults.truncate[files[0].name] = 99  # always half the body, then closed
    size = files[0].stat().st_size
    with pytest.raises(SourceError) as info:
        InputCache(str(tmp_path / "c")).fetch(f"{server.url}/{files[0].name}", retry=FAST)
    message = str(info.value)
    assert f"expected {size:,} bytes, got {size // 2:,}" in message
    assert "in each of 3 attempts" in message and "Traceback" not in message
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


# --- dropped connections -------------------------------------------------------------


def test_a_connection_that_drops_again_and_again_is_resumed(
    http_server: SourceServer, big_file: Path, tmp_path: Path
) -> None:
    size = big_file.stat().st_size
    http_server.faults.cut_after[big_file.name] = 100_000
    # Fewer attempts than drops: each resumption that brings bytes is not a failure.
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, timeout=5.0)
    cached = InputCache(str(tmp_path / "c")).fetch(
        f"{http_server.url}/{big_file.name}", retry=policy
    )
    assert cached.size == size and cached.sha256 == _sha(big_file)
    ranges = [r.range for r in http_server.requests if r.method == "GET"]
    expected = [None] + [f"bytes={n}-" for n in range(100_000, size, 100_000)]
    assert ranges == expected
    assert Path(cached.path).read_bytes() == big_file.read_bytes()


def test_a_resumed_body_that_comes_whole_starts_again(
    http_server: SourceServer, big_file: Path, waits: dict[str, list[float]], tmp_path: Path
) -> None:
    # A server that ignores Range cannot resume: every try starts from the first byte.
    http_server.faults.no_range.add(big_file.name)
    http_server.faults.cut_after[big_file.name] = 100_000
    with pytest.raises(SourceError, match=r"cut short: expected [\d,]+ bytes, got 100,000"):
        InputCache(str(tmp_path / "c")).fetch(f"{http_server.url}/{big_file.name}", retry=FAST)
    assert len(waits["backoff"]) == 2  # three attempts
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


# --- servers without Range -------------------------------------------------------------


def test_a_server_without_range_serves_copies_and_refuses_references(
    served, tmp_path: Path
) -> None:
    server, files = served
    server.faults.no_range.add("*")
    url = f"{server.url}/{files[0].name}"
    cached = InputCache(str(tmp_path / "c")).fetch(url, retry=FAST)
    assert cached.sha256 == _sha(files[0])
    with pytest.raises(UnrepresentableError) as info:
        open_virtual(INDEX, url, retry=FAST)
    message = str(info.value)
    assert message.startswith(url) and "does not answer Range requests" in message
    assert "outputs: zarr" in message and "Debug" not in message


# --- throttling ------------------------------------------------------------------------


def test_retry_after_is_honoured(served, waits: dict[str, list[float]], tmp_path: Path) -> None:
    server, files = served
    server.faults.errors[files[0].name] += [429, 503]
    server.faults.retry_after["*"] = 7
    cached = InputCache(str(tmp_path / "c")).fetch(f"{server.url}/{files[0].name}", retry=FAST)
    assert cached.sha256 == _sha(files[0])
    assert waits["backoff"] == []  # the server said how long: no backoff of our own
    assert len(waits["asked"]) == 2 and all(6.5 < w <= 7 for w in waits["asked"])


def test_a_retry_after_too_long_fails_plainly(served, tmp_path: Path) -> None:
    server, files = served
    server.faults.errors[files[0].name] += [503]
    server.faults.retry_after["*"] = 3600
    with pytest.raises(SourceError, match=r"HTTP 503\) and asked to wait 3600 s"):
        InputCache(str(tmp_path / "c")).fetch(f"{server.url}/{files[0].name}", retry=FAST)


def test_retry_after_as_a_date() -> None:
    import datetime as dt

    now = dt.datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt.UTC)
    assert hosts.retry_after({"Retry-After": "Mon, 30 Nov 2026 12:01:30 GMT"}, now=now) == 90
    assert hosts.retry_after({"Retry-After": "120"}) == 120
    assert hosts.retry_after({"Retry-After": "soon"}) is None
    assert hosts.retry_after({}) is None


@pytest.mark.parametrize(("limit", "most"), [(2, 2), (1, 1)])
def test_requests_to_one_host_keep_to_the_limit(
    served, tmp_path: Path, limit: int, most: int
) -> None:
    server, files = served
    server.faults.delay["*"] = 0.3  # so that requests overlap if they may
    policy = RetryPolicy(attempts=1, timeout=10.0, per_host=limit)
    cache = InputCache(str(tmp_path / "c"))
    with ThreadPoolExecutor(len(files)) as pool:
        got = list(pool.map(lambda f: cache.fetch(f"{server.url}/{f.name}", retry=policy), files))
    assert [c.sha256 for c in got] == [_sha(f) for f in files]
    assert server.max_in_flight == most


def test_without_a_tight_limit_requests_overlap(served, tmp_path: Path) -> None:
    # The counterpart of the test above: the server does see requests at once.
    server, files = served
    server.faults.delay["*"] = 0.3
    policy = RetryPolicy(attempts=1, timeout=10.0, per_host=len(files))
    cache = InputCache(str(tmp_path / "c"))
    with ThreadPoolExecutor(len(files)) as pool:
        list(pool.map(lambda f: cache.fetch(f"{server.url}/{f.name}", retry=policy), files))
    assert server.max_in_flight > 2


def test_header_reads_keep_to_the_limit(served) -> None:
    from obstore.store import HTTPStore

    from arcoforge.sources.fastheaders.edges import fetch_edges

    server, files = served
    server.faults.delay["*"] = 0.2
    store = HTTPStore.from_url(server.url, client_options={"allow_http": True})
    found = fetch_edges(store, [f.name for f in files], per_host=2)
    assert [f.size for f in found] == [f.stat().st_size for f in files]  # type: ignore[union-attr]
    assert server.max_in_flight == 2


def test_each_worker_takes_its_share() -> None:
    assert share(8, 1) == 8
    assert share(8, 3) == 2
    assert share(2, 4) == 1  # never below one request


def test_whole_hosts_holds_every_place_of_each_host_until_released() -> None:
    import threading

    urls = ["http://a.example:1/x.nc", "http://a.example:1/y.nc", "http://b.example:2/z.nc"]
    entered = threading.Event()

    def one_request() -> None:
        with hosts.host_slot(urls[2], 3):
            entered.set()

    with hosts.whole_hosts(urls, 3):
        waiting = threading.Thread(target=one_request)
        waiting.start()
        assert not entered.wait(0.2)  # every place of b.example is held
    assert entered.wait(5)
    waiting.join()
    with hosts.host_slot(urls[0], 3):  # and a.example's places were given back
        pass


def test_two_callers_of_whole_hosts_never_wait_on_each_other_for_ever() -> None:
    """Each takes every place in turn; neither is left holding some while the other
    holds the rest (which stopped a resumed run for good)."""
    import sys
    import threading

    urls = ["http://c.example:3/x.nc"]
    start = threading.Barrier(3)
    taken: list[int] = []

    def take_all(n: int) -> None:
        start.wait()
        for _ in range(200):
            with hosts.whole_hosts(urls, 8):
                taken.append(n)

    def one_at_a_time() -> None:
        start.wait()
        for _ in range(400):
            with hosts.host_slot(urls[0], 8):
                pass

    threads = [
        threading.Thread(target=f, args=a, daemon=True)
        for f, a in [(take_all, (1,)), (take_all, (2,)), (one_at_a_time, ())]
    ]
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two acquisitions
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        sys.setswitchinterval(switching)
    assert not any(t.is_alive() for t in threads), "whole_hosts callers deadlocked"
    assert sorted(set(taken)) == [1, 2] and len(taken) == 400
