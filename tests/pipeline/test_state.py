"""RunState read by one process while others write it, on local disk and moto S3."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from arcoforge.errors import IncompatibleInputsError, SourceNotFoundError
from arcoforge.pipeline.state import RunState


@pytest.fixture(params=["local", "s3"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / ".forge" / "demo")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/.forge/demo"


def _mark(url: str, names: list[str]) -> None:
    state = RunState(url)
    for name in names:
        state.mark("done", name)


def _report(url: str, n: int) -> None:
    RunState(url).report(SourceNotFoundError(f"input {n} is missing"))


def _in_processes(target, args_list: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0


def test_marks_written_by_other_processes_are_seen(state_url: str, s3_server: str) -> None:
    state = RunState(state_url)
    state.mark("done", "t0")
    assert state.marks("done") == {"t0"}  # the listing this process may now have cached
    _in_processes(_mark, [(state_url, ["t1", "t2"]), (state_url, ["t3"])])
    assert state.marks("done") == {"t0", "t1", "t2", "t3"}
    state.remove("done")
    _in_processes(_mark, [(state_url, ["t9"])])
    assert state.marks("done") == {"t9"}


def test_the_first_reported_error_wins(state_url: str, s3_server: str) -> None:
    state = RunState(state_url)
    _in_processes(_report, [(state_url, n) for n in range(4)])
    first = state.error()
    assert isinstance(first, SourceNotFoundError)
    state.report(IncompatibleInputsError("later"))
    assert str(state.error()) == str(first)
    state.clear()
    assert state.error() is None
    assert state.marks("done") == set()


def test_a_local_write_cut_short_leaves_the_old_file_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed while writing its state never leaves a file half written."""
    import os

    state = RunState(str(tmp_path / "state"))
    state.write_json("plan.json", {"hash": "old"})
    state.mark("done", "task-1")
    real = os.replace

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # as a run stopped between writing and renaming

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        state.write_json("plan.json", {"hash": "new"})
    monkeypatch.setattr(os, "replace", real)
    assert state.read_json("plan.json") == {"hash": "old"}
    assert state.marks("done") == {"task-1"}
    # a partial file a killed process could not remove is never taken for a marker
    (tmp_path / "state" / "done" / ".tmp-abc").write_bytes(b"")
    assert state.marks("done") == {"task-1"}
    partial = [p.name for p in (tmp_path / "state").rglob(".tmp-*")]
    assert partial == [".tmp-abc"]  # the cut writes removed theirs
