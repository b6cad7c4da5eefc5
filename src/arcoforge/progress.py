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
    """Two bars: inputs fetched and tasks written, each with its bytes and rate.

    With ``headers_only`` (a virtual dataset alone) the first bar counts the inputs
    whose headers were read where they lie, and their rate in files per second.
    """

    def __init__(
        self,
        console: Console,
        clock: Callable[[], float] = time.monotonic,
        *,
        headers_only: bool = False,
    ):
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
        self.headers_only = headers_only
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
            label = "Reading headers" if self.headers_only else "Fetching inputs"
            self.fetch = self.progress.add_task(label, total=p.inputs_total, detail="")
        elapsed = now - self.started
        if self.headers_only:
            rate = f"  {p.inputs_done / elapsed:.0f} files/s" if elapsed >= 0.5 else ""
            detail = f"files{rate}"
        else:
            detail = f"files  {format_bytes(p.input_bytes):>9}{_rate(p.input_bytes, elapsed)}"
        self.progress.update(self.fetch, completed=p.inputs_done, detail=detail)
        if p.tasks_total is None or self.headers_only:  # nothing is written chunk by chunk
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
    """The dataset made: where, how big, how it is laid out, and how to open each output."""
    say = functools.partial(console.print, soft_wrap=True)
    for output in result.outputs:
        say(_headline(output, result))
        if isinstance(output, run.ZarrResult) and output.skipped:
            say(f"  resumed: {output.skipped} of {output.tasks} tasks were already done")
        if output.appended:
            say(f"  appended    {output.appended} new inputs (forge run --update)")
        if output.filled:
            say(f"  filled      {output.filled} inputs skipped before (forge run --update)")
    dims = " × ".join(f"{d} {n}" for d, n in result.sizes.items())
    known = result.manifest.get("bytes")
    sized = f" ({format_bytes(known)} at their sources)" if known else ""
    say(f"  inputs      {result.inputs}{sized}")
    if result.missing:
        shown = ", ".join(escape(e["url"]) for e in result.missing[:5])
        more = f" and {len(result.missing) - 5} more" if len(result.missing) > 5 else ""
        count = len(result.missing)
        say(f"  [yellow]missing[/]     {count} left out (on_missing: skip): {shown}{more}")
    say(f"  dimensions  {dims}")
    width = max((len(n) for n in result.variables), default=0)
    for i, (name, v) in enumerate(result.variables.items()):
        label = "variables" if i == 0 else ""
        chunks = " × ".join(map(str, v["chunks"]))
        say(
            f"  {label:<11} {escape(name):<{width}}  {v['dtype']:<8} ({', '.join(v['dims'])})  "
            f"chunks {chunks}"
        )
    for output in result.outputs:
        say(f"  size        {_size(output, result.nbytes)}")
    for i, output in enumerate(result.outputs):
        label = "open with" if i == 0 else ""
        imports = "import xarray as xr"
        if isinstance(output, run.ReferencesResult) and output.format != "json":
            imports = "import arcoforge"
        say(f"  {label:<11} [bold]{imports}; ds = {escape(output.open_code)}[/]")


def _headline(output: run.Output, result: run.RunResult) -> str:
    where = _shown(output.url)
    if output.up_to_date:
        return (
            f"[bold green]✓[/] {where} is up to date with its {result.inputs} inputs "
            f"(checked against their sources in {result.seconds:.1f} s)."
        )
    if isinstance(output, run.ZarrResult):
        rate = output.bytes_written / result.seconds if result.seconds else 0
        return (
            f"[bold green]✓[/] wrote {where} in {result.seconds:.1f} s "
            f"({format_bytes(int(rate))}/s)"
        )
    rate = result.inputs / result.seconds if result.seconds else 0
    chunks = output.chunks or {}
    written = chunks.get("written", 0)
    if written:  # Icechunk: inputs that could not be referenced were copied
        return (
            f"[bold green]✓[/] wrote {where} in {result.seconds:.1f} s: "
            f"{chunks['virtual']:,} virtual chunks into {result.inputs} inputs and "
            f"{written:,} chunks written from the inputs that could not be referenced"
        )
    return (
        f"[bold green]✓[/] wrote {where} in {result.seconds:.1f} s: {output.references:,} "
        f"references into {result.inputs} inputs ({rate:.1f} files/s), nothing copied"
    )


def _size(output: run.Output, nbytes: int) -> str:
    if isinstance(output, run.ZarrResult):
        ratio = nbytes / output.stored_bytes if output.stored_bytes else math.nan
        return (
            f"{format_bytes(nbytes)} uncompressed, {format_bytes(output.stored_bytes)} stored "
            f"(Zarr v{output.zarr_format}, {output.compression}, ratio {ratio:.1f})"
        )
    kind = {"json": "Kerchunk JSON", "parquet": "Kerchunk Parquet", "icechunk": "Icechunk"}
    return (
        f"{format_bytes(nbytes)} referenced in place, "
        f"{format_bytes(output.stored_bytes)} of {kind[output.format]} references"
    )


def _shown(url: str) -> str:
    """A local path relative to the current folder when it is inside it."""
    if "://" in url:
        return url
    rel = os.path.relpath(url)
    return rel if not rel.startswith("..") else url
