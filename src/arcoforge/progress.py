"""What ``forge run`` shows: progress bars while it works, a summary at the end."""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable
from types import TracebackType

from dask.utils import format_bytes
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from arcoforge import run


class ProgressDisplay:
    """Two bars: inputs fetched and tasks written, each with its bytes and rate."""

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic):
        self.progress = Progress(
            TextColumn("{task.description:<15}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.fetch: TaskID | None = None
        self.write: TaskID | None = None
        self.clock = clock
        self.started = clock()
        self.write_started: float | None = None

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def update(self, p: run.Progress) -> None:
        """Show ``p``; called from the run's polling thread."""
        now = self.clock()
        if self.fetch is None:
            self.fetch = self.progress.add_task("Fetching inputs", total=p.inputs_total, detail="")
        fetched = format_bytes(p.input_bytes)
        self.progress.update(
            self.fetch,
            completed=p.inputs_done,
            detail=f"files  {fetched:>9}{_rate(p.input_bytes, now - self.started)}",
        )
        if p.tasks_total is None:
            return
        if self.write is None:
            self.write_started = now
            self.write = self.progress.add_task("Writing chunks", total=p.tasks_total, detail="")
        elapsed = now - (self.write_started or now)
        self.progress.update(
            self.write,
            completed=p.tasks_done,
            detail=f"tasks  {format_bytes(p.bytes_done):>9}{_rate(p.bytes_done, elapsed)}",
        )


def _rate(nbytes: int, seconds: float) -> str:
    """``"  12.3 MB/s"``, or nothing while too little time has passed to tell."""
    if seconds < 0.5 or nbytes == 0:
        return ""
    return f"  {format_bytes(int(nbytes / seconds))}/s"


def print_summary(console: Console, result: run.RunResult) -> None:
    """The dataset made: where, how big, how it is laid out, and how to open it."""
    say = functools.partial(console.print, soft_wrap=True)
    where = _shown(result.url)
    if result.up_to_date:
        say(
            f"[bold green]✓[/] {where} is up to date with its {result.inputs} inputs "
            f"(checked in {result.seconds:.1f} s)."
        )
    else:
        rate = result.bytes_written / result.seconds if result.seconds else 0
        say(
            f"[bold green]✓[/] wrote {where} in {result.seconds:.1f} s "
            f"({format_bytes(int(rate))}/s)"
        )
        if result.skipped:
            say(f"  resumed: {result.skipped} of {result.tasks} tasks were already done")
    dims = " × ".join(f"{d} {n}" for d, n in result.sizes.items())
    say(f"  inputs      {result.inputs}")
    say(f"  dimensions  {dims}")
    width = max((len(n) for n in result.variables), default=0)
    for i, (name, v) in enumerate(result.variables.items()):
        label = "variables" if i == 0 else ""
        chunks = " × ".join(map(str, v["chunks"]))
        say(
            f"  {label:<11} {escape(name):<{width}}  {v['dtype']:<8} ({', '.join(v['dims'])})  "
            f"chunks {chunks}"
        )
    ratio = result.nbytes / result.stored_bytes if result.stored_bytes else math.nan
    say(
        f"  size        {format_bytes(result.nbytes)} uncompressed, "
        f"{format_bytes(result.stored_bytes)} stored (Zarr v{result.zarr_format}, "
        f"{result.compression}, ratio {ratio:.1f})"
    )
    say(f"  open with   [bold]import xarray as xr; ds = {escape(result.open_code)}[/]")


def _shown(url: str) -> str:
    """A local path relative to the current folder when it is inside it."""
    if "://" in url:
        return url
    rel = os.path.relpath(url)
    return rel if not rel.startswith("..") else url
