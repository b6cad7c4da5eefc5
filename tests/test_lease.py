"""Leases: one holder at a time, renewed while held, taken over once expired."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from arcoforge.conditional import Conditional
from arcoforge.errors import LeaseHeldError
from arcoforge.lease import Lease
from arcoforge.location import Location


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    if request.param == "local":
        return Location(str(tmp_path / "root"))
    bucket = request.getfixturevalue("s3_bucket")
    return Location(f"s3://{bucket}/root")


def test_one_holder_at_a_time(root: Location) -> None:
    first = Lease(root, "leases/ds.json")
    with first:
        with pytest.raises(LeaseHeldError, match=r"leases/ds\.json: run [0-9a-f]{8} \(process"):
            Lease(root, "leases/ds.json").acquire()
        assert first.holder() is not None and first.holder().owner == first.owner  # type: ignore[union-attr]
    assert first.holder() is None
    with Lease(root, "leases/ds.json") as second:
        assert second.held


def test_a_held_lease_is_renewed_past_its_term(root: Location) -> None:
    with Lease(root, "lease.json", term=0.9) as first:
        time.sleep(2.0)
        assert first.held
        with pytest.raises(LeaseHeldError):
            Lease(root, "lease.json", term=0.9).acquire()


def test_an_expired_lease_is_taken_over(root: Location) -> None:
    stale = {"owner": "0" * 32, "host": "gone", "pid": 1, "started": 0.0, "expires": 1.0}
    Conditional(root).create("lease.json", json.dumps(stale).encode())
    with Lease(root, "lease.json") as taker:
        assert taker.holder() is not None and taker.holder().owner == taker.owner  # type: ignore[union-attr]


def test_waiting_for_the_holder_to_finish(root: Location) -> None:
    first = Lease(root, "lease.json")
    first.acquire()
    threading.Timer(0.5, first.release).start()
    second = Lease(root, "lease.json")
    second.acquire(wait=30)
    try:
        assert second.holder().owner == second.owner  # type: ignore[union-attr]
    finally:
        second.release()


def test_releasing_a_lease_taken_over_leaves_the_new_holder(root: Location) -> None:
    old = Lease(root, "lease.json", term=0.3)
    old.acquire()
    old._stop.set()  # as if frozen: it stops renewing
    time.sleep(0.6)
    new = Lease(root, "lease.json")
    new.acquire()
    old.release()
    assert new.holder() is not None and new.holder().owner == new.owner  # type: ignore[union-attr]
    new.release()


def test_a_second_run_into_the_same_output_is_refused(tmp_path: Path) -> None:
    from arcoforge.demo.dataset import make_sst, write_files
    from tests.helpers import run_folder, write_recipe

    files = write_files(make_sst(days=2, nlat=4, nlon=6), tmp_path / "src")
    folder = write_recipe(
        tmp_path / "tiny",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 1}}},
        },
    )
    out = tmp_path / "out"
    with (
        Lease(Location(str(out)), ".forge/leases/tiny.json"),
        pytest.raises(LeaseHeldError, match=r"tiny\.json: run [0-9a-f]{8} \(process \d+ on "),
    ):
        run_folder(folder, out)
    assert not (out / "tiny.zarr").exists()
    result = run_folder(folder, out)  # the lease was let go: this one runs
    assert result.zarr is not None and not result.zarr.up_to_date
    assert not (out / ".forge" / "leases" / "tiny.json").exists()  # and let go again


def test_a_lease_of_a_killed_process_on_this_machine_is_taken_over_at_once(
    tmp_path: Path,
) -> None:
    import socket
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead = {
        "owner": "1" * 32,
        "host": socket.gethostname(),
        "pid": int(gone.stdout),
        "started": time.time(),
        "expires": time.time() + 3600,
    }
    root = Location(str(tmp_path))
    Conditional(root).create("lease.json", json.dumps(dead).encode())
    with Lease(root, "lease.json") as taker:
        assert taker.holder().owner == taker.owner  # type: ignore[union-attr]
    alive = {**dead, "pid": os.getpid()}  # this very process: alive
    Conditional(root).create("lease.json", json.dumps(alive).encode())
    with pytest.raises(LeaseHeldError):
        Lease(root, "lease.json").acquire()
