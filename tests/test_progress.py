"""The progress bars: bytes and rates as the run goes."""

import io

from rich.console import Console

from arcoforge import progress
from arcoforge.run import Progress


def _display(clock: list[float]) -> progress.ProgressDisplay:
    return progress.ProgressDisplay(Console(file=io.StringIO()), clock=lambda: clock[0])


def _shown(display: progress.ProgressDisplay) -> list[str]:
    return [task.fields["detail"] for task in display.progress.tasks]


def test_no_rate_until_there_is_time_to_tell() -> None:
    clock = [1000.0]
    display = _display(clock)
    display.update(Progress(1, 4, 2_000_000, 0, 8, 0, 80_000_000))
    assert _shown(display) == ["files   1.91 MiB", "tasks        0 B"]

    clock[0] += 2.0
    display.update(Progress(4, 4, 8_000_000, 2, 8, 20_000_000, 80_000_000))
    fetched, written = _shown(display)
    assert fetched == "files   7.63 MiB  3.81 MiB/s"
    assert written == "tasks  19.07 MiB  9.54 MiB/s"


def test_writing_bar_waits_for_the_plan() -> None:
    display = _display([0.0])
    display.update(Progress(0, 4, 0, 0, None, 0, None))
    assert [t.description for t in display.progress.tasks] == ["Fetching inputs"]


def test_headers_only_counts_files_per_second() -> None:
    clock = [0.0]
    display = progress.ProgressDisplay(
        Console(file=io.StringIO()), clock=lambda: clock[0], headers_only=True
    )
    display.update(Progress(0, 100, 0, 0, None, 0, None))
    clock[0] = 2.0
    display.update(Progress(50, 100, 0, 0, None, 0, None))
    assert [t.description for t in display.progress.tasks] == ["Reading headers"]
    assert _shown(display) == ["files  25 files/s"]
    display.update(Progress(100, 100, 0, 0, 0, 0, 0))  # the end of the run: still no tasks
    assert [t.description for t in display.progress.tasks] == ["Reading headers"]
