"""The next block read while the one before is written: in order, within the memory's
task slots, errors told where they arose, nothing left open or counted."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from arcoforge.pipeline.ahead import ReadAhead
from arcoforge.pipeline.slots import SLOTS


def _items(n: int, log: list[tuple[int, str]], closed: list[bool]) -> Iterator[int]:
    """0 … n-1, each logged with the thread that made it; ``closed`` says it was closed."""
    try:
        for k in range(n):
            log.append((k, threading.current_thread().name))
            yield k
    finally:
        closed.append(True)


def test_items_after_the_first_are_read_ahead_in_order() -> None:
    log: list[tuple[int, str]] = []
    closed: list[bool] = []
    with ReadAhead(_items(5, log, closed), limit=2) as ahead, SLOTS.hold(2):
        taken = list(ahead)
    assert taken == [0, 1, 2, 3, 4]
    assert [k for k, _ in log] == taken
    assert log[0][1] == threading.current_thread().name
    assert all(name.startswith("arcoforge-ahead") for _, name in log[1:])
    assert closed and SLOTS.active == 0


def test_once_started_the_first_item_is_read_ahead_too() -> None:
    log: list[tuple[int, str]] = []
    with SLOTS.hold(2), ReadAhead(_items(3, log, []), limit=2) as ahead:
        ahead.start()
        ahead.start()  # one item is read ahead at a time
        assert list(ahead) == [0, 1, 2]
    assert all(name.startswith("arcoforge-ahead") for _, name in log)
    assert SLOTS.active == 0


def test_nothing_is_read_ahead_where_the_memory_holds_no_more_tasks() -> None:
    """The caller's task takes the only slot: every item is read when asked for."""
    log: list[tuple[int, str]] = []
    with ReadAhead(_items(4, log, []), limit=1) as ahead, SLOTS.hold(1):
        assert list(ahead) == [0, 1, 2, 3]
    assert {name for _, name in log} == {threading.current_thread().name}
    assert SLOTS.active == 0


def test_an_item_read_ahead_counts_as_a_task_until_it_is_taken() -> None:
    read = threading.Event()

    def items() -> Iterator[int]:
        yield 0
        read.set()
        yield 1

    with ReadAhead(items(), limit=3) as ahead, SLOTS.hold(3):
        assert next(ahead) == 0
        assert read.wait(5)
        assert SLOTS.active == 2  # the caller's task, and the item read ahead
        assert next(ahead) == 1
        assert SLOTS.active == 2  # the caller's, and the end of the items being read
    assert SLOTS.active == 0


def test_an_error_reading_ahead_is_raised_where_its_item_is_taken() -> None:
    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise OSError("the source went away")

    with ReadAhead(items(), limit=2) as ahead:
        assert next(ahead) == 0
        assert next(ahead) == 1
        with pytest.raises(OSError, match="went away"):
            next(ahead)
    assert SLOTS.active == 0


def test_leaving_midway_waits_for_the_item_being_read_and_closes_the_items() -> None:
    """As when a write fails: the items' generator closes what it opened."""
    log: list[tuple[int, str]] = []
    closed: list[bool] = []
    with (
        pytest.raises(RuntimeError, match="write failed"),
        ReadAhead(_items(10, log, closed), limit=2) as ahead,
    ):
        next(ahead)
        raise RuntimeError("write failed")
    assert closed == [True]
    assert len(log) <= 2  # the item taken and the one read ahead, no more
    assert SLOTS.active == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("arcoforge-ahead")]
