"""How far a run has got: read from the run state's markers in the background."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import astuple, dataclass

from arcoforge.pipeline.state import RunState, counted


@dataclass(frozen=True)
class Progress:
    """How far a run has got."""

    inputs_done: int
    inputs_total: int
    input_bytes: int
    tasks_done: int
    tasks_total: int | None
    bytes_done: int
    bytes_total: int | None


class Poller:
    """Reads the run state's markers in the background and reports progress."""

    def __init__(
        self,
        state: RunState,
        run_id: str,
        total: int,
        callback: Callable[[Progress], None],
        *,
        marker: str = "fetched",
    ):
        self.state, self.run_id, self.total, self.callback = state, run_id, total, callback
        self.marker = marker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="forge-progress", daemon=True)
        self._tasks: dict[str, int] | None = None
        self._last: Progress | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self._report(self.poll())
            except Exception:  # progress is best effort; the run's outcome is what counts
                continue

    def _report(self, p: Progress) -> None:
        """Report ``p``, never going backwards (finished runs remove their markers)."""
        if self._last is not None:
            p = Progress(*map(_larger, astuple(p), astuple(self._last)))
        self._last = p
        self.callback(p)

    def finish(self, tasks: int, nbytes: int, *, input_bytes: int | None = None) -> None:
        """Report the end of a successful run (with the bytes fetched, where known)."""
        last = self._last
        fetched = max(input_bytes or 0, last.input_bytes if last else 0)
        self.callback(Progress(self.total, self.total, fetched, tasks, tasks, nbytes, nbytes))

    def poll(self) -> Progress:
        # <key>.<inputs>.<bytes>: the bytes the inputs' headers took (virtual), or their
        # sizes (copies)
        inputs, fetched = counted(self.state.marks(self.marker))
        if self._tasks is None:
            plan = self.state.read_json("plan.json")
            if (
                plan
                and plan.get("run") == self.run_id
                and plan["status"] in ("ready", "up_to_date")
            ):
                self._tasks = plan["tasks"]
        done = self.state.marks("done") if self._tasks is not None else set()
        tasks = self._tasks
        return Progress(
            inputs_done=inputs,
            inputs_total=self.total,
            input_bytes=fetched,
            tasks_done=len(done & tasks.keys()) if tasks is not None else 0,
            tasks_total=len(tasks) if tasks is not None else None,
            bytes_done=sum(tasks[k] for k in done if k in tasks) if tasks is not None else 0,
            bytes_total=sum(tasks.values()) if tasks is not None else None,
        )


def _larger[T: int | None](a: T, b: T) -> T:
    if a is None or b is None:
        return b if a is None else a
    return max(a, b)
