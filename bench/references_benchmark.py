"""The references benchmark: ``forge run`` making Kerchunk JSON against kerchunk run file by file.

Usage: ``python bench/references_benchmark.py [--sizes 259,1036] [--kinds raw,zlib]
[--work bench/work] [--quick]``.

For each number of files and kind of source files it serves the daily NetCDF files of
``bench/copy_benchmark.py`` over loopback HTTP (``python -m arcoforge.demo.server``, a
process of its own), then runs, one after the other, each in a process of its own:

* ``forge``: ``forge run RECIPE -o OUT --json`` on a recipe listing the URLs, with
  ``outputs: {references: {format: json}}`` (default runner, one worker per core);
* ``kerchunk``: the baseline, ``SingleHdf5ToZarr(f, url).translate()`` on each URL in
  order (``fsspec.open``), then ``MultiZarrToZarr(refs, concat_dims=["time"])``, written
  as JSON (this file's ``kerchunk`` job);
* ``forge-session`` and ``kerchunk-session``: the same two in one Python session each
  (this file's ``session`` job), timing only a second run, after the imports and a first
  run on a few inputs: what a notebook user sees.

It measures each one's wall time and the peak memory of its whole process tree (with
``copy_benchmark.measure``), then opens both outputs with ``engine="kerchunk"`` and
compares the first, middle and last time steps with the source files (not timed).
Results go to ``bench/results/references-<date>.md`` and ``.json``, the table to stdout.
Jobs run by the benchmark: ``python bench/references_benchmark.py kerchunk|session|verify ...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from copy_benchmark import (
    FORGE,
    FULL_GRID,
    PY,
    QUICK,
    Case,
    Measured,
    Server,
    Size,
    cleanup,
    count_files,
    ensure_sources,
    inner_result,
    machine,
    mb,
    measure,
    say,
    source_dir,
)
from workloads import GENERATOR_VERSION, VARIABLE

HERE = Path(__file__).resolve().parent
SCRIPT = str(Path(__file__).resolve())
PACKAGES = [
    "arcoforge",
    "virtualizarr",
    "kerchunk",
    "xarray",
    "zarr",
    "apache-beam",
    "fsspec",
    "aiohttp",
    "h5py",
    "h5netcdf",
    "numpy",
    "psutil",
]
CONTENDERS = ["forge", "kerchunk", "forge-session", "kerchunk-session"]
LABELS = {
    "forge": "forge run (references: json)",
    "kerchunk": "kerchunk SingleHdf5ToZarr + MultiZarrToZarr, sequential",
    "forge-session": "forge: run_recipe, second run in a session",
    "kerchunk-session": "kerchunk: the same loop, second run in a session",
}
#: The pairs compared: from the command line (a process each), and in a Python session.
PAIRS = {"process": ("forge", "kerchunk"), "session": ("forge-session", "kerchunk-session")}
#: Inputs of the first run in a session, before the timed one.
FIRST_RUN = 16
#: What each contender imports, run once (untimed) before it so its libraries are read
#: from the page cache: this machine's cache is small enough that reading the sources
#: evicts them, which cost forge's start-up 0.25-0.35 s.
IMPORTS = {
    "forge": "import arcoforge.cli, arcoforge.run, arcoforge.sources.virtual as v; "
    "v.import_parsers()",
    "kerchunk": "import fsspec, kerchunk.hdf, kerchunk.combine, xarray",
}
#: The META of tests/helpers.py: what a recipe folder's meta.yaml needs.
META: dict[str, Any] = {
    "title": "Synthetic daily SST",
    "description": "Test data made by arcoforge.demo.dataset.",
    "license": "CC0-1.0",
    "providers": [{"name": "ARCO Forge tests", "roles": ["producer", "host"]}],
    "maintainers": [{"name": "Test Person", "github": "test-person"}],
}


# ---------------------------------------------------------------------------
# Jobs, each run in a process of its own (they print one ``RESULT {json}`` line)
# ---------------------------------------------------------------------------


def kerchunk_job(urls: list[str], out: Path) -> dict[str, Any]:
    """The baseline: translate each file in turn, combine along time, write the JSON."""
    import fsspec
    from kerchunk.combine import MultiZarrToZarr
    from kerchunk.hdf import SingleHdf5ToZarr

    t0 = time.perf_counter()
    refs, fetched = [], 0
    for url in urls:
        with fsspec.open(url, "rb") as f:
            refs.append(SingleHdf5ToZarr(f, url).translate())
            fetched += getattr(getattr(f, "cache", None), "total_requested_bytes", 0)
    t1 = time.perf_counter()
    combined = MultiZarrToZarr(refs, concat_dims=["time"]).translate()
    t2 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(combined, separators=(",", ":")))
    t3 = time.perf_counter()
    return {
        "files": len(urls),
        "translate_s": t1 - t0,
        "combine_s": t2 - t1,
        "write_s": t3 - t2,
        "seconds": t3 - t0,
        "fetched_bytes": fetched,
        "references": sum(1 for k in combined["refs"] if not k.rsplit("/", 1)[-1].startswith(".")),
        "stored_bytes": out.stat().st_size,
    }


def session_job(contender: str, source: Path, out: Path, first: int) -> dict[str, Any]:
    """A contender in one Python session: imports, a first run on ``first`` inputs, the run.

    What a notebook user sees from the second run on: only the run itself is timed.
    ``source`` is forge's recipe folder, or kerchunk's file of URLs.
    """
    t0 = time.perf_counter()
    if contender == "forge":
        import arcoforge

        recipe = arcoforge.load_recipe(source)
        imported = time.perf_counter()
        arcoforge.run_recipe(recipe, arcoforge.RunOptions(output=str(out / "first"), prune=first))
        started = time.perf_counter()
        made = arcoforge.run_recipe(recipe, arcoforge.RunOptions(output=str(out / "run")))
        seconds = time.perf_counter() - started
        refs = made.references
        assert refs is not None, "the recipe made no references"
        result = {"url": refs.url, "references": refs.references}
    else:
        for module in ("fsspec", "kerchunk.combine", "kerchunk.hdf"):  # kerchunk_job's
            importlib.import_module(module)

        urls = _lines(source)
        imported = time.perf_counter()
        kerchunk_job(urls[:first], out / "first" / "combined.json")
        started = time.perf_counter()
        result = kerchunk_job(urls, out / "run" / "combined.json")
        seconds = time.perf_counter() - started
        result["url"] = str(out / "run" / "combined.json")
    return {
        **result,
        "import_s": imported - t0,
        "first_run_s": started - imported,
        "first_inputs": first,
        "seconds": seconds,
    }


def verify_job(refs: str, paths: list[str]) -> dict[str, Any]:
    """Open ``refs`` with engine="kerchunk"; check the time steps and 3 of them against sources."""
    import numpy as np
    import xarray as xr

    t0 = time.perf_counter()
    problems: list[str] = []
    ds = xr.open_dataset(refs, engine="kerchunk")
    steps = ds.sizes.get("time", 0)
    if steps != len(paths):
        problems.append(f"{steps} time steps, expected {len(paths)}")
    checked = sorted({0, len(paths) // 2, len(paths) - 1})
    for i in checked:
        if i >= steps:
            problems.append(f"time step {i} is missing")
            continue
        with xr.open_dataset(paths[i], engine="h5netcdf") as src:
            want = src[VARIABLE].isel(time=0).values
            want_time = src["time"].values[0]
        got = ds[VARIABLE].isel(time=i).values
        if got.shape != want.shape or got.dtype != want.dtype:
            problems.append(f"step {i}: {got.dtype}{got.shape}, expected {want.dtype}{want.shape}")
        elif not np.array_equal(got, want, equal_nan=True):
            differ = int(np.sum(~((got == want) | (np.isnan(got) & np.isnan(want)))))
            problems.append(f"step {i}: {differ} of {got.size} values differ")
        if ds["time"].values[i] != want_time:
            problems.append(f"step {i}: time {ds['time'].values[i]}, expected {want_time}")
    ds.close()
    return {
        "time_steps": steps,
        "checked": checked,
        "problems": problems,
        "seconds": time.perf_counter() - t0,
    }


def run_job(args: argparse.Namespace) -> int:
    """Run the job named on the command line and print its ``RESULT`` line."""
    if args.job == "kerchunk":
        result = kerchunk_job(_lines(args.urls), args.out)
    elif args.job == "session":
        result = session_job(args.contender, args.source, args.out, args.first)
    else:
        result = verify_job(args.refs, _lines(args.paths))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------
# The contenders
# ---------------------------------------------------------------------------


def write_recipe(case: Case, folder: Path) -> None:
    """A recipe folder listing the case's URLs, with a references output in JSON."""
    import yaml

    urls, _ = case.lists()
    spec = {
        "sources": {"urls": _lines(urls), "concat_dim": "time"},
        "outputs": {"references": {"format": "json"}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.yaml").write_text(yaml.safe_dump(META))
    (folder / "recipe.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _workers(forge_args: list[str]) -> str:
    """How the forge contender's headers are read, from its extra options."""
    if "--workers" in forge_args:
        return f"{forge_args[forge_args.index('--workers') + 1]} worker processes"
    return (
        "headers parsed in the launcher process, their edges fetched by a child process: "
        "the default for a references-only run"
    )


def forge_run_args(recipe: str, out: str, extra: list[str]) -> list[str]:
    """The arguments of the forge contender's command."""
    return ["run", recipe, "-o", out, "--json", *extra]


@dataclass
class Setup:
    """What every contender of a run shares."""

    timeout: float
    forge_args: list[str]
    #: the source server's process, whose CPU time is reported apart
    server: psutil.Process
    #: seconds to wait at most for the machine to be idle before each contender
    idle_wait: float


def run_contender(name: str, case: Case, setup: Setup) -> dict[str, Any]:
    """Run one contender, then verify its output (not timed)."""
    urls, paths = case.lists()
    run_dir = case.dir / name
    shutil.rmtree(run_dir, ignore_errors=True)
    out = run_dir / "out"
    probes = {}
    recipe = case.dir / f"bench-refs-{case.kind}"
    if name.startswith("forge"):
        write_recipe(case, recipe)
    if name == "forge":
        cmd = [FORGE, *forge_run_args(str(recipe), str(out), setup.forge_args)]
        marks = out / ".forge" / recipe.name / "virtual"
        probes["headers read"] = lambda: count_files(marks)
    elif name == "kerchunk":
        refs = out / "combined.json"
        cmd = [PY, SCRIPT, "kerchunk", "--urls", str(urls), "--out", str(refs)]
    else:
        contender, source = name.split("-")[0], recipe if name == "forge-session" else urls
        cmd = [PY, SCRIPT, "session", "--contender", contender, "--source", str(source)]
        cmd += ["--out", str(out), "--first", str(FIRST_RUN)]
    subprocess.run([PY, "-c", IMPORTS[name.split("-")[0]]], check=True, capture_output=True)
    waited, idle = wait_idle(setup.idle_wait)
    if not idle:
        say(f"  the machine is still busy after {waited:.0f} s; running anyway")
    before = _cpu(setup.server)
    run = measure(cmd, run_dir, timeout=setup.timeout, probes=probes)
    row = {"name": name, **_measured(run, case)}
    used = [b - a for a, b in zip(before, _cpu(setup.server), strict=True)]
    row["server_cpu_s"] = round(used[1], 1)
    row["others_cpu_s"] = round(max(0.0, used[0] - used[1] - used[2] - run.cpu_s), 1)
    row["idle_wait"] = {"waited_s": round(waited, 1), "idle": idle}
    inner = inner_result(run, row)
    if inner is None:
        return row
    if name == "forge":
        output = inner["outputs"][0]
        refs = Path(output["url"])
        row["inner"] = {
            "seconds": inner["seconds"],
            "references": output.get("references"),
            "stored_bytes": output.get("stored_bytes"),
        }
        row["phases"] = {k: span(run.series, k) for k in probes if span(run.series, k)}
    else:
        row["inner"] = inner
        if name.endswith("-session"):
            refs = Path(inner["url"])
            row["timed_s"] = round(inner["seconds"], 3)
            row["files_s"] = case.size.files / inner["seconds"]
    row["stored_bytes"] = refs.stat().st_size
    check = measure(
        [PY, SCRIPT, "verify", "--refs", str(refs), "--paths", str(paths)],
        run_dir / "verify",
        timeout=setup.timeout,
    )
    if check.ok:
        found = check.result()
        row["verified"] = not found["problems"]
        row["time_steps"] = found["time_steps"]
        row["checked_steps"] = found["checked"]
        row["problems"] = found["problems"][:5]
        row["verify_s"] = round(found["seconds"], 2)
    else:
        row["verified"] = False
        row["problems"] = [f"verification failed: {check.error()}"]
    return row


def _measured(run: Measured, case: Case) -> dict[str, Any]:
    step = max(1, math.ceil(len(run.series) / 300))
    return {
        "ok": run.ok,
        "command": shlex.join(run.cmd),
        "wall_s": round(run.wall_s, 3),
        #: the seconds files/s counts: the whole process, or a session's timed run
        "timed_s": round(run.wall_s, 3),
        "files_s": case.size.files / run.wall_s if run.wall_s else None,
        "peak_rss": run.peak_rss,
        "peak_pss": run.peak_pss,
        "cpu_s": round(run.cpu_s, 2),
        "rss_series": [(t, rss) for t, rss, _ in run.series][::step],
    }


def wait_idle(most: float, busy: float = 0.2) -> tuple[float, bool]:
    """Wait (up to ``most`` s) until the machine uses under ``busy`` of a core for 2 s running."""
    t0 = time.monotonic()
    while True:
        a = psutil.cpu_times()
        time.sleep(2)
        b = psutil.cpu_times()
        idle = (b.idle + getattr(b, "iowait", 0.0)) - (a.idle + getattr(a, "iowait", 0.0))
        used = sum(b) - sum(a) - idle - (getattr(b, "steal", 0.0) - getattr(a, "steal", 0.0))
        if used / 2 < busy:
            return time.monotonic() - t0, True
        if time.monotonic() - t0 >= most:
            return time.monotonic() - t0, False


def _cpu(server: psutil.Process) -> tuple[float, float, float]:
    """CPU seconds used so far by the whole machine, the source server and this process."""
    t = psutil.cpu_times()
    busy = sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "steal", 0.0)
    try:
        served = sum(server.cpu_times()[:2])
    except psutil.Error:
        served = 0.0
    return busy, served, sum(psutil.Process().cpu_times()[:2])


def span(series: list[tuple[float, int, dict[str, int]]], probe: str) -> list[float] | None:
    """When a probe's count first rose above 0 and when it first reached its largest value."""
    counts = [(t, c.get(probe, 0)) for t, _, c in series]
    top = max((n for _, n in counts), default=0)
    if top <= 0:
        return None
    return [next(t for t, n in counts if n > 0), next(t for t, n in counts if n >= top)]


def warm(case: Case) -> float:
    """Read every source file once, so both contenders find them in the page cache."""
    t0 = time.monotonic()
    for path in case.paths:
        with open(path, "rb") as f:
            while f.read(1 << 22):
                pass
    return time.monotonic() - t0


def run_case(case: Case, setup: Setup) -> dict[str, Any]:
    """Both contenders on one size and kind, one after the other."""
    tag = f"[{case.size.label} {case.kind}]"
    say(f"{tag} reading the sources once to warm the page cache: {warm(case):.1f} s")
    rows = []
    for name in CONTENDERS:
        say(f"{tag} {name} ...")
        try:
            row = run_contender(name, case, setup)
        except Exception as e:  # one contender's failure must not stop the run
            row = {"name": name, "ok": False, "error": f"{type(e).__name__}: {e}"}
        rows.append(row)
        say(f"{tag} {name}: {_one_line(row)}")
    return {
        "files": case.size.files,
        "nlat": case.size.nlat,
        "nlon": case.size.nlon,
        "kind": case.kind,
        "describe": case.size.describe(),
        "sources": str(case.folder),
        "file_bytes": case.file_bytes,
        "timeout_s": setup.timeout,
        "rows": rows,
    }


def _one_line(row: dict[str, Any]) -> str:
    if not row.get("ok"):
        return f"FAILED: {row.get('error')}"
    return (
        f"{row['timed_s']:.1f} s, {row['files_s']:.1f} files/s, peak {mb(row['peak_rss'])} RSS "
        f"({mb(row['peak_pss'])} PSS), verified {'yes' if row.get('verified') else 'NO'}"
    )


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


def speedup(case: dict[str, Any], pair: str = "process") -> float | None:
    """Kerchunk's timed seconds over forge's (above 1: forge is faster), if both ran."""
    by = {r["name"]: r for r in case["rows"]}
    forge, base = (by.get(name, {}) for name in PAIRS[pair])
    if forge.get("ok") and base.get("ok") and "timed_s" in forge and "timed_s" in base:
        return base["timed_s"] / forge["timed_s"]
    return None


def _notes(row: dict[str, Any]) -> str:
    inner = row.get("inner", {})
    notes = []
    if row["name"].endswith("-session"):
        notes.append(
            f"the process took {row['wall_s']:.1f} s: imports {inner['import_s']:.1f} s, a first "
            f"run of {inner['first_inputs']} inputs {inner['first_run_s']:.1f} s, then this run"
        )
    if row["name"] == "forge":
        notes = [f"forge's own time {inner['seconds']:.1f} s"]
        if "headers read" in row.get("phases", {}):
            a, b = row["phases"]["headers read"]
            notes.append(f"headers read {a:.1f}–{b:.1f} s")
    elif row["name"].startswith("kerchunk"):
        notes += [
            f"translate {inner['translate_s']:.1f} s, combine {inner['combine_s']:.1f} s, "
            f"write {inner['write_s']:.1f} s"
        ]
        if inner.get("fetched_bytes"):
            notes.append(f"{mb(inner['fetched_bytes'])} fetched over HTTP")
    if "server_cpu_s" in row:
        notes.append(f"the HTTP server took {row['server_cpu_s']:.1f} CPU s")
    if row.get("idle_wait", {}).get("idle") is False:
        notes.append("the machine was busy when it started")
    if row.get("others_cpu_s", 0) >= 1:
        notes.append(f"other processes took {row['others_cpu_s']:.0f} CPU s meanwhile")
    return "; ".join(notes)


def kb(n: float) -> str:
    """Bytes as kB below 1 MB, else as ``mb`` gives them."""
    return f"{n / 1e3:.1f} kB" if n < 1e6 else mb(n)


def table(cases: list[dict[str, Any]]) -> str:
    """One Markdown row per case and contender."""
    lines = [
        "| files | kind | contender | verified | time steps | timed s | files/s | forge vs "
        "kerchunk | peak RSS | peak PSS | CPU s | output | notes |",
        "|--:|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for case in cases:
        for r in case["rows"]:
            ratio = speedup(case, "session" if r["name"].endswith("-session") else "process")
            head = f"| {case['files']} | {case['kind']} | {LABELS[r['name']]} |"
            if not r.get("ok"):
                lines.append(f"{head} – | – | – | – | – | – | – | – | – | failed: {r['error']} |")
                continue
            verified = "yes" if r.get("verified") else "**no**: " + "; ".join(r["problems"])
            mine = f"{ratio:.2f}×" if r["name"].startswith("forge") else "1.00×"
            rel = "–" if ratio is None else mine
            lines.append(
                f"{head} {verified[:200]} | {r.get('time_steps', '–')} | {r['timed_s']:.1f} | "
                f"{r['files_s']:.1f} | {rel} | {mb(r['peak_rss'])} | {mb(r['peak_pss'])} | "
                f"{r['cpu_s']:.0f} | {kb(r['stored_bytes'])} | {_notes(r)} |"
            )
    return "\n".join(lines) + "\n"


def summary(cases: list[dict[str, Any]]) -> str:
    """A line per case: forge's speed-up and memory against the baseline, both ways."""
    lines = []
    for case in cases:
        head = f"* {case['files']} {case['kind']} files:"
        ratio = speedup(case)
        by = {r["name"]: r for r in case["rows"]}
        if ratio is None:
            line = f"{head} no comparison from the command line (a run failed)"
        else:
            memory = by["forge"]["peak_rss"] / by["kerchunk"]["peak_rss"]
            line = (
                f"{head} from the command line **forge {ratio:.2f}×** kerchunk's files/s "
                f"({by['forge']['files_s']:.1f} vs {by['kerchunk']['files_s']:.1f}), "
                f"{memory:.2f}× its peak RSS"
            )
            rates = _running_rates(case["files"], by["forge"], by["kerchunk"])
            if rates:
                line += (
                    f"; once running, {rates[0]:.0f} vs {rates[1]:.0f} files/s "
                    f"({rates[0] / rates[1]:.2f}×: forge's headers from its first progress "
                    "marker to its last, kerchunk's translate)"
                )
        in_session = speedup(case, "session")
        if in_session is not None:
            forge, base = (by[name] for name in PAIRS["session"])
            line += (
                f"; in a Python session **{in_session:.2f}×** ({forge['files_s']:.1f} vs "
                f"{base['files_s']:.1f} files/s, the second run of each)"
            )
        lines.append(line)
    return "\n".join(lines) + "\n"


#: Inputs per progress marker of forge (arcoforge.pipeline.virtual_stages.MARK_EVERY).
MARK_EVERY = 16


def _running_rates(
    files: int, forge: dict[str, Any], base: dict[str, Any]
) -> tuple[float, float] | None:
    """Files/s without start-up: forge's between its first and last progress markers."""
    span = forge.get("phases", {}).get("headers read")
    translate = base.get("inner", {}).get("translate_s")
    if not span or not translate or span[1] <= span[0] or files <= MARK_EVERY:
        return None
    return (files - MARK_EVERY) / (span[1] - span[0]), files / translate


def report_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    pkgs = ", ".join(f"{k} {v}" for k, v in report["packages"].items() if v)
    load = report["load_average"]
    s = report["settings"]
    return "\n".join(
        [
            f"# References benchmark, {report['date']}",
            "",
            f"Command: `{report['command']}` (in `{report['cwd']}`)",
            "",
            f"* Machine: {m['cpu']}, {m['cores']} logical cores ({m['physical_cores']} "
            f"physical), {m['ram_bytes'] / 2**30:.1f} GiB RAM, {m['os']}",
            f"* Python {m['python']}; {pkgs}",
            f"* Commit: {m['commit'] or 'unknown'}",
            f"* Load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}; "
            f"total time {report['total_s'] / 60:.1f} min",
            f"* forge: `{shlex.join(['forge', *forge_run_args('RECIPE', 'OUT', s['forge_args'])])}`"
            f" (DirectRunner; {_workers(s['forge_args'])}), recipe "
            "`sources: {urls: [...], concat_dim: time}`, `outputs: {references: {format: json}}`",
            "* kerchunk: one process, `SingleHdf5ToZarr(f, url).translate()` for each URL in "
            "order (`with fsspec.open(url, 'rb') as f`), then "
            '`MultiZarrToZarr(refs, concat_dims=["time"]).translate()`, written with `json.dumps`',
            "* Sources served by `python -m arcoforge.demo.server` on 127.0.0.1, read once "
            "before each case so they are warm in the page cache, and each contender's "
            "libraries read once before it (an untimed import in a process of its own); "
            "contenders run one after "
            "the other, each in a fresh process with a fresh output folder, once the machine "
            f"is idle (other processes under 0.2 of a core for 2 s; waited up to "
            f"{s['idle_wait_s']:.0f} s)",
            "",
            "* In a Python session (the `-session` rows): one process per contender imports "
            f"its stack, runs once on the first {FIRST_RUN} inputs (forge: `run_recipe` with "
            "`prune`; kerchunk: its loop on those URLs), then runs on all of them; only that "
            "second run is timed, what a notebook user sees from the second run on",
            "",
            "Timed s: for `forge run` and kerchunk's process, from starting the process to its "
            "exit (interpreter start and imports included); for the session rows, the second "
            "run alone. Files/s = files / timed s. Peak RSS: the largest sum of the resident set "
            "size over the process and all its descendants, sampled every 50 ms (shared pages "
            "count once per process: an upper bound for forge's several processes); peak PSS "
            "the same for the proportional set size, sampled every 0.5 s. CPU s: user + system "
            "time of the process and the children it waited for; the notes give the CPU seconds "
            "the HTTP server (a process of its own) took during the run, and those any other "
            "processes on the machine took, when above 1. Output: bytes of the JSON. "
            'Verified: the output opened with `xr.open_dataset(path, engine="kerchunk")` has '
            "one time step per file, and its first, middle and last steps of "
            f"`{VARIABLE}` equal the source files' (opened with h5netcdf; NaN equal to NaN) "
            "with the same time values; not timed.",
            "",
            summary(report["cases"]),
            table(report["cases"]),
        ]
    )


def versions() -> dict[str, str | None]:
    """The installed versions of the packages that matter here."""
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time forge run making Kerchunk references against kerchunk, file by file."
    )
    p.add_argument("--sizes", default="259,1036", help="numbers of files [259,1036]")
    p.add_argument("--kinds", default="raw", help="source kinds: raw, zlib [raw]")
    p.add_argument("--work", type=Path, default=HERE / "work", help="work folder [bench/work]")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK[0]} files of {QUICK[1]}×{QUICK[2]}: a smoke test",
    )
    p.add_argument("--timeout", type=float, help="seconds per contender [300 + 1 per file]")
    p.add_argument(
        "--idle-wait",
        type=float,
        default=600,
        help="seconds to wait at most, before each contender, for other processes on the "
        "machine to go quiet [600]",
    )
    p.add_argument("--forge-args", default="", help="extra `forge run` options, e.g. '--workers 1'")
    p.add_argument("--results", type=Path, default=HERE / "results", help="[bench/results]")
    sub = p.add_subparsers(dest="job", help="(used by the benchmark itself)")
    job = sub.add_parser("kerchunk", help="the baseline on a list of URLs")
    job.add_argument("--urls", type=Path, required=True, help="a file of URLs, one a line")
    job.add_argument("--out", type=Path, required=True, help="the JSON to write")
    job = sub.add_parser("session", help="a contender in one Python session, after a first run")
    job.add_argument("--contender", choices=["forge", "kerchunk"], required=True)
    job.add_argument("--source", type=Path, required=True, help="a recipe folder, or URLs")
    job.add_argument("--out", type=Path, required=True, help="the folder to write in")
    job.add_argument("--first", type=int, default=16, help="inputs of the first run [16]")
    job = sub.add_parser("verify", help="check references against their source files")
    job.add_argument("--refs", required=True, help="a Kerchunk JSON")
    job.add_argument("--paths", type=Path, required=True, help="a file of local paths, one a line")
    args = p.parse_args(argv)
    kinds = args.kinds.split(",")
    if not kinds or set(kinds) - {"raw", "zlib"}:
        p.error("--kinds: expected raw and/or zlib")
    try:
        args.size_list = [int(n) for n in args.sizes.split(",")]
    except ValueError:
        p.error("--sizes: expected numbers of files, such as 259,1036")
    if any(n < 1 for n in args.size_list):
        p.error("--sizes: expected at least 1 file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.job:
        return run_job(args)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    if args.quick:
        n, nlat, nlon = QUICK
        sizes = [Size("quick", f"{n} files", n, nlat, nlon)]
    else:
        sizes = [Size(f"files{n}", f"{n} files", n, *FULL_GRID) for n in args.size_list]
    kinds = args.kinds.split(",")
    work: Path = args.work.resolve()
    run_root = work / "runs" / ("references-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    run_root.mkdir(parents=True, exist_ok=True)
    forge_args = shlex.split(args.forge_args)
    cases: list[dict[str, Any]] = []
    with cleanup():
        biggest = max(sizes, key=lambda s: s.files)
        for kind in kinds:
            ensure_sources(work, kind, biggest, biggest.files, run_root)
        server = Server(work / "sources", run_root / "server.log")
        server_proc = psutil.Process(server.proc.pid)
        say(f"serving {work / 'sources'} at {server.url}; runs in {run_root}")
        try:
            for size in sizes:
                for kind in kinds:
                    folder = source_dir(work, kind, size.nlat, size.nlon)
                    case = Case(
                        size=size,
                        kind=kind,
                        folder=folder,
                        base_url=f"{server.url}/{folder.name}",
                        dir=run_root / f"{size.key}-{kind}",
                    )
                    timeout = args.timeout or 300 + size.files
                    setup = Setup(timeout, forge_args, server_proc, args.idle_wait)
                    cases.append(run_case(case, setup))
                    print(table(cases[-1:]), flush=True)
        finally:
            server.stop()
    report = {
        "date": dt.date.today().isoformat(),
        "command": shlex.join([os.path.relpath(PY, os.getcwd()), *sys.argv]),
        "cwd": os.getcwd(),
        "machine": machine(),
        "packages": versions(),
        "load_average": [load_before, os.getloadavg()[0]],
        "total_s": time.monotonic() - started,
        "settings": {
            "forge_args": forge_args,
            "idle_wait_s": args.idle_wait,
            "generator_version": GENERATOR_VERSION,
            "work": str(work),
            "runs": str(run_root),
        },
        "cases": cases,
    }
    report["machine"].pop("packages", None)
    args.results.mkdir(parents=True, exist_ok=True)
    base = args.results / f"references-{report['date']}{'-quick' if args.quick else ''}"
    base.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    base.with_suffix(".md").write_text(report_markdown(report))
    print(summary(cases), flush=True)
    say(f"results: {base}.md and .json ({report['total_s'] / 60:.1f} min)")
    failed = [r for c in cases for r in c["rows"] if not r.get("ok") or not r.get("verified")]
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (KeyboardInterrupt, SystemExit) as e:
        code = e.code if isinstance(e, SystemExit) else 130
        if code:
            say(f"interrupted (exit {code}): the server and the running contender were stopped")
        sys.exit(code)
