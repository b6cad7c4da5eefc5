"""The copy benchmark: ``forge run`` against ``xr.open_mfdataset(...).to_zarr()``, side by side.

Usage: ``python bench/copy_benchmark.py [--sizes 1,4] [--kinds raw,zlib] [--work bench/work]
[--repeat 1] [--quick | --files N]``; see bench/README.md.

For each size and kind of source files it serves daily NetCDF files over
loopback HTTP (``python -m arcoforge.demo.server``, a process of its own), then
runs each contender as a separate process, one after the other, measuring its
wall time and the peak memory (PSS and RSS) of its whole process tree. Every output is compared
with its sources afterwards (not timed). Results go to
``bench/results/copy-<date>T<HHMM>.md`` and ``.json``, and the tables to stdout.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from workloads import GENERATOR_VERSION, START, TIME_CHUNK, VARIABLE, file_name

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

PY = sys.executable
FORGE = str(Path(PY).parent / "forge")
WORKLOADS = str(HERE / "workloads.py")
#: Daily files of 721 x 1440 float32 per GiB of data (259 x 4,152,960 bytes = 1.0018 GiB).
FILES_PER_GIB = 259
FULL_GRID = (721, 1440)
QUICK = (20, 180, 360)
MAX_FILES_OPTION = 30
#: RSS is cheap to read (``/proc/PID/statm``); PSS makes the kernel walk every page table
#: (5-8 ms per 300 MB process), so it is sampled less often to keep the harness from taking
#: a noticeable share of the 2 cores from the contender it measures.
SAMPLE_S = 0.05
PSS_S = 0.5
PROBE_S = 0.25
CORES = os.cpu_count() or 1
PACKAGES = [
    "arcoforge",
    "apache-beam",
    "xarray",
    "zarr",
    "numcodecs",
    "dask",
    "distributed",
    "h5netcdf",
    "h5py",
    "fsspec",
    "aiohttp",
    "numpy",
    "pandas",
    "psutil",
]
COPIES = ["forge", "forge-cache", "xarray", "xarray-default"]
FLOORS = ["http", "decode-1", f"decode-{CORES}", "codec"]


# ---------------------------------------------------------------------------
# Processes: start, sample, stop
# ---------------------------------------------------------------------------

_LIVE: set[subprocess.Popen[Any]] = set()


def _stop_group(proc: subprocess.Popen[Any], extra: Sequence[psutil.Process] = ()) -> None:
    """Stop a process started in its own session, everything in its group, and ``extra``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        for p in extra:
            with contextlib.suppress(psutil.Error):
                if p.is_running():
                    p.send_signal(sig)
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + 5
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _stop_all() -> None:
    for proc in list(_LIVE):
        _stop_group(proc)
        _LIVE.discard(proc)


def _on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


@dataclass
class Measured:
    """One process run, measured from outside."""

    cmd: list[str]
    returncode: int | None
    wall_s: float
    peak_rss: int
    peak_pss: int
    cpu_s: float
    timed_out: bool
    stdout: str
    stderr_tail: str
    series: list[tuple[float, int, dict[str, int]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def error(self) -> str:
        if self.timed_out:
            return f"timed out after {self.wall_s:.0f} s"
        last = [line for line in self.stderr_tail.splitlines() if line.strip()]
        return f"exit {self.returncode}: {last[-1] if last else 'no message'}"[:300]

    def result(self) -> dict[str, Any]:
        """The ``RESULT {json}`` line a workload printed, or forge's JSON line."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("RESULT "):
                return json.loads(line[7:])
            if line.startswith("{"):
                return json.loads(line)
        raise ValueError("the process printed no result")


class _Tree:
    """The memory of a process and all its descendants, found afresh at each sample."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.seen: dict[int, psutil.Process] = {pid: self.root}

    def memory(self, *, pss: bool) -> tuple[int, int]:
        """RSS and (if ``pss``) PSS summed over the tree; PSS splits shared pages."""
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return 0, 0
        rss_sum = pss_sum = 0
        for p in procs:
            p = self.seen.setdefault(p.pid, p)
            with contextlib.suppress(psutil.Error):
                if pss:
                    info = p.memory_full_info()
                    rss_sum += info.rss
                    pss_sum += info.pss
                else:
                    rss_sum += p.memory_info().rss
        return rss_sum, pss_sum


def measure(
    cmd: list[str],
    log_dir: Path,
    *,
    timeout: float,
    probes: dict[str, Callable[[], int]] | None = None,
) -> Measured:
    """Run ``cmd`` in its own session; sample its tree's memory until it ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "command.txt").write_text(shlex.join(cmd) + "\n")
    probes = probes or {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_dir / "stdout.txt", "wb") as out, open(log_dir / "stderr.txt", "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, cwd=REPO, start_new_session=True, stdin=subprocess.DEVNULL
        )
        _LIVE.add(proc)
        ended: list[float] = []

        def wait() -> None:
            proc.wait()
            ended.append(time.monotonic())

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        tree = _Tree(proc.pid)
        peak, peak_pss, timed_out, next_probe, next_pss = 0, 0, False, 0.0, 0.0
        series: list[tuple[float, int, dict[str, int]]] = []
        try:
            while not ended:
                now = time.monotonic() - start
                if now > timeout:
                    timed_out = True
                    break
                with_pss = now >= next_pss
                rss, pss = tree.memory(pss=with_pss)
                peak, peak_pss = max(peak, rss), max(peak_pss, pss)
                if with_pss:
                    next_pss = now + PSS_S
                if now >= next_probe:
                    series.append((round(now, 2), rss, _probe(probes)))
                    next_probe += PROBE_S
                time.sleep(SAMPLE_S)
        finally:
            _stop_group(proc, list(tree.seen.values()))
            _LIVE.discard(proc)
            waiter.join(timeout=10)
        wall = (ended[0] if ended else time.monotonic()) - start
        series.append((round(wall, 2), 0, _probe(probes)))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stderr = (log_dir / "stderr.txt").read_bytes()[-4000:].decode(errors="replace")
    return Measured(
        cmd=cmd,
        returncode=proc.returncode,
        wall_s=wall,
        peak_rss=peak,
        peak_pss=peak_pss,
        cpu_s=cpu,
        timed_out=timed_out,
        stdout=(log_dir / "stdout.txt").read_text(errors="replace"),
        stderr_tail=stderr,
        series=series,
    )


def _probe(probes: dict[str, Callable[[], int]]) -> dict[str, int]:
    counts = {}
    for name, fn in probes.items():
        try:
            counts[name] = fn()
        except OSError:
            counts[name] = 0
    return counts


def count_opened(folder: Path) -> int:
    """Inputs a run's progress markers in ``folder`` stand for (``<key>.<inputs>.<bytes>``)."""
    if not folder.is_dir():
        return 0
    names = [n for n in os.listdir(folder) if not n.startswith(".tmp-")]
    return sum(int(n.rsplit(".", 2)[1]) for n in names if n.count(".") >= 2)


def count_files(folder: Path, suffix: str = "") -> int:
    """Files under ``folder`` (recursively) whose names end with ``suffix``."""
    if not folder.exists():
        return 0
    return sum(
        1
        for _, _, names in os.walk(folder)
        for n in names
        if n.endswith(suffix) and "part" not in n
    )


def phases(series: list[tuple[float, int, dict[str, int]]]) -> dict[str, list[float]]:
    """For each probe: when its count first rose above 0 and when it reached its final value."""
    out: dict[str, list[float]] = {}
    if not series:
        return out
    for name, final in series[-1][2].items():
        if final <= 0:
            continue
        first = next(t for t, _, c in series if c.get(name, 0) > 0)
        last = next(t for t, _, c in series if c.get(name, 0) >= final)
        out[name] = [first, last]
    return out


def du(path: Path) -> int:
    """Bytes of the files under ``path``."""
    total = 0
    for folder, _, names in os.walk(path):
        for n in names:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(folder, n))
    return total


class Server:
    """``python -m arcoforge.demo.server ROOT`` in a process of its own."""

    def __init__(self, root: Path, log: Path):
        self.log = open(log, "wb")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            [PY, "-m", "arcoforge.demo.server", str(root)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            start_new_session=True,
            text=True,
        )
        _LIVE.add(self.proc)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the source server did not start; see {log}")

    def stop(self) -> None:
        _stop_group(self.proc)
        _LIVE.discard(self.proc)
        self.log.close()


# ---------------------------------------------------------------------------
# Sizes, sources and contenders
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    key: str
    label: str
    files: int
    nlat: int
    nlon: int

    @property
    def data_bytes(self) -> int:
        return self.files * self.nlat * self.nlon * 4

    @property
    def gib(self) -> float:
        return self.data_bytes / 2**30

    def describe(self) -> str:
        return f"{self.files} daily files of {self.nlat}×{self.nlon} float32"


def sizes_from(args: argparse.Namespace) -> list[Size]:
    if args.quick:
        n, nlat, nlon = QUICK
        return [Size("quick", "quick", n, nlat, nlon)]
    if args.files is not None:
        return [Size(f"files{args.files}", f"{args.files} files", args.files, *FULL_GRID)]
    out = []
    for text in args.sizes.split(","):
        gib = float(text)
        n = max(1, round(gib * FILES_PER_GIB))
        label = f"{gib:g} GiB"
        out.append(Size(f"{gib:g}gib", label, n, *FULL_GRID))
    return out


def source_dir(work: Path, kind: str, nlat: int, nlon: int) -> Path:
    """The cached source files of a kind and grid (a size uses the first N days)."""
    return work / "sources" / f"{kind}-{nlat}x{nlon}-g{GENERATOR_VERSION}"


def ensure_sources(work: Path, kind: str, size: Size, days: int, logs: Path) -> Path:
    """Write the ``days`` first files of ``kind`` that are not cached yet."""
    folder = source_dir(work, kind, size.nlat, size.nlon)
    missing = sum(1 for d in range(days) if not (folder / file_name(d)).exists())
    if missing:
        say(f"generating {missing} {kind} files of {size.nlat}×{size.nlon} in {folder} ...")
        t0 = time.monotonic()
        cmd = [PY, WORKLOADS, "generate", "--dir", str(folder), "--kind", kind]
        cmd += ["--grid", f"{size.nlat}x{size.nlon}", "--days", str(days)]
        run = measure(cmd, logs / f"generate-{kind}-{size.nlat}x{size.nlon}", timeout=7200)
        if not run.ok:
            raise RuntimeError(f"generating sources failed: {run.error()}")
        say(f"  done in {time.monotonic() - t0:.0f} s")
    return folder


@dataclass
class Case:
    """One size and kind: its files, where they are served, where its runs go."""

    size: Size
    kind: str
    folder: Path
    base_url: str
    dir: Path

    @property
    def names(self) -> list[str]:
        return [file_name(d) for d in range(self.size.files)]

    @property
    def paths(self) -> list[Path]:
        return [self.folder / n for n in self.names]

    @property
    def file_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths)

    def warm(self) -> None:
        """Read every source file once (not timed), so that each contender finds them in
        the page cache, as the report says: not only those that run after another."""
        for path in self.paths:
            with path.open("rb", buffering=0) as f:
                while f.read(1 << 23):
                    pass

    def lists(self) -> tuple[Path, Path]:
        """Files listing the case's URLs and local paths, one a line."""
        urls, paths = self.dir / "urls.txt", self.dir / "paths.txt"
        if not urls.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            urls.write_text("".join(f"{self.base_url}/{n}\n" for n in self.names))
            paths.write_text("".join(f"{p}\n" for p in self.paths))
        return urls, paths


META = {
    "title": "Copy benchmark: synthetic daily sea surface temperature",
    "description": "Daily 0.25 degree SST-like files made and served by bench/copy_benchmark.py.",
    "license": "CC0-1.0",
    "providers": [{"name": "ARCO Forge benchmark", "roles": ["producer", "host"]}],
    "maintainers": [{"name": "ARCO Forge benchmark", "github": "arcoforge-bench"}],
}


def write_recipe(case: Case, folder: Path) -> str:
    """A recipe folder over the case's served files; returns its id."""
    import pandas as pd
    import yaml

    recipe_id = f"bench-sst-{case.kind}"
    end = pd.Timestamp(START) + pd.Timedelta(days=case.size.files - 1)
    spec = {
        "sources": {
            "url": case.base_url + "/sst.{time:%Y%m%d}.nc",
            "concat": {"time": {"start": START, "end": f"{end:%Y-%m-%d}", "freq": "D"}},
            "items_per_file": {"time": 1},
        },
        "outputs": {"zarr": {"chunks": {"time": TIME_CHUNK}}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.yaml").write_text(yaml.safe_dump({"id": recipe_id, **META}, sort_keys=False))
    (folder / "recipe.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return recipe_id


LABELS = {
    "forge": "forge run (Blosc lz4)",
    "forge-cache": "forge run --cache (inputs fetched whole into the cache first)",
    "xarray": "xarray open_mfdataset → to_zarr (Blosc lz4)",
    "xarray-default": "xarray open_mfdataset → to_zarr (zarr default: Zstd 0)",
    "http": "read every file over HTTP (fsspec cat, {n} threads)",
    "decode-1": "decode every file (h5py, local disk, 1 process)",
    f"decode-{CORES}": "decode every file (h5py, local disk, {n} processes)",
}


@dataclass
class Settings:
    timeout: float
    forge_args: list[str]
    opener: str
    keep: bool
    codec_days: int


def run_copy(name: str, case: Case, rep: int, settings: Settings) -> dict[str, Any]:
    """Run one copy contender, then verify its output (not timed) and measure what it stored."""
    urls, paths = case.lists()
    run_dir = case.dir / f"{name}-{rep}"
    shutil.rmtree(run_dir, ignore_errors=True)
    out = run_dir / "out"
    row: dict[str, Any] = {"name": name, "role": "copy", "rep": rep}
    if name.startswith("forge"):
        recipe_id = write_recipe(case, case.dir / "recipe")
        store = out / f"{recipe_id}.zarr"
        cache = out / ".forge" / "cache"
        cmd = [FORGE, "run", str(case.dir / "recipe"), "--output", str(out), "--json"]
        if name == "forge-cache":  # the path before inputs were read by range
            cmd += ["--cache", str(cache)]
        cmd += settings.forge_args
        probes = {
            # the run state's markers of the inputs opened (by range) or cached
            "inputs opened": lambda: count_opened(out / ".forge" / recipe_id / "fetched"),
            "chunks written": lambda: count_files(store / VARIABLE / "c"),
        }
    else:
        store = out / "copy.zarr"
        codec = "lz4" if name == "xarray" else "default"
        cmd = [PY, WORKLOADS, "xarray", "--urls", str(urls), "--out", str(store)]
        cmd += ["--codec", codec, "--opener", settings.opener]
        probes = {"chunks written": lambda: count_files(store / VARIABLE / "c")}
    run = measure(cmd, run_dir, timeout=settings.timeout, probes=probes)
    row.update(_measured(run))
    inner = inner_result(run, row)
    if inner is None:
        return row
    if name.startswith("forge"):
        row["inner"] = {
            "seconds": inner["seconds"],
            "tasks": inner["outputs"][0]["tasks"],
            "stored_bytes": inner["outputs"][0]["stored_bytes"],
        }
        store = Path(inner["outputs"][0]["url"])
        row["cache_bytes"] = du(cache)
    else:
        row["inner"] = inner
    row["stored_bytes"] = du(store)
    row["phases"] = phases(run.series)
    check = measure(
        [PY, WORKLOADS, "verify", "--zarr", str(store), "--paths", str(paths)],
        run_dir / "verify",
        timeout=settings.timeout,
    )
    if check.ok:
        found = check.result()
        row["verified"] = not found["problems"]
        row["problems"] = found["problems"][:5]
        row["verify_s"] = found["seconds"]
    else:
        row["verified"] = False
        row["problems"] = [f"verification failed: {check.error()}"]
    if not settings.keep:
        shutil.rmtree(out, ignore_errors=True)
    return row


def run_floor(name: str, case: Case, rep: int, settings: Settings) -> dict[str, Any]:
    urls, paths = case.lists()
    run_dir = case.dir / f"{name}-{rep}"
    shutil.rmtree(run_dir, ignore_errors=True)
    if name == "http":
        cmd = [PY, WORKLOADS, "http", "--urls", str(urls), "--threads", str(CORES)]
    elif name.startswith("decode-"):
        procs = name.split("-")[1]
        cmd = [PY, WORKLOADS, "decode", "--paths", str(paths), "--procs", procs]
    else:
        cmd = [PY, WORKLOADS, "codec", "--paths", str(paths), "--threads", str(CORES)]
        cmd += ["--days", str(settings.codec_days)]
    run = measure(cmd, run_dir, timeout=settings.timeout)
    row: dict[str, Any] = {"name": name, "role": "floor", "rep": rep, **_measured(run)}
    if not run.ok:
        row["error"] = run.error()
        return row
    row["inner"] = run.result()
    return row


def inner_result(run: Measured, row: dict[str, Any]) -> Any | None:
    """What the contender printed as JSON, or None with its error recorded in ``row``."""
    if not run.ok:
        row["error"] = run.error()
        return None
    try:
        return run.result()
    except ValueError as e:
        row.update(ok=False, error=str(e))
        return None


def _measured(run: Measured) -> dict[str, Any]:
    return {
        "ok": run.ok,
        "command": shlex.join(run.cmd),
        "wall_s": round(run.wall_s, 3),
        "peak_rss": run.peak_rss,
        "peak_pss": run.peak_pss,
        "cpu_s": round(run.cpu_s, 2),
        "rss_series": _thin([(t, rss) for t, rss, _ in run.series], 300),
    }


def _thin(points: list[Any], most: int) -> list[Any]:
    step = max(1, math.ceil(len(points) / most))
    return points[::step]


# ---------------------------------------------------------------------------
# Summaries and the report
# ---------------------------------------------------------------------------


def summarize(name: str, runs: list[dict[str, Any]], case: Case) -> dict[str, Any]:
    """One row from the repeats of a contender: median wall time, largest peak RSS."""
    good = [r for r in runs if r.get("ok")]
    row: dict[str, Any] = {"name": name, "role": runs[0]["role"], "runs": runs}
    if not good:
        row.update(ok=False, error=runs[-1].get("error", "failed"))
        return row
    data = case.size.data_bytes
    if row["role"] == "copy":
        wall = statistics.median(r["wall_s"] for r in good)
        row["mb_s"] = data / wall / 1e6
        row["wall_s"] = wall
        row["stored_bytes"] = good[-1]["stored_bytes"]
        row["ratio"] = data / row["stored_bytes"] if row["stored_bytes"] else None
        row["verified"] = all(r.get("verified") for r in runs)
        row["problems"] = [p for r in runs for p in r.get("problems", [])][:5]
    elif name == "codec":
        row["codecs"] = good[-1]["inner"]["codecs"]
        row["days"] = good[-1]["inner"]["days"]
        row["threads"] = good[-1]["inner"]["threads"]
    else:
        seconds = statistics.median(r["inner"]["seconds"] for r in good)
        row["seconds"] = seconds
        row["mb_s"] = data / seconds / 1e6
        row["moved_bytes"] = good[-1]["inner"]["bytes"]
        row["wall_s"] = statistics.median(r["wall_s"] for r in good)
    row.update(
        ok=len(good) == len(runs),
        error=None if len(good) == len(runs) else runs[-1].get("error"),
        peak_rss=max(r["peak_rss"] for r in good),
        peak_pss=max(r["peak_pss"] for r in good),
        cpu_s=statistics.median(r["cpu_s"] for r in good),
    )
    return row


def mb(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    if n >= 1e8:
        return f"{n / 1e6:.0f} MB"
    return f"{n / 1e6:.1f} MB"


def _copy_notes(row: dict[str, Any]) -> str:
    runs = [r for r in row["runs"] if r.get("ok")]
    if not runs:
        return ""
    last = runs[-1]
    notes = []
    ph = last.get("phases", {})
    if row["name"].startswith("forge"):
        notes.append(f"forge's own time {last['inner']['seconds']:.1f} s")
        if "inputs opened" in ph:
            a, b = ph["inputs opened"]
            notes.append(f"inputs opened {a:.1f}–{b:.1f} s")
        if last.get("cache_bytes"):
            notes.append(f"{mb(last['cache_bytes'])} input cache on disk")
        else:
            notes.append("no input cache")
    else:
        inner = last["inner"]
        notes.append(f"open {inner['open_s']:.1f} s, write {inner['write_s']:.1f} s")
    if "chunks written" in ph:
        a, b = ph["chunks written"]
        notes.append(f"chunks {a:.1f}–{b:.1f} s")
    if len(row["runs"]) > 1:
        walls = ", ".join(f"{r['wall_s']:.1f}" for r in row["runs"] if r.get("ok"))
        notes.append(f"walls {walls} s")
    return "; ".join(notes)


def case_markdown(case_result: dict[str, Any]) -> str:
    size, kind = case_result["size"], case_result["kind"]
    rows = case_result["rows"]
    lines = [
        f"### {size['label']}, {kind}: {size['describe']}",
        "",
        f"{mb(case_result['data_bytes'])} of data in {mb(case_result['file_bytes'])} of files "
        f"({case_result['files_per_data']:.2f} of the data). "
        "MB/s = uncompressed data bytes / wall seconds of the whole process (1 MB = 10⁶ bytes).",
        "",
        "| copy | verified | wall s | MB/s | vs xarray | peak PSS | peak RSS | CPU s | stored "
        "| ratio | notes |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    by_name = {r["name"]: r for r in rows}
    base = by_name.get("xarray")
    for r in rows:
        if r["role"] != "copy":
            continue
        label = LABELS[r["name"]]
        if not r.get("mb_s"):
            lines.append(f"| {label} | – | – | – | – | – | – | – | – | – | failed: {r['error']} |")
            continue
        rel = "1.00×" if r is base else "–"
        if base and base.get("mb_s") and r is not base:
            rel = f"{r['mb_s'] / base['mb_s']:.2f}×"
        verified = "yes" if r["verified"] else "**no**: " + "; ".join(r["problems"])[:200]
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "–"
        lines.append(
            f"| {label} | {verified} | {r['wall_s']:.1f} | {r['mb_s']:.1f} | {rel} | "
            f"{mb(r['peak_pss'])} | {mb(r['peak_rss'])} | {r['cpu_s']:.0f} | "
            f"{mb(r['stored_bytes'])} | {ratio} | "
            f"{_copy_notes(r)} |"
        )
    forge = by_name.get("forge")
    if forge and base and forge.get("mb_s") and base.get("mb_s"):
        speedup = forge["mb_s"] / base["mb_s"]
        word = "faster" if speedup >= 1 else "slower"
        lines += [
            "",
            f"**forge vs xarray: {speedup:.2f}×** the throughput ({forge['mb_s']:.1f} vs "
            f"{base['mb_s']:.1f} MB/s; forge is {word}), "
            f"{forge['peak_pss'] / base['peak_pss']:.2f}× the peak memory (PSS).",
        ]
    floors = [r for r in rows if r["role"] == "floor" and r["name"] != "codec"]
    if floors:
        lines += [
            "",
            "| floor | MB/s | s | peak RSS | CPU s | notes |",
            "|---|--:|--:|--:|--:|---|",
        ]
        for r in floors:
            label = LABELS[r["name"]].format(n=CORES)
            if not r.get("mb_s"):
                lines.append(f"| {label} | – | – | – | – | failed: {r['error']} |")
                continue
            note = f"process wall {r['wall_s']:.1f} s"
            if r["name"] == "http":
                rate = r["moved_bytes"] / r["seconds"] / 1e6
                note = f"{mb(r['moved_bytes'])} of files at {rate:.0f} MB/s; {note}"
            lines.append(
                f"| {label} | {r['mb_s']:.0f} | {r['seconds']:.2f} | {mb(r['peak_rss'])} | "
                f"{r['cpu_s']:.1f} | {note} |"
            )
        lines.append("")
        lines.append(
            "Floors time only their work (not the interpreter's start), in data MB/s, so they "
            "bound what any copy can reach."
        )
    codec = by_name.get("codec")
    if codec and codec.get("codecs"):
        threads = codec["threads"]
        lines += [
            "",
            f"Output codecs, in memory, on {codec['days']} days in chunks of "
            f"{TIME_CHUNK}×{size['nlat']}×{size['nlon']} (one chunk per call, one thread per "
            "call, as zarr does):",
            "",
            f"| codec | ratio | compress MB/s, 1 thread | {threads} threads "
            f"| decompress MB/s, 1 thread | {threads} threads |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for c in codec["codecs"]:
            speeds = [
                f"{c['bytes'] / c[f'{kind}seconds_{n}'] / 1e6:.0f}"
                if f"{kind}seconds_{n}" in c
                else "–"
                for kind in ("", "decode_")
                for n in (1, threads)
            ]
            lines.append(f"| {c['label']} | {c['ratio']:.2f} | {' | '.join(speeds)} |")
    elif codec:
        lines += ["", f"Output codecs: failed: {codec['error']}"]
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "cpu": cpu,
        "cores": CORES,
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "commit": commit,
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def report_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    load = report["load_average"]
    lines = [
        f"# Copy benchmark, {report['date']}",
        "",
        f"Command: `{report['command']}` (in `{report['cwd']}`)",
        "",
        f"* Machine: {m['cpu']}, {m['cores']} logical cores ({m['physical_cores']} physical), "
        f"{m['ram_bytes'] / 2**30:.1f} GiB RAM, {m['os']}",
        f"* Python {m['python']}; {pkgs}",
        f"* Commit: {m['commit'] or 'unknown'}",
        f"* Load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}; "
        f"total time {report['total_s'] / 60:.1f} min",
        f"* Settings: output chunks time={TIME_CHUNK} (other dims whole); repeats "
        f"{report['settings']['repeat']} (median wall, largest peak RSS); forge args "
        f"`{' '.join(report['settings']['forge_args']) or '(defaults)'}`; xarray opens "
        f"{report['settings']['opener']}s; sources served by "
        "`python -m arcoforge.demo.server` on 127.0.0.1, warm in the page cache",
        "",
        "Peak PSS and peak RSS are the largest sums, over the process and all its "
        "descendants, of the proportional set size (sampled every 0.5 s; the memory the "
        "tree occupies: a page shared by n processes counts 1/n in each) and of the "
        "resident set size (sampled every 50 ms; shared pages count once per process: "
        "an upper bound for multi-process contenders). "
        "CPU s is user + system time of the process and the children it waited for. "
        "Verification (`arcoforge.verify.compare` against the sources) is not timed.",
        "",
    ]
    for case in report["cases"]:
        lines.append(case_markdown(case))
    return "\n".join(lines)


def print_case(case: dict[str, Any]) -> None:
    print(case_markdown(case), flush=True)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time forge run against xr.open_mfdataset(...).to_zarr() on the same files."
    )
    p.add_argument("--sizes", default="1,4", help="data sizes in GiB (259 files each) [1,4]")
    p.add_argument("--kinds", default="raw,zlib", help="source kinds: raw, zlib [raw,zlib]")
    p.add_argument("--work", type=Path, default=HERE / "work", help="work folder [bench/work]")
    p.add_argument("--repeat", type=int, default=1, help="runs of each contender [1]")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--quick", action="store_true", help="20 files of 180×360: a smoke test")
    how.add_argument(
        "--files", type=int, help=f"N full-size files instead of --sizes (1..{MAX_FILES_OPTION})"
    )
    p.add_argument(
        "--only",
        help=f"comma-separated contenders to run, of {', '.join(COPIES + FLOORS)} [all]",
    )
    p.add_argument("--timeout", type=float, help="seconds per contender [600 + 300 per GiB]")
    p.add_argument("--forge-args", default="", help="extra `forge run` options, e.g. '--workers 1'")
    p.add_argument(
        "--opener",
        choices=["url", "fsspec"],
        default="url",
        help="how the baseline opens the files: URLs (xarray opens them with fsspec) or "
        "fsspec file objects [url]",
    )
    p.add_argument("--codec-days", type=int, default=60, help="days the codec floor uses [60]")
    p.add_argument("--results", type=Path, default=HERE / "results", help="[bench/results]")
    p.add_argument("--keep", action="store_true", help="keep the outputs (deleted by default)")
    args = p.parse_args(argv)
    if args.files is not None and not 1 <= args.files <= MAX_FILES_OPTION:
        p.error(f"--files: expected 1..{MAX_FILES_OPTION}")
    kinds = args.kinds.split(",")
    if not kinds or set(kinds) - {"raw", "zlib"}:
        p.error("--kinds: expected raw and/or zlib")
    if args.only and set(args.only.split(",")) - set(COPIES + FLOORS):
        p.error(f"--only: expected some of {', '.join(COPIES + FLOORS)}")
    if args.repeat < 1:
        p.error("--repeat: expected at least 1")
    return args


def contenders(args: argparse.Namespace, size: Size, kind: str, smallest: Size) -> list[str]:
    names = [*FLOORS, "forge", "forge-cache", "xarray"]
    if kind == "raw" and size == smallest:
        names.append("xarray-default")
    if args.only:
        wanted = args.only.split(",")
        names = [n for n in names if n in wanted]
    return names


@contextlib.contextmanager
def cleanup() -> Iterator[None]:
    atexit.register(_stop_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    try:
        yield
    finally:
        _stop_all()


def compile_package() -> None:
    """Compile arcoforge's modules to bytecode first, as installing the package does.

    An editable install on a machine that sets ``PYTHONDONTWRITEBYTECODE`` would
    otherwise compile them in every forge process: 0.17 s each on the benchmark machine.
    """
    import compileall

    import arcoforge

    compileall.compile_dir(Path(arcoforge.__file__).parent, quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    compile_package()
    load_before = os.getloadavg()[0]
    sizes = sizes_from(args)
    kinds = args.kinds.split(",")
    work: Path = args.work.resolve()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_root = work / "runs" / stamp
    run_root.mkdir(parents=True, exist_ok=True)
    smallest = min(sizes, key=lambda s: s.data_bytes)
    settings = Settings(
        timeout=0,
        forge_args=shlex.split(args.forge_args),
        opener=args.opener,
        keep=args.keep,
        codec_days=args.codec_days,
    )
    biggest = max(s.data_bytes for s in sizes)
    free = shutil.disk_usage(work).free
    if free < 3 * biggest * len(kinds):
        say(
            f"warning: {free / 1e9:.0f} GB free in {work}; the run may need about "
            f"{3 * biggest * len(kinds) / 1e9:.0f} GB (sources, a forge input cache, outputs)"
        )
    cases: list[dict[str, Any]] = []
    with cleanup():
        for kind in kinds:
            for grid in {(s.nlat, s.nlon) for s in sizes}:
                days = max(s.files for s in sizes if (s.nlat, s.nlon) == grid)
                first = next(s for s in sizes if (s.nlat, s.nlon) == grid)
                ensure_sources(work, kind, first, days, run_root)
        server = Server(work / "sources", run_root / "server.log")
        say(f"serving {work / 'sources'} at {server.url}; runs in {run_root}")
        try:
            for size in sizes:
                settings.timeout = args.timeout or 600 + 300 * size.gib
                for kind in kinds:
                    folder = source_dir(work, kind, size.nlat, size.nlon)
                    case = Case(
                        size=size,
                        kind=kind,
                        folder=folder,
                        base_url=f"{server.url}/{folder.name}",
                        dir=run_root / f"{size.key}-{kind}",
                    )
                    cases.append(
                        run_case(case, contenders(args, size, kind, smallest), args, settings)
                    )
                    print_case(cases[-1])
        finally:
            server.stop()
    report = {
        "date": dt.date.today().isoformat(),
        "command": shlex.join([os.path.relpath(PY, os.getcwd()), *sys.argv]),
        "cwd": os.getcwd(),
        "machine": machine(),
        "load_average": [load_before, os.getloadavg()[0]],
        "total_s": time.monotonic() - started,
        "settings": {
            "repeat": args.repeat,
            "forge_args": settings.forge_args,
            "opener": settings.opener,
            "time_chunk": TIME_CHUNK,
            "timeout_s": args.timeout,
            "generator_version": GENERATOR_VERSION,
            "work": str(work),
            "runs": str(run_root),
        },
        "cases": cases,
    }
    suffix = "-quick" if args.quick else f"-files{args.files}" if args.files else ""
    args.results.mkdir(parents=True, exist_ok=True)
    # stamped to the minute: a second run the same day never overwrites the first
    base = args.results / f"copy-{report['date']}T{dt.datetime.now():%H%M}{suffix}"
    base.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    base.with_suffix(".md").write_text(report_markdown(report))
    say(f"results: {base}.md and .json ({report['total_s'] / 60:.1f} min)")
    failed = [r for c in cases for r in c["rows"] if not r.get("ok") or r.get("verified") is False]
    return 1 if failed else 0


def run_case(
    case: Case, names: list[str], args: argparse.Namespace, settings: Settings
) -> dict[str, Any]:
    tag = f"[{case.size.label} {case.kind}]"
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for rep in range(args.repeat):
        for name in names:
            say(f"{tag} {name} (run {rep + 1}/{args.repeat}) ...")
            case.warm()
            try:
                if name in COPIES:
                    row = run_copy(name, case, rep, settings)
                else:
                    row = run_floor(name, case, rep, settings)
            except Exception as e:  # one contender's failure must not stop the run
                row = {
                    "name": name,
                    "role": "copy" if name in COPIES else "floor",
                    "rep": rep,
                    "ok": False,
                    "error": f"{type(e).__name__}: {e}",
                }
            runs[name].append(row)
            say(f"{tag} {name}: {_one_line(row, case)}")
    rows = [summarize(n, runs[n], case) for n in names]
    order = {n: i for i, n in enumerate([*COPIES, *FLOORS])}
    rows.sort(key=lambda r: order[r["name"]])
    return {
        "size": {
            "key": case.size.key,
            "label": case.size.label,
            "files": case.size.files,
            "nlat": case.size.nlat,
            "nlon": case.size.nlon,
            "describe": case.size.describe(),
        },
        "kind": case.kind,
        "sources": str(case.folder),
        "data_bytes": case.size.data_bytes,
        "file_bytes": case.file_bytes,
        "files_per_data": case.file_bytes / case.size.data_bytes,
        "rows": rows,
    }


def _one_line(row: dict[str, Any], case: Case) -> str:
    if not row.get("ok"):
        return f"FAILED: {row.get('error')}"
    text = f"{row['wall_s']:.1f} s, peak {mb(row['peak_pss'])} PSS ({mb(row['peak_rss'])} RSS)"
    if row["role"] == "copy":
        text += f", {case.size.data_bytes / row['wall_s'] / 1e6:.1f} MB/s"
        text += f", verified {'yes' if row.get('verified') else 'NO'}"
    elif "seconds" in row.get("inner", {}):
        text += f", {case.size.data_bytes / row['inner']['seconds'] / 1e6:.0f} MB/s (inner)"
    return text


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (KeyboardInterrupt, SystemExit) as e:
        code = e.code if isinstance(e, SystemExit) else 130
        if code:
            say(f"interrupted (exit {code}): the server and the running contender were stopped")
        sys.exit(code)
