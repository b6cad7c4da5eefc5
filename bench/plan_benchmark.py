"""forge plan: how long it takes for 10,000 inputs, and how near its time estimate comes to a run.

Two measurements, each a whole ``forge`` process (interpreter start to exit):

1. ``forge plan --json`` over a recipe of N small daily files (default 10,000) served over
   loopback HTTP: wall time, and the requests the server received (GETs by file, HEADs).
2. ``forge plan --json`` then ``forge run --json`` over the first 250 and 1000 of those
   small files, and over the copy benchmark's data (1 GiB: 259 daily 721×1440 float32
   files, the recipe of ``copy_benchmark.py``): the plan's estimated seconds against the
   run's wall seconds.

Usage: .venv/bin/python bench/plan_benchmark.py [--inputs 10000] [--sizes 1] [--sources DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from copy_benchmark import FILES_PER_GIB, FULL_GRID, META, machine  # noqa: E402
from workloads import START, TIME_CHUNK, file_name  # noqa: E402

FORGE = str(Path(sys.executable).parent / "forge")


def write_recipe(folder: Path, recipe_id: str, sources: dict[str, Any], chunks: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {**META, "id": recipe_id, "title": f"Plan benchmark: {recipe_id}"}
    (folder / "meta.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    spec = {"sources": sources, "outputs": {"zarr": {"chunks": {"time": chunks}}}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def daily_sources(base_url: str, days: int, *, declared: bool) -> dict[str, Any]:
    import pandas as pd

    end = pd.Timestamp(START) + pd.Timedelta(days=days - 1)
    out: dict[str, Any] = {
        "url": base_url + "/sst.{time:%Y%m%d}.nc",
        "concat": {"time": {"start": START, "end": f"{end:%Y-%m-%d}", "freq": "D"}},
    }
    if declared:
        out["items_per_file"] = {"time": 1}
    return out


def timed(cmd: list[str]) -> tuple[float, dict[str, Any]]:
    """Wall seconds of ``cmd`` and the JSON object it printed."""
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return wall, json.loads(done.stdout)


def plan_many(work: Path, inputs: int) -> dict[str, Any]:
    """Plan a recipe of ``inputs`` small daily files served locally."""
    from arcoforge.demo.many import daily_files
    from arcoforge.demo.server import SourceServer

    folder = work / f"plan-{inputs}"
    if len(list(folder.glob("sst.*.nc"))) != inputs:
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.monotonic()
        daily_files(folder, inputs, name=file_name, start=START)
        print(f"wrote {inputs} files in {time.monotonic() - t0:.0f} s", flush=True)
    with SourceServer(folder) as server:
        recipe = write_recipe(
            work / f"recipe-plan-{inputs}",
            f"plan-{inputs}",
            daily_sources(server.url, inputs, declared=False),
            100,
        )
        wall, plan = timed([FORGE, "plan", str(recipe), "--json"])
        requests = list(server.requests)
    methods = Counter(r.method for r in requests)
    return {
        "inputs": inputs,
        "wall_s": round(wall, 2),
        "plan_seconds": plan["plan_seconds"],
        "requests": dict(methods),
        "files_fetched": len({r.path for r in requests if r.method == "GET"}),
        "whole_file_gets": sum(1 for r in requests if r.method == "GET" and not r.range),
        "plan": plan,
    }


def plan_and_run_small(work: Path, inputs: int, counts: list[int]) -> list[dict[str, Any]]:
    """The plan's estimate against runs over the first ``counts`` of the many small files."""
    from arcoforge.demo.server import SourceServer

    out = []
    with SourceServer(work / f"plan-{inputs}") as server:
        for n in counts:
            recipe = write_recipe(
                work / f"recipe-small-{n}",
                f"small-{n}",
                daily_sources(server.url, n, declared=True),
                100,
            )
            out.append(_compare(work, recipe, f"{n} small files", n))
    return out


def _compare(work: Path, recipe: Path, label: str, files: int) -> dict[str, Any]:
    """``forge plan`` then ``forge run`` of ``recipe``: the estimate against the run."""
    output = work / f"plan-run-{recipe.name}"
    shutil.rmtree(output, ignore_errors=True)
    plan_wall, plan = timed([FORGE, "plan", str(recipe), "--json"])
    load_before = os.getloadavg()[0]
    run_cmd = [FORGE, "run", str(recipe), "-o", str(output), "--json", "--no-catalog"]
    run_wall, run = timed(run_cmd)
    load_after = os.getloadavg()[0]
    shutil.rmtree(output, ignore_errors=True)
    estimate = plan["estimates"]["seconds"]
    zarr = run["outputs"][0]
    return {
        "size": label,
        "files": files,
        "plan_wall_s": round(plan_wall, 2),
        "estimated_s": estimate,
        "run_wall_s": round(run_wall, 2),
        "run_own_s": run["seconds"],
        "ratio": round(run_wall / estimate, 3),
        "tasks_planned": plan["outputs"]["zarr"]["tasks"],
        "tasks_run": zarr["tasks"],
        "bytes_planned": plan["outputs"]["zarr"]["bytes"],
        "nbytes_run": run["nbytes"],
        "inputs_bytes_planned": plan["inputs"]["bytes"],
        "load_before_after": [round(load_before, 2), round(load_after, 2)],
    }


def ensure_sources(work: Path, given: Path | None, files: int) -> Path:
    if given is not None:
        return given
    folder = work / "sources" / f"raw-{FULL_GRID[0]}x{FULL_GRID[1]}-g1"
    cmd = [sys.executable, str(HERE / "workloads.py"), "generate", "--dir", str(folder)]
    cmd += ["--kind", "raw", "--grid", f"{FULL_GRID[0]}x{FULL_GRID[1]}", "--days", str(files)]
    subprocess.run(cmd, check=True)
    return folder


def plan_and_run(work: Path, sources: Path, gib: float) -> dict[str, Any]:
    """The plan's estimate against a real run, on the copy benchmark's data."""
    from arcoforge.demo.server import SourceServer

    files = round(gib * FILES_PER_GIB)
    missing = [d for d in range(files) if not (sources / file_name(d)).exists()]
    if missing:
        raise RuntimeError(f"{sources} lacks {len(missing)} of the {files} files needed")
    with SourceServer(sources) as server:
        recipe = write_recipe(
            work / f"recipe-plan-run-{gib:g}gib",
            "bench-sst-raw",
            daily_sources(server.url, files, declared=True),
            TIME_CHUNK,
        )
        return _compare(work, recipe, f"{gib:g} GiB", files)


def report_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Plan benchmark, {report['date']}",
        "",
        f"Command: `{report['command']}`",
        "",
        f"* Machine: {m['cpu']}, {m['cores']} logical cores, Python {m['python']}; "
        f"commit {m['commit']}",
        f"* Load average (1 min) at the start: {report['load_start']:.2f}; other work was "
        "running on this machine (shared by several users), which slows runs, not plans' estimates",
        "",
        "## Planning many inputs",
        "",
        "| inputs | forge plan wall s | plan's own s | GETs (files) | HEADs | whole-file GETs |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for p in report["many"]:
        lines.append(
            f"| {p['inputs']:,} | {p['wall_s']} | {p['plan_seconds']} | "
            f"{p['requests'].get('GET', 0)} ({p['files_fetched']}) | "
            f"{p['requests'].get('HEAD', 0)} | {p['whole_file_gets']} |"
        )
    lines += [
        "",
        "Wall time is the whole `forge plan RECIPE --json` process, interpreter start included.",
        "",
        "## The plan's time estimate against the run",
        "",
        "| data | files | estimated s | run wall s | run / estimate | tasks planned / run | "
        "bytes planned / run | load before / after |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['size']} | {r['files']} | {r['estimated_s']} | {r['run_wall_s']} | "
            f"{r['ratio']:.2f} | {r['tasks_planned']} / {r['tasks_run']} | "
            f"{r['bytes_planned']:,} / {r['nbytes_run']:,} | {r['load_before_after'][0]} / "
            f"{r['load_before_after'][1]} |"
        )
    lines += [
        "",
        "The run is `forge run RECIPE -o OUT --json --no-catalog` with a fresh OUT (so a fresh "
        "input cache), the copy benchmark's recipe (`items_per_file: {time: 1}`, chunks of 10 "
        "days), sources on loopback HTTP. The target is a run within ±50% of the estimate "
        "(ratio 0.5–1.5).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", default="10000", help="input counts to plan, e.g. 1000,10000")
    parser.add_argument("--small", default="250,1000", help="runs over N of the small files")
    parser.add_argument("--sizes", default="1", help="GiB of bench data to plan and run; '' none")
    parser.add_argument("--sources", type=Path, help="a folder of the copy bench's raw files")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M"),
        "command": " ".join([".venv/bin/python", "bench/plan_benchmark.py", *sys.argv[1:]]),
        "machine": machine(),
        "load_start": os.getloadavg()[0],
        "many": [],
        "runs": [],
    }
    for n in (int(x) for x in args.inputs.split(",") if x):
        found = plan_many(args.work, n)
        print(json.dumps({k: v for k, v in found.items() if k != "plan"}), flush=True)
        report["many"].append(found)
    small = [int(x) for x in args.small.split(",") if x]
    if small and report["many"]:
        for found in plan_and_run_small(args.work, report["many"][-1]["inputs"], small):
            print(json.dumps(found), flush=True)
            report["runs"].append(found)
    sizes = [float(x) for x in args.sizes.split(",") if x]
    if sizes:
        sources = ensure_sources(args.work, args.sources, round(max(sizes) * FILES_PER_GIB))
        for gib in sizes:
            found = plan_and_run(args.work, sources, gib)
            print(json.dumps(found), flush=True)
            report["runs"].append(found)
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"plan-{report['date']}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    stem.with_suffix(".md").write_text(report_markdown(report))
    print(f"results: {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
