"""Conditional writes on local disk and on a moto S3 server, raced by several processes."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from arcoforge.conditional import Conditional, ConflictError
from arcoforge.errors import TargetError
from arcoforge.location import Location

WRITERS = 8
EACH = 3


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "root")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/root"


def test_create_only_once(root: str) -> None:
    docs = Conditional(Location(root))
    assert docs.read("a.json") is None
    assert docs.create("a.json", b"first")
    assert not docs.create("a.json", b"second")
    found = docs.read("a.json")
    assert found is not None and found.data == b"first"


def test_replace_only_from_the_version_read(root: str) -> None:
    docs = Conditional(Location(root))
    docs.create("a.json", b"1")
    v1 = docs.read("a.json")
    assert v1 is not None
    assert docs.replace("a.json", b"2", v1.version)
    assert not docs.replace("a.json", b"3", v1.version)  # someone wrote in between
    v2 = docs.read("a.json")
    assert v2 is not None and v2.data == b"2" and v2.version != v1.version
    assert not docs.delete("a.json", v1.version)
    assert docs.delete("a.json", v2.version)
    assert docs.read("a.json") is None
    assert not docs.replace("a.json", b"4", v2.version)  # gone: nothing to replace


def test_update_leaves_unchanged_documents_alone(root: str) -> None:
    docs = Conditional(Location(root))
    assert docs.update("a.json", lambda _: None) is None
    assert docs.read("a.json") is None
    assert docs.update("a.json", lambda cur: cur or b"x") == b"x"
    before = docs.read("a.json")
    assert docs.update("a.json", lambda cur: cur) == b"x"
    assert docs.read("a.json") == before


def _append(root: str, writer: int) -> None:
    docs = Conditional(Location(root))
    for i in range(EACH):
        docs.update(
            "list.json",
            lambda cur, i=i: json.dumps([*json.loads(cur or b"[]"), f"{writer}-{i}"]).encode(),
        )


def test_concurrent_updates_lose_nothing(root: str, s3_server: str) -> None:
    ctx = multiprocessing.get_context("spawn")  # fresh filesystem objects in each writer
    writers = [ctx.Process(target=_append, args=(root, w)) for w in range(WRITERS)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(timeout=120)
        assert p.exitcode == 0
    found = Conditional(Location(root)).read("list.json")
    assert found is not None
    entries = json.loads(found.data)
    assert sorted(entries) == sorted(f"{w}-{i}" for w in range(WRITERS) for i in range(EACH))


def test_update_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    docs = Conditional(Location(str(tmp_path)))
    docs.create("a.json", b"0")
    rival = Conditional(Location(str(tmp_path)))

    def change(cur: bytes | None) -> bytes:
        rival.update("a.json", lambda c: str(int(c or b"0") + 1).encode())  # always first
        return b"mine"

    with pytest.raises(ConflictError, match=r"a\.json: could not be updated after 3 attempts"):
        docs.update("a.json", change, attempts=3)


def test_other_stores_are_refused() -> None:
    with pytest.raises(TargetError, match=r"local disk and s3:// only; got 'memory'"):
        Conditional(Location("memory://somewhere"))
