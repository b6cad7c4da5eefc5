"""``forge test``: run a recipe on its first inputs, open the result, check it and report.

This is what a recipe pull request's CI runs, with no secrets, so it keeps its own
limits (bytes fetched, seconds) and never writes anywhere but a temporary folder.
"""

from __future__ import annotations

import _thread
import math
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from arcoforge.errors import ForgeError, TestRunError
from arcoforge.run import DEFAULT_OUTPUT, Progress, RunOptions, RunResult, run_recipe

Level = Literal["error", "hint"]

#: Chunks outside this range (bytes, uncompressed) read badly: too many requests, or too much.
CHUNK_BYTES_RANGE = (1_000_000, 100_000_000)


@dataclass(frozen=True)
class TestLimits:
    """What a test run may use: the first ``prune`` inputs of each concat dim, bytes, seconds."""

    __test__ = False

    prune: int = 2
    max_bytes: int = 2 * 10**9
    max_seconds: float = 600.0
    workers: int | None = 1


@dataclass(frozen=True)
class Check:
    """One check of the result: passed or not, and what it found."""

    name: str
    ok: bool
    message: str
    level: Level = "error"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "level": self.level, "message": self.message}


@dataclass
class TestReport:
    """Everything a test run found, for people (Markdown) and for the bot (JSON)."""

    __test__ = False

    recipe: str
    path: str
    prune: int
    #: False when only lint ran (``forge test --lint-only``)
    ran: bool = True
    error: str | None = None
    inputs: int = 0
    dims: dict[str, int] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    nbytes: int = 0
    bytes_fetched: int = 0
    time_range: list[str] | None = None
    outputs: list[dict[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    lint: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Passed: it ran, every error-level check passed, and lint found no errors."""
        lint_ok = self.lint is None or bool(self.lint.get("ok", True))
        checks_ok = all(c.ok for c in self.checks if c.level == "error")
        return self.error is None and checks_ok and lint_ok

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "arcoforge-test-report",
            "version": 1,
            "recipe": self.recipe,
            "path": self.path,
            "ok": self.ok,
            "ran": self.ran,
            "error": self.error,
            "prune": self.prune,
            "inputs": self.inputs,
            "dims": self.dims,
            "variables": self.variables,
            "nbytes": self.nbytes,
            "bytes_fetched": self.bytes_fetched,
            "time_range": self.time_range,
            "outputs": self.outputs,
            "checks": [c.to_json() for c in self.checks],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "lint": self.lint,
        }

    def to_markdown(self) -> str:
        """The report as Markdown, as the bot's comment shows it."""
        from arcoforge.bot.markdown import test_report_markdown

        return test_report_markdown(self.to_json())


class _Watchdog:
    """Stops a run that goes over its limits, by interrupting the main thread."""

    def __init__(self, limits: TestLimits):
        self.limits = limits
        self.start = time.monotonic()
        self.fetched = 0
        self.exceeded: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="forge-test-limits", daemon=True)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def progress(self, p: Progress) -> None:
        self.fetched = max(self.fetched, p.input_bytes)
        if self.fetched > self.limits.max_bytes:
            self._trip(
                f"the run fetched {self.fetched:,} bytes, more than the limit of "
                f"{self.limits.max_bytes:,}. Test with fewer inputs (--prune) or a larger "
                "--max-bytes."
            )

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            elapsed = time.monotonic() - self.start
            if elapsed > self.limits.max_seconds:
                self._trip(
                    f"the run took more than the limit of {self.limits.max_seconds:g} seconds. "
                    "Test with fewer inputs (--prune) or a larger --max-seconds."
                )
                return

    def _trip(self, reason: str) -> None:
        if self.exceeded is None:
            self.exceeded = reason
            _thread.interrupt_main()


def run_test(
    folder: str | Path,
    limits: TestLimits = TestLimits(),
    *,
    lint: bool = True,
    run: bool = True,
    changed_from: str | None = None,
) -> TestReport:
    """Run the recipe in ``folder`` on its first inputs into a temporary root and check it.

    ``run=False`` only lints; ``changed_from`` (a git ref) lets lint check which files a
    pull request changes. Never raises for a bad recipe: the report says what went wrong.
    """
    from arcoforge.recipe import load_recipe

    folder = Path(folder)
    report = TestReport(recipe=folder.resolve().name, path=str(folder), prune=limits.prune)
    started = time.monotonic()
    if lint or not run:
        report.lint = lint_summary(folder, changed_from=changed_from)
    if not run:
        report.ran = False
        report.timings["total"] = time.monotonic() - started
        return report
    try:
        recipe = load_recipe(folder, sandbox=True)  # recipe.py only in a limited child
    except ForgeError as e:
        report.error = str(e)
        report.timings["total"] = time.monotonic() - started
        return report
    report.recipe = recipe.id
    with tempfile.TemporaryDirectory(prefix="forge-test-") as root:
        try:
            result = _run_within_limits(recipe, root, limits, report)
        except ForgeError as e:
            report.error = str(e)
        else:
            _describe(report, result, root)
            checked = time.monotonic()
            dims = [d.name for d in recipe.pattern.concat_dims]
            report.checks, report.time_range = check_outputs(result, dims)
            report.timings["open_and_check"] = time.monotonic() - checked
    report.timings["total"] = time.monotonic() - started
    return report


def _run_within_limits(recipe: Any, root: str, limits: TestLimits, report: TestReport) -> Any:
    # A test run is an untrusted run: public sources only, no credentials.
    options = RunOptions(output=root, prune=limits.prune, workers=limits.workers, untrusted=True)
    ran = time.monotonic()
    try:
        return run_capped(recipe, options, limits, report=report)
    finally:
        report.timings["run"] = time.monotonic() - ran


def run_capped(
    recipe: Any,
    options: RunOptions,
    limits: TestLimits = TestLimits(),
    *,
    report: TestReport | None = None,
) -> RunResult:
    """Run ``recipe`` stopped at ``limits``' bytes fetched and seconds (untrusted runs)."""
    with _Watchdog(limits) as watchdog:
        try:
            result = run_recipe(recipe, options, on_progress=watchdog.progress)
        except KeyboardInterrupt:
            if watchdog.exceeded is None:
                raise  # the person pressed Ctrl-C
            raise TestRunError(f"{recipe.id}: stopped: {watchdog.exceeded}") from None
        finally:
            if report is not None:
                report.bytes_fetched = watchdog.fetched
    if watchdog.exceeded is not None:  # tripped as the run ended
        raise TestRunError(f"{recipe.id}: stopped: {watchdog.exceeded}")
    return result


def _describe(report: TestReport, result: RunResult, root: str) -> None:
    report.inputs = result.inputs
    report.dims = dict(result.sizes)
    report.nbytes = result.nbytes
    for name, var in result.variables.items():
        entry = {k: var[k] for k in ("dims", "dtype", "chunks", "coord") if k in var}
        entry["chunk_bytes"] = chunk_bytes(var)
        report.variables[name] = entry
    for output in result.outputs:
        code = output.open_code.replace(root, DEFAULT_OUTPUT)
        report.outputs.append({"kind": output.kind, "open": code, "url": output.url})


def chunk_bytes(var: dict[str, Any]) -> int | None:
    """Uncompressed bytes of one chunk of a variable, from its dtype and chunk shape."""
    chunks = var.get("chunks")
    if not chunks:
        return None
    try:
        itemsize = np.dtype(var["dtype"]).itemsize
    except TypeError:
        return None
    return int(math.prod(int(c) for c in chunks) * itemsize)


def check_outputs(
    result: RunResult, concat_dims: list[str]
) -> tuple[list[Check], list[str] | None]:
    """Open every output of ``result`` and check it: the checks, and the time range found."""
    from arcoforge.open import open_dataset

    checks: list[Check] = []
    time_range: list[str] | None = None
    for output in result.outputs:
        try:
            ds = open_dataset(output.url)
        except Exception as e:  # whatever stops it opening is the finding
            checks.append(Check(f"{output.kind}: opens", False, f"{type(e).__name__}: {e}"))
            continue
        with ds:
            checks.append(Check(f"{output.kind}: opens", True, "opened with xarray"))
            checks += [
                Check(f"{output.kind}: {c.name}", c.ok, c.message, c.level)
                for c in check_dataset(ds, result, concat_dims)
            ]
            if time_range is None and "time" in ds.coords and ds.sizes.get("time"):
                time_range = [_instant(ds.time.values[0]), _instant(ds.time.values[-1])]
    return checks, time_range


def _instant(value: Any) -> str:
    """A time value as people read it: ISO 8601 to the second (cftime dates as they print)."""
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    return str(value)


def check_dataset(ds: Any, result: RunResult, concat_dims: list[str]) -> list[Check]:
    """The checks of one opened dataset against what the run says it wrote."""
    return [
        _check_dims(ds, result, concat_dims),
        _check_dtypes(ds, result),
        *(_check_monotonic(ds, d) for d in concat_dims if d in ds.coords),
        _check_missing(ds),
        _check_chunks(result),
    ]


def _check_dims(ds: Any, result: RunResult, concat_dims: list[str]) -> Check:
    sizes = {str(k): int(v) for k, v in ds.sizes.items()}
    missing = [d for d in concat_dims if d not in sizes]
    if missing:
        return Check("dims", False, f"expected concat dims {missing} in the result. Got {sizes}.")
    if sizes != result.sizes:
        return Check("dims", False, f"expected dims {result.sizes}. Got {sizes} when opened.")
    return Check("dims", True, ", ".join(f"{k}={v}" for k, v in sizes.items()))


def _check_dtypes(ds: Any, result: RunResult) -> Check:
    wrong = []
    for name, var in result.variables.items():
        if var.get("coord") or name not in ds.data_vars:
            continue
        found = str(ds[name].dtype)
        if found != var["dtype"]:
            wrong.append(f"{name}: expected {var['dtype']}, got {found}")
        elif ds[name].dtype.kind not in "biufcmM":
            wrong.append(f"{name}: {found} is not numeric; drop or convert it")
    if wrong:
        return Check("dtypes", False, "; ".join(wrong))
    return Check("dtypes", True, f"{len(ds.data_vars)} variables as planned")


def _check_monotonic(ds: Any, dim: str) -> Check:
    index = ds.indexes[dim]
    if index.is_monotonic_increasing and index.is_unique:
        return Check(f"{dim} increasing", True, f"{len(index)} values, strictly increasing")
    values = list(index)
    bad = next((i for i in range(1, len(values)) if not values[i] > values[i - 1]), len(values) - 1)
    return Check(
        f"{dim} increasing",
        False,
        f"expected strictly increasing {dim} values. Got {values[bad - 1]} then {values[bad]} "
        f"at positions {bad - 1} and {bad}: check the order of the inputs and their {dim} units.",
    )


def _check_missing(ds: Any) -> Check:
    empty = [str(n) for n, v in ds.data_vars.items() if v.size and bool(v.isnull().all())]
    if empty:
        return Check(
            "no empty variables",
            False,
            f"variables {empty} hold only missing values in the tested inputs: check the "
            "inputs' _FillValue, scale_factor and the URLs.",
        )
    return Check("no empty variables", True, f"{len(ds.data_vars)} variables hold values")


def _check_chunks(result: RunResult) -> Check:
    low, high = CHUNK_BYTES_RANGE
    far = []
    for name, var in result.variables.items():
        size = chunk_bytes(var)
        if var.get("coord") or size is None:
            continue
        if not low <= size <= high:
            far.append(f"{name}: {size / 1e6:.3g} MB")
    if far:
        return Check(
            "chunk sizes",
            False,
            f"chunks far from 1–100 MB ({'; '.join(far)}); set outputs.zarr.chunks or "
            "chunk_size in recipe.yaml, unless the whole dataset is that small.",
            level="hint",
        )
    return Check("chunk sizes", True, "every chunk between 1 and 100 MB", level="hint")


def lint_summary(folder: Path, *, changed_from: str | None = None) -> dict[str, Any] | None:
    """The linter's findings on ``folder`` as plain data for the report (None without a linter)."""
    try:
        from arcoforge.lint import lint_paths
    except ImportError:  # an install without the linter: the report has no lint part
        return None
    report = lint_paths([folder], changed_from=changed_from)
    return {
        "ok": bool(report.ok),
        "findings": [
            {
                "code": f.code,
                "level": f.level,
                "path": str(f.path),
                "line": f.line,
                "message": f.message,
            }
            for f in report.findings
        ],
    }
