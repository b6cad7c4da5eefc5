"""Edges fetched by a child process: in order, errors named, a lost child restarted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from arcoforge.demo.server import SourceServer
from arcoforge.errors import PipelineError, SourceAccessError, SourceNotFoundError
from arcoforge.sources.fastheaders.edges import EDGE_BYTES, RangeFile
from arcoforge.sources.fastheaders.prefetch import EdgePrefetcher, SharedPrefetcher
from arcoforge.sources.retry import RetryPolicy

QUICK = RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.01, timeout=10)


@pytest.fixture
def feed() -> Iterator[EdgePrefetcher]:
    f = EdgePrefetcher({}, QUICK)
    yield f
    f.close()


def _files(root: Path, sizes: dict[str, int]) -> dict[str, bytes]:
    out = {}
    for k, (name, size) in enumerate(sizes.items()):
        data = np.random.default_rng(k).integers(0, 255, size, dtype=np.uint8).tobytes()
        (root / name).write_bytes(data)
        out[name] = data
    return out


def test_edges_come_in_order_and_errors_name_their_url(
    http_server: SourceServer, feed: EdgePrefetcher, tmp_path: Path
) -> None:
    data = _files(http_server.root, {"big.nc": 5 * EDGE_BYTES, "small.nc": 100, "locked.nc": 10})
    http_server.faults.status["locked.nc"] = 403
    local = tmp_path / "local.nc"
    local.write_bytes(data["big.nc"])
    names = ["big.nc", "gone.nc", "small.nc", "locked.nc"]
    urls = [f"{http_server.url}/{n}" for n in names] + [local.as_uri()]
    big, gone, small, locked, here = list(feed.fetch(urls))

    assert isinstance(big, RangeFile) and big.size == len(data["big.nc"])
    assert big.pieces == {
        0: data["big.nc"][:EDGE_BYTES],
        4 * EDGE_BYTES: data["big.nc"][-EDGE_BYTES:],
    }
    assert isinstance(small, RangeFile) and small.read() == data["small.nc"]
    assert isinstance(here, RangeFile) and here.pieces == big.pieces
    assert isinstance(gone, SourceNotFoundError)
    assert str(gone) == f"{urls[1]}: not found (404)."
    assert isinstance(locked, SourceAccessError) and str(locked).startswith(urls[3])

    # the same child answers the next call; a miss is fetched by this process
    pid = feed._proc.pid if feed._proc else None
    (again,) = feed.fetch(urls[:1])
    assert feed._proc is not None and feed._proc.pid == pid
    assert isinstance(again, RangeFile)
    assert again.pread(2 * EDGE_BYTES + 5, 10) == data["big.nc"][2 * EDGE_BYTES + 5 :][:10]
    assert again.fetches == 1


def test_a_call_left_midway_does_not_leak_into_the_next(
    http_server: SourceServer, feed: EdgePrefetcher
) -> None:
    data = _files(http_server.root, {f"{k}.nc": 1000 + k for k in range(6)})
    urls = [f"{http_server.url}/{n}" for n in data]
    first = feed.fetch(urls[:4])
    assert next(first).size == 1000  # type: ignore[union-attr]
    # two frames of the first call are still on their way: the child is replaced
    found = list(feed.fetch(urls[4:]))
    assert [f.size for f in found] == [1004, 1005]  # type: ignore[union-attr]
    unread = feed.fetch(urls[:2])  # never read at all
    del unread
    assert [f.size for f in feed.fetch(urls[2:3])] == [1002]  # type: ignore[union-attr]


def test_a_child_lost_during_a_call_is_a_clear_error(
    http_server: SourceServer, feed: EdgePrefetcher
) -> None:
    _files(http_server.root, {"a.nc": 10, "slow.nc": 10})
    url, slow = f"{http_server.url}/a.nc", f"{http_server.url}/slow.nc"
    assert [f.size for f in feed.fetch([url])] == [10]  # type: ignore[union-attr]
    http_server.faults.delay["slow.nc"] = 5.0
    waiting = feed.fetch([slow])
    assert feed._proc is not None
    feed._proc.kill()
    with pytest.raises(PipelineError, match=r"headers stopped \(exit status -9\)"):
        list(waiting)
    # the next call starts another child; one found dead between calls is replaced too
    assert [f.size for f in feed.fetch([url])] == [10]  # type: ignore[union-attr]
    feed._proc.kill()
    feed._proc.wait()
    assert [f.size for f in feed.fetch([url])] == [10]  # type: ignore[union-attr]


def test_close_stops_the_child(http_server: SourceServer) -> None:
    _files(http_server.root, {"a.nc": 10})
    feed = EdgePrefetcher({}, QUICK)
    list(feed.fetch([f"{http_server.url}/a.nc"]))
    proc = feed._proc
    assert proc is not None and proc.poll() is None
    feed.close()
    assert proc.poll() == 0


def test_the_child_imports_nothing_heavy() -> None:
    """It starts at every run: pandas, xarray, h5py or Beam would cost it about 0.6 s."""
    import subprocess
    import sys

    code = (
        "import sys, arcoforge.sources.fastheaders.prefetch; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pandas', 'xarray', 'h5py', 'apache_beam', 'fsspec', 'zarr', 'numpy'}))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"


def test_a_warmed_child_serves_the_first_batch_of_its_settings(
    http_server: SourceServer,
) -> None:
    data = _files(http_server.root, {"a.nc": 100})
    shared = SharedPrefetcher()
    shared.warm({}, QUICK)  # started before anyone asks: it boots meanwhile
    with shared.lent({}, QUICK) as feed:
        started = feed._proc
        assert started is not None and started.poll() is None
        (edges,) = feed.fetch([f"{http_server.url}/a.nc"])
        assert isinstance(edges, RangeFile) and edges.read() == data["a.nc"]
        assert feed._proc is started  # the warmed child answered
    other = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01, timeout=10)
    with shared.lent({}, other) as feed:  # other settings: another child
        assert feed._proc is None
    assert started.wait(10) is not None  # the first one was stopped
