"""The memory benchmark: each task's planned memory against the peak PSS measured.

Usage: ``python bench/memory_benchmark.py [--files 40] [--kinds raw,zlib] [--workers N]
[--virtual 128,512]``; see bench/README.md.

For each kind of source files (contiguous ``raw``, and ``zlib``: one compressed chunk
per day), served over loopback HTTP, and for a recipe without and with a
``preprocess`` (Celsius to Kelvin, which computes on every input), it measures:

* **task**: a child process opens the inputs as ``forge run`` does (by byte range where
  it can, else through the input cache), plans the copy and prepares the target, then
  writes its largest tasks one after the other. Its PSS is sampled
  every 50 ms; the peak above its PSS just before the first task (the libraries,
  the plan) is what the tasks held, set against the plan's estimate of the
  largest task.
* **run**: ``forge run`` with ``--workers N`` (DirectRunner workers: threads of the
  launcher for inputs read by range, else processes), the PSS of the whole process tree
  and of each worker process sampled every 50 ms.

``--virtual`` measures what the references path gathers into one element
(``ToList``) per input, at two input counts, and extrapolates to 10,000 inputs.
Results go to ``bench/results/memory-<date>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import pickle
import shlex
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psutil
from copy_benchmark import (
    FULL_GRID,
    PY,
    REPO,
    Server,
    Size,
    cleanup,
    ensure_sources,
    machine,
    mb,
    say,
)
from workloads import START, TIME_CHUNK, file_name

HERE = Path(__file__).resolve().parent
FORGE = str(Path(PY).parent / "forge")
SAMPLE_S = 0.05
#: The grid of the references part's inputs: their number matters there, not their size.
VIRTUAL_GRID = (90, 180)
#: Inputs opened one by one, unfolded, for the worst case of the gathered element.
UNFOLDED = 32
#: Output chunks of the "small chunks" rows: 16 chunks per task, compressed 10 at a time.
SMALL_CHUNKS = {"lat": 180, "lon": 360}
#: (preprocess, small chunks) of each recipe run over each kind of sources.
CONFIGS = [(False, False), (True, False), (False, True)]
#: The preprocess of the "with preprocess" recipes: it computes, so each input is loaded.
PREPROCESS = """
def preprocess(ds, index):
    ds["sst"] = ds["sst"] + 273.15
    ds["sst"].attrs["units"] = "K"
    return ds
"""
META = {
    "title": "Memory benchmark: synthetic daily sea surface temperature",
    "description": "Daily SST-like files made and served by bench/memory_benchmark.py.",
    "license": "CC0-1.0",
    "providers": [{"name": "ARCO Forge benchmark", "roles": ["producer", "host"]}],
    "maintainers": [{"name": "ARCO Forge benchmark", "github": "arcoforge-bench"}],
}


# ---------------------------------------------------------------------------
# Sampling PSS
# ---------------------------------------------------------------------------


def pss(proc: psutil.Process) -> int:
    """The proportional set size of one process (0 once it is gone)."""
    try:
        return int(proc.memory_full_info().pss)
    except psutil.Error:
        return 0


class TreeSampler:
    """Samples the PSS of a process tree every 50 ms in a thread: peaks, total and per process."""

    def __init__(self, root: int):
        self.root = psutil.Process(root)
        self.peak = 0
        self.per: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for p in procs:
                value = pss(p)
                total += value
                self.per[p.pid] = max(self.per.get(p.pid, 0), value)
                if p.pid not in self.names:
                    with contextlib.suppress(psutil.Error):
                        self.names[p.pid] = " ".join(p.cmdline())
            self.peak = max(self.peak, total)
            time.sleep(SAMPLE_S)

    def workers(self) -> list[int]:
        """Peak PSS of each DirectRunner worker process."""
        # (the shell that starts each worker matches too, with a few hundred kB)
        return [
            v
            for pid, v in self.per.items()
            if "arcoforge.pipeline.worker" in self.names.get(pid, "") and v > 10**7
        ]


# ---------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------


def write_recipe(
    folder: Path, base_url: str, files: int, kind: str, preprocess: bool, small: bool
) -> Path:
    import yaml

    spec = {
        "sources": _daily_sources(base_url, files),
        "outputs": {"zarr": {"chunks": {"time": TIME_CHUNK, **(SMALL_CHUNKS if small else {})}}},
    }
    recipe_id = folder.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.yaml").write_text(yaml.safe_dump({"id": recipe_id, **META}, sort_keys=False))
    (folder / "recipe.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    if preprocess:
        (folder / "recipe.py").write_text(PREPROCESS)
    return folder


# ---------------------------------------------------------------------------
# The task job (a child process)
# ---------------------------------------------------------------------------


def task_job(recipe_dir: str, output: str, count: int) -> None:
    """Plan the recipe's copy, report, wait for "go", write ``count`` largest tasks."""
    from arcoforge.pipeline import copy_stages
    from arcoforge.pipeline.context import RunContext
    from arcoforge.recipe import load_recipe
    from arcoforge.sources.headers import HeaderSet

    recipe = load_recipe(Path(recipe_dir))
    pattern = recipe.pattern
    ctx = RunContext(
        recipe_id=recipe.id,
        fingerprint=recipe.fingerprint,
        target_url=f"{output}/{recipe.id}.zarr",
        state_url=f"{output}/.forge/{recipe.id}",
        cache_url=f"{output}/.forge/cache",
        output=recipe.outputs.zarr,
        concat_dims=tuple(d.name for d in pattern.concat_dims),
        items_per_file={d.name: d.items_per_file for d in pattern.concat_dims},
        file_type=pattern.file_type,
        preprocess=recipe.preprocess,
        overwrite=True,
        read_by_range=True,  # as forge run without --cache: by range where inputs allow
    )
    headers = HeaderSet(ctx.concat_dims)
    for index, url in pattern.items():
        headers.add(copy_stages.input_header(ctx, *copy_stages.fetch_input(ctx, index, url)))
    works = sorted(copy_stages.plan_writes(ctx, headers), key=lambda w: -w.task.memory)[:count]
    del headers
    gc.collect()
    info = {
        "tasks": [w.task.memory for w in works],
        "largest": works[0].largest,
        "block_bytes": works[0].task.nbytes,
        "modes": [v.mode.value for v in works[0].variables],
    }
    print("READY " + json.dumps(info), flush=True)
    sys.stdin.readline()
    before = reset_peak_rss()
    for work in works:
        copy_stages.write_task(ctx, work)
    print("DONE " + json.dumps({"rss_before": before, "rss_peak": peak_rss()}), flush=True)


def reset_peak_rss() -> int:
    """Reset this process's resident-set high-water mark (Linux); returns its RSS now.

    The kernel then records the true peak, however short: a PSS sample every 50 ms
    misses a block compressed in 30 ms.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kb("VmRSS")


def peak_rss() -> int:
    """This process's resident-set high-water mark since the last reset, in bytes."""
    return _status_kb("VmHWM")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_tasks(recipe: Path, output: Path, count: int) -> dict[str, Any]:
    """Run the task job; its PSS just before the tasks, and the peak while they run."""
    cmd = [PY, __file__, "task", str(recipe), str(output), str(count)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"the task job failed: {line!r}")
    info = json.loads(line[6:])
    me = psutil.Process(proc.pid)
    samples = []
    for _ in range(5):
        samples.append(pss(me))
        time.sleep(SAMPLE_S)
    baseline = sorted(samples)[2]
    with TreeSampler(proc.pid) as sampler:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        done = proc.stdout.readline()
    proc.wait()
    if not done.startswith("DONE "):
        raise RuntimeError(f"the task job failed while writing (exit {proc.returncode})")
    rss = json.loads(done[5:])
    sampled = sampler.peak - baseline
    # the kernel's high-water mark sees peaks between samples; the larger of the two counts
    measured = max(sampled, rss["rss_peak"] - rss["rss_before"])
    return {
        **info,
        **rss,
        "baseline_pss": baseline,
        "peak_pss": sampler.peak,
        "measured_pss": sampled,
        "measured_rss": rss["rss_peak"] - rss["rss_before"],
        "measured": measured,
        "ratio": info["largest"] / measured if measured > 0 else None,
    }


def measure_run(recipe: Path, output: Path, workers: int) -> dict[str, Any]:
    """``forge run`` with ``workers`` DirectRunner processes; tree and per-worker peak PSS."""
    cmd = [FORGE, "run", str(recipe), "--output", str(output), "--json", "--overwrite"]
    cmd += ["--workers", str(workers)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    with TreeSampler(proc.pid) as sampler:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"forge run failed: {err.decode()[-500:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return {
        "command": shlex.join(cmd),
        "seconds": round(time.monotonic() - start, 1),
        "tree_peak_pss": sampler.peak,
        "worker_peak_pss": sorted(sampler.workers(), reverse=True),
        "tasks": result["outputs"][0].get("tasks", 0),
        "inputs": result["inputs"],
    }


# ---------------------------------------------------------------------------
# The references path's gathered element
# ---------------------------------------------------------------------------


def virtual_job(base_url: str, count: int) -> None:
    """Virtualize ``count`` served inputs as the pipeline does; size of what ToList gathers."""
    from arcoforge.pipeline.context import RunContext
    from arcoforge.pipeline.transforms import HEADER_BATCH, _batches
    from arcoforge.pipeline.virtual_stages import virtualize_batch
    from arcoforge.recipe.pattern import FileType, Index
    from arcoforge.recipe.spec import ReferenceFormat, ReferencesOutput
    from arcoforge.sources.fastheaders.prefetch import EdgePrefetcher
    from arcoforge.sources.fastheaders.templates import HeaderTemplates
    from arcoforge.sources.virtual import open_virtual

    work = Path(os.environ.get("MEMORY_BENCH_STATE", "/tmp")) / f"virtual-{count}"
    ctx = RunContext(
        recipe_id="virtual",
        fingerprint="virtual",
        target_url="",
        state_url=str(work / "state"),
        cache_url=str(work / "cache"),
        output=None,
        concat_dims=("time",),
        references=ReferencesOutput(format=ReferenceFormat.JSON),
        references_url=str(work / "virtual.json"),
    )
    inputs = [(Index((("time", d),)), f"{base_url}/{file_name(d)}") for d in range(count)]
    layouts, feed = HeaderTemplates(), EdgePrefetcher({}, ctx.retry)
    try:
        blobs = [
            pickle.dumps(virtualize_batch(ctx, batch, layouts, feed), pickle.HIGHEST_PROTOCOL)
            for batch in _batches(inputs, HEADER_BATCH)
        ]
    finally:
        feed.close()
    gc.collect()
    tracemalloc.start()
    gathered = [vi for b in blobs for vi in pickle.loads(b).inputs]
    unpickled, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # the worst case: inputs that share no layout, so none is folded into another
    alone = [
        len(pickle.dumps([open_virtual(index, url, file_type=FileType.AUTO)], 5))
        for index, url in inputs[:UNFOLDED]
    ]
    print(
        "RESULT "
        + json.dumps(
            {
                "inputs": count,
                "elements": len(gathered),
                "pickled_bytes": sum(len(b) for b in blobs),
                "unpickled_bytes": unpickled,
                "unfolded_pickled_per_input": sum(alone) // len(alone),
            }
        ),
        flush=True,
    )


def measure_references(args: argparse.Namespace, counts: list[int], logs: Path) -> list[Any]:
    """At each count of small inputs: the gathered element, and a references run's peak PSS."""
    grid = VIRTUAL_GRID
    size = Size("virtual", "virtual", max(counts), *grid)
    folder = ensure_sources(args.work, "raw", size, max(counts), logs)
    server = Server(folder, logs.with_suffix(".virtual.server.log"))
    out = []
    try:
        for count in counts:
            say(f"references over {count} inputs ...")
            point = measure_virtual(server.url, count, args.work / "memory")
            recipe = write_references_recipe(
                args.work / "memory" / f"refs-{count}", server.url, count
            )
            point["run"] = measure_run(recipe, args.work / "memory" / f"refs-{count}-run", 1)
            say(f"  {point['pickled_bytes'] / count / 1e3:.1f} kB pickled per input")
            out.append(point)
    finally:
        server.stop()
    return out


def _daily_sources(base_url: str, files: int) -> dict[str, Any]:
    """The sources of a recipe over the first ``files`` served daily files."""
    import pandas as pd

    end = pd.Timestamp(START) + pd.Timedelta(days=files - 1)
    return {
        "url": base_url + "/sst.{time:%Y%m%d}.nc",
        "concat": {"time": {"start": START, "end": f"{end:%Y-%m-%d}", "freq": "D"}},
        "items_per_file": {"time": 1},
    }


def write_references_recipe(folder: Path, base_url: str, files: int) -> Path:
    import yaml

    spec = {
        "sources": _daily_sources(base_url, files),
        "outputs": {"references": {"format": "json"}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"id": f"mem-refs-{files}", **META}
    (folder / "meta.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    (folder / "recipe.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def measure_virtual(base_url: str, count: int, state: Path) -> dict[str, Any]:
    env = {**os.environ, "MEMORY_BENCH_STATE": str(state)}
    out = subprocess.run(
        [PY, __file__, "virtual", base_url, str(count)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return json.loads(line[7:])


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def report_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Memory benchmark, {report['date']}",
        "",
        f"Command: `{report['command']}` (in `{report['cwd']}`)",
        "",
        f"* Machine: {m['cpu']}, {m['cores']} logical cores, "
        f"{m['ram_bytes'] / 2**30:.1f} GiB RAM; commit {m['commit'] or 'unknown'}",
        f"* Load average (1 min) before / after: {report['load'][0]:.2f} / {report['load'][1]:.2f}",
        f"* Sources: {report['files']} daily files of {FULL_GRID[0]}×{FULL_GRID[1]} float32 "
        f"per kind, served on 127.0.0.1; output Zarr v3, Blosc lz4, chunks as in the table "
        "(a task writes 10 days of the whole grid: one chunk, or 16 small ones)",
        "",
        "**task**: the peak of a process writing the plan's largest tasks one after the "
        "other, above its memory just before (libraries and plan loaded), against the plan's "
        "estimate of the largest task: the larger of the PSS sampled every 50 ms (*PSS*) and "
        "the kernel's resident-set high-water mark, reset just before (*HWM*, which sees "
        "peaks between samples). The target is "
        "measured ≤ estimate ≤ 2 × measured. **run**: `forge run` with "
        f"`--workers {report['workers']}`, peak PSS of the whole tree and of each worker; "
        "*baseline + estimate* is what a worker running one task at a time should stay "
        "near (a DirectRunner worker also holds Beam's harness, which the task job does not).",
        "",
        "| sources | preprocess | chunks | values | estimate | measured (task) "
        "| PSS / HWM | estimate ÷ measured "
        "| target met | baseline PSS | run: tree peak | run: worker peaks "
        "| baseline + estimate |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["copies"]:
        t, r = c["task"], c["run"]
        ratio = t["ratio"]
        met = "yes" if ratio is not None and 1 <= ratio <= 2 else "**no**"
        lines.append(
            f"| {c['kind']} | {'yes' if c['preprocess'] else 'no'} "
            f"| {'10×180×360' if c.get('small') else '10×721×1440'} | {', '.join(t['modes'])} "
            f"| {mb(t['largest'])} | {mb(t['measured'])} | {_sampled(t)} | {ratio:.2f} | {met} "
            f"| {mb(t['baseline_pss'])} | {mb(r['tree_peak_pss'])} "
            f"| {', '.join(mb(w) for w in r['worker_peak_pss']) or 'threads of the launcher'} "
            f"| {mb(t['baseline_pss'] + t['largest'])} |"
        )
    if report.get("virtual"):
        lines += ["", "## References: what `ToList` gathers", ""]
        lines += [
            "| inputs | elements gathered | pickled (all) | per input | unpickled (all) "
            "| per input | references run: peak PSS (one process) |",
            "|---|---|---|---|---|---|---|",
        ]
        for v in report["virtual"]:
            n = v["inputs"]
            lines.append(
                f"| {n} | {v['elements']} | {mb(v['pickled_bytes'])} "
                f"| {v['pickled_bytes'] / n / 1e3:.1f} kB | {mb(v['unpickled_bytes'])} "
                f"| {v['unpickled_bytes'] / n / 1e3:.1f} kB | {mb(v['run']['tree_peak_pss'])} |"
            )
        x = report["virtual_10000"]
        alone = max(v["unfolded_pickled_per_input"] for v in report["virtual"])
        lines += [
            "",
            f"Inputs of one layout are folded together along time "
            f"(see `sources/fastheaders/concat.py`), "
            f"so a batch pickles to little more than its first input. Opened one by one, "
            f"with nothing folded (the worst case: inputs that share no layout), an input "
            f"pickles to {alone / 1e3:.1f} kB: {mb(alone * 10_000)} for 10,000.",
            "",
            f"Extrapolated to 10,000 inputs (slope between the first and last counts): "
            f"pickled {mb(x['pickled_bytes'])}, unpickled {mb(x['unpickled_bytes'])}, "
            f"a references-only run's peak PSS {mb(x['run_peak_pss'])}.",
        ]
    lines.append("")
    return "\n".join(lines)


def _sampled(task: dict[str, Any]) -> str:
    """The two measurements of a task's peak (results before the HWM have only the PSS)."""
    if "measured_rss" not in task:
        return f"{mb(task['measured'])} / –"
    return f"{mb(task['measured_pss'])} / {mb(task['measured_rss'])}"


def extrapolate(points: list[dict[str, Any]], n: int) -> dict[str, int]:
    a, b = points[0], points[-1]
    out = {}
    values = {
        "pickled_bytes": (a["pickled_bytes"], b["pickled_bytes"]),
        "unpickled_bytes": (a["unpickled_bytes"], b["unpickled_bytes"]),
        "run_peak_pss": (a["run"]["tree_peak_pss"], b["run"]["tree_peak_pss"]),
    }
    for key, (first, last) in values.items():
        slope = (last - first) / max(1, b["inputs"] - a["inputs"])
        out[key] = int(last + slope * (n - b["inputs"]))
    return out


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40, help="daily files per kind")
    parser.add_argument("--kinds", default="raw,zlib")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tasks", type=int, default=3, help="largest tasks the task job writes")
    parser.add_argument("--virtual", default="256,1024", help="input counts, or '' for none")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--report", type=Path, help="only render this JSON result as Markdown")
    parser.add_argument("--suffix", default="", help="appended to the results' file names")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        text = report_markdown(json.loads(args.report.read_text()))
        args.report.with_suffix(".md").write_text(text)
        print(text)
        return 0
    load_before = os.getloadavg()[0]
    size = Size(f"files{args.files}", f"{args.files} files", args.files, *FULL_GRID)
    logs = args.work / "logs" / "memory"
    logs.parent.mkdir(parents=True, exist_ok=True)  # the servers' logs sit beside it
    copies, virtual = [], []
    for kind in args.kinds.split(","):
        folder = ensure_sources(args.work, kind, size, args.files, logs)
        server = Server(folder, logs.with_suffix(f".{kind}.server.log"))
        try:
            for preprocess, small in CONFIGS:
                name = f"{kind}-{'pre' if preprocess else 'plain'}{'-small' if small else ''}"
                recipe = write_recipe(
                    args.work / "memory" / name, server.url, args.files, kind, preprocess, small
                )
                say(f"{name}: task job ...")
                task = measure_tasks(recipe, args.work / "memory" / f"{name}-task", args.tasks)
                say(f"  estimate {mb(task['largest'])}, measured {mb(task['measured'])}")
                say(f"{name}: forge run ...")
                run = measure_run(recipe, args.work / "memory" / f"{name}-run", args.workers)
                say(f"  tree peak {mb(run['tree_peak_pss'])}")
                copies.append(
                    {
                        "kind": kind,
                        "preprocess": preprocess,
                        "small": small,
                        "task": task,
                        "run": run,
                    }
                )
        finally:
            server.stop()
    if args.virtual:
        virtual = measure_references(args, [int(n) for n in args.virtual.split(",")], logs)
    report = {
        "date": dt.date.today().isoformat(),
        "command": shlex.join(
            [Path(PY).name, "bench/memory_benchmark.py", *(argv or sys.argv[1:])]
        ),
        "cwd": str(REPO),
        "machine": machine(),
        "load": [load_before, os.getloadavg()[0]],
        "files": args.files,
        "workers": args.workers,
        "copies": copies,
        "virtual": virtual,
        "virtual_10000": extrapolate(virtual, 10_000) if len(virtual) > 1 else None,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"memory-{report['date']}{args.suffix}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    text = report_markdown(report)
    stem.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "task":
        task_job(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "virtual":
        virtual_job(sys.argv[2], int(sys.argv[3]))
    else:
        with cleanup():
            sys.exit(main())
