"""The resume benchmark: how long a run takes to finish after it was killed at p% of a clean run.

Usage: ``python bench/resume_benchmark.py [--sizes 1] [--fractions 0.1,0.3,0.5,0.7,0.9]
[--quick | --files N]``; see bench/README.md.

For one size of raw daily files served over loopback HTTP (the copy benchmark's sources
and server), it times a clean ``forge run`` (T seconds, fresh output and cache), then for
each fraction p: starts a fresh run, SIGKILLs its whole process group at p·T, records what
the run state held (inputs fetched, tasks done), and times the run again to completion
(R seconds). The target is R ≤ (1 − p)·T + 2 s. Every finished output is compared with its
sources (not timed). Results go to ``bench/results/resume-<date>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import copy_benchmark as cb

#: Seconds allowed on top of the work left: starting the pipeline again, re-planning.
SLACK_S = 2.0
#: Clean runs made before the kills; the targets are taken from the fastest.
CLEAN_RUNS = 3


def count(folder: Path) -> int:
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def forge_cmd(recipe: Path, out: Path, extra: list[str]) -> list[str]:
    return [cb.FORGE, "run", str(recipe), "--output", str(out), "--json", *extra]


def timed_run(cmd: list[str], log: Path, timeout: float) -> tuple[float, dict[str, Any]]:
    """Run ``cmd`` to completion; its wall time and its JSON result."""
    run = cb.measure(cmd, log, timeout=timeout)
    if not run.ok:
        raise RuntimeError(f"{' '.join(cmd)} failed: {run.error()}")
    return run.wall_s, run.result()


def killed_run(cmd: list[str], after_s: float, state: Path) -> dict[str, Any]:
    """Start ``cmd``, SIGKILL its process group after ``after_s``; what its state held then."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cb.REPO,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.monotonic() - start < after_s and proc.poll() is None:
            time.sleep(0.02)
        finished = proc.poll() is not None
        early = state / "early"  # tasks written while headers arrived (not "writing")
        held = {
            "fetched": cb.count_opened(state / "fetched"),
            "done": count(state / "done"),
            "early": count(early) - (early / "writing").exists(),
        }
        plan = state / "plan.json"
        held["tasks"] = len(json.loads(plan.read_text())["tasks"]) if plan.exists() else None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return {**held, "killed_at_s": round(time.monotonic() - start, 2), "finished": finished}


def verify(url: str, paths: list[Path]) -> list[str]:
    import xarray as xr

    from arcoforge.verify import compare, open_sources

    return compare(xr.open_zarr(url), open_sources([str(p) for p in paths], "time"))


def run_case(case: cb.Case, fractions: list[float], extra: list[str], timeout: float) -> dict:
    recipe = case.dir / "recipe"
    recipe_id = cb.write_recipe(case, recipe)
    out = case.dir / "out"
    logs = case.dir / "logs"
    cleans = []
    for k in range(CLEAN_RUNS):  # the fastest: the strictest targets (a first run warms up)
        shutil.rmtree(out, ignore_errors=True)
        seconds, result = timed_run(forge_cmd(recipe, out, extra), logs / f"clean-{k}", timeout)
        cleans.append(seconds)
    clean_s = min(cleans)
    problems = verify(result["outputs"][0]["url"], case.paths)
    rows = [
        {
            "p": 0.0,
            "clean_s": round(clean_s, 2),
            "clean_runs_s": [round(c, 2) for c in cleans],
            "differences": len(problems),
        }
    ]
    cb.say(f"clean runs: {', '.join(f'{c:.1f}' for c in cleans)} s ({len(problems)} differences)")
    for p in fractions:
        shutil.rmtree(out, ignore_errors=True)
        held = killed_run(forge_cmd(recipe, out, extra), p * clean_s, out / ".forge" / recipe_id)
        resumed_s, result = timed_run(forge_cmd(recipe, out, extra), logs / f"resume-{p}", timeout)
        target = (1 - p) * clean_s + SLACK_S
        problems = verify(result["outputs"][0]["url"], case.paths)
        zarr = result["outputs"][0]
        row = {
            "p": p,
            **held,
            "resumed_s": round(resumed_s, 2),
            "target_s": round(target, 2),
            "met": resumed_s <= target,
            "tasks_skipped": zarr.get("tasks_skipped"),
            "differences": len(problems),
        }
        rows.append(row)
        cb.say(
            f"p={p:.0%}: {'finished before the kill' if held['finished'] else 'killed'} with "
            f"{held['fetched']} inputs fetched and {held['done']} + {held['early']} tasks "
            f"done + written early; resumed in {resumed_s:.1f} s (target {target:.1f} s) "
            f"{'met' if row['met'] else 'MISSED'}"
        )
    return {"case": case.size.describe(), "kind": case.kind, "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Resume benchmark, {report['date']}",
        "",
        f"Command: `{report['command']}`",
        "",
    ]
    for case in report["cases"]:
        clean = case["rows"][0]["clean_s"]
        runs = ", ".join(f"{c} s" for c in case["rows"][0].get("clean_runs_s", [clean]))
        lines += [
            f"## {case['case']} ({case['kind']}): clean run {clean} s (the fastest of {runs})",
            "",
            "| killed at | inputs fetched | tasks done + written early / all | resumed in "
            "| target | met | tasks skipped |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in case["rows"][1:]:
            ended = ", finished before" if r["finished"] else ""
            lines.append(
                f"| {r['p']:.0%} ({r['killed_at_s']} s{ended}) "
                f"| {r['fetched']} | {r['done']} + {r.get('early', 0)} / "
                f"{r['tasks'] if r['tasks'] is not None else '?'} | "
                f"{r['resumed_s']} s | {r['target_s']} s | {'yes' if r['met'] else 'no'} | "
                f"{r['tasks_skipped']} |"
            )
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1", help="data sizes in GiB (259 files each) [1]")
    p.add_argument("--fractions", default="0.1,0.3,0.5,0.7,0.9", help="kill points [0.1,...,0.9]")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--quick", action="store_true", help="20 files of 180×360: a smoke test")
    how.add_argument("--files", type=int, help="N full-size files instead of --sizes")
    p.add_argument("--forge-args", default="", help='extra forge run options, e.g. "--workers 1"')
    p.add_argument("--work", type=Path, default=cb.HERE / "work", help="work folder [bench/work]")
    p.add_argument("--results", type=Path, default=cb.HERE / "results", help="report folder")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per run [1800]")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cb.compile_package()
    fractions = [float(f) for f in args.fractions.split(",")]
    extra = args.forge_args.split()
    cases = []
    for size in cb.sizes_from(args):
        folder = cb.ensure_sources(args.work, "raw", size, size.files, args.work / "logs")
        server = cb.Server(folder, args.work / "server-resume.log")
        try:
            case = cb.Case(size, "raw", folder, server.url, args.work / f"resume-{size.key}")
            cases.append(run_case(case, fractions, extra, args.timeout))
        finally:
            server.stop()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M")
    report = {"date": date, "command": " ".join([sys.executable, *sys.argv]), "cases": cases}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"resume-{date}.json").write_text(json.dumps(report, indent=1))
    (args.results / f"resume-{date}.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if all(r.get("met", True) for c in cases for r in c["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
