"""``forge test``: a pruned run over a local HTTP server, opened, checked and reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from arcoforge.bot.testrun import TestLimits, run_test
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from tests.helpers import write_recipe


def _served_recipe(server: SourceServer, folder: Path, days: int = 6) -> Path:
    write_files(make_sst(days=days), server.root, steps=1, name="sst.{time:%Y%m%d}.nc")
    return write_recipe(
        folder / "demo-sst",
        {
            "sources": {
                "url": server.url + "/sst.{time:%Y%m%d}.nc",
                "concat": {
                    "time": {"start": "2020-01-01", "end": f"2020-01-{days:02d}", "freq": "D"}
                },
            },
            "outputs": {"zarr": {"chunks": {"time": 2}}},
        },
    )


def test_a_pruned_run_is_opened_checked_and_reported(
    http_server: SourceServer, tmp_path: Path
) -> None:
    recipe = _served_recipe(http_server, tmp_path)
    report = run_test(recipe, TestLimits(prune=3), lint=False)
    assert report.error is None, report.error
    assert report.ok
    assert report.dims["time"] == 3 and report.inputs == 3
    # only the first three files were fetched
    fetched = {r.path for r in http_server.requests if r.method == "GET"}
    assert fetched == {f"/sst.2020010{d}.nc" for d in (1, 2, 3)}
    source = xr.open_mfdataset(
        sorted(str(p) for p in http_server.root.glob("*.nc"))[:3], combine="by_coords"
    )
    assert report.dims == {k: int(v) for k, v in source.sizes.items()}
    assert report.variables["sst"]["dtype"] == str(source.sst.dtype)
    assert report.variables["sst"]["chunks"][0] == 2
    itemsize = np.dtype(report.variables["sst"]["dtype"]).itemsize
    assert (
        report.variables["sst"]["chunk_bytes"]
        == int(np.prod(report.variables["sst"]["chunks"])) * itemsize
    )
    assert report.time_range == [
        np.datetime_as_string(source.time.values[i], unit="s") for i in (0, -1)
    ]
    assert report.bytes_fetched == sum(
        (http_server.root / p.lstrip("/")).stat().st_size for p in fetched
    )
    names = {c.name: c for c in report.checks}
    assert names["zarr: dims"].ok and names["zarr: time increasing"].ok
    assert names["zarr: no empty variables"].ok and names["zarr: dtypes"].ok
    # tiny test chunks are far from 1-100 MB: a hint, which does not fail the run
    assert not names["zarr: chunk sizes"].ok and names["zarr: chunk sizes"].level == "hint"
    assert report.outputs[0]["open"] == 'xr.open_zarr("forge-output/demo-sst.zarr")'
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["ok"] is True and doc["kind"] == "arcoforge-test-report"
    md = report.to_markdown()
    assert "| dims | time | lat | lon |" in md and "| size | 3 | 36 | 72 |" in md
    assert '```python\nimport xarray as xr\n\nds = xr.open_zarr("forge-output/demo-sst.zarr")' in md


def test_a_variable_entirely_missing_fails_the_check(
    http_server: SourceServer, tmp_path: Path
) -> None:
    ds = make_sst(days=2)
    ds["sst"][:] = np.nan
    write_files(ds, http_server.root, steps=1, name="sst.{time:%Y%m%d}.nc")
    recipe = write_recipe(
        tmp_path / "empty-sst",
        {
            "sources": {
                "url": http_server.url + "/sst.{time:%Y%m%d}.nc",
                "concat": {"time": {"start": "2020-01-01", "end": "2020-01-02", "freq": "D"}},
            },
            "outputs": {"zarr": {"chunks": {"time": 2}}},
        },
    )
    report = run_test(recipe, TestLimits(prune=2), lint=False)
    missing = next(c for c in report.checks if c.name == "zarr: no empty variables")
    assert not missing.ok and "'sst'" in missing.message
    assert not report.ok


def test_a_run_over_the_byte_limit_is_stopped(http_server: SourceServer, tmp_path: Path) -> None:
    recipe = _served_recipe(http_server, tmp_path)
    one_file = (http_server.root / "sst.20200101.nc").stat().st_size
    report = run_test(recipe, TestLimits(prune=4, max_bytes=one_file), lint=False)
    assert report.error is not None and "more than the limit" in report.error
    assert f"{one_file:,}" in report.error and not report.ok
    assert report.bytes_fetched > one_file


def test_header_reads_of_references_count_against_the_byte_limit(
    http_server: SourceServer, tmp_path: Path
) -> None:
    recipe = _served_recipe(http_server, tmp_path, days=4)
    spec = recipe / "recipe.yaml"
    spec.write_text(
        spec.read_text().replace(
            "zarr:\n    chunks:\n      time: 2", "references:\n    format: json"
        )
    )
    fine = run_test(recipe, TestLimits(prune=4), lint=False)
    assert fine.error is None, fine.error
    assert (
        0
        < fine.bytes_fetched
        <= sum((http_server.root / f"sst.2020010{d}.nc").stat().st_size for d in range(1, 5))
    )
    stopped = run_test(recipe, TestLimits(prune=4, max_bytes=100), lint=False)
    assert stopped.error is not None and "more than the limit" in stopped.error


def test_a_run_over_the_time_limit_is_stopped(http_server: SourceServer, tmp_path: Path) -> None:
    recipe = _served_recipe(http_server, tmp_path, days=2)
    http_server.faults.delay["*"] = 3.0
    report = run_test(recipe, TestLimits(prune=2, max_seconds=0.5), lint=False)
    assert report.error is not None and "0.5 seconds" in report.error
    assert not report.ok


def test_a_broken_recipe_gives_a_failing_report(tmp_path: Path) -> None:
    folder = write_recipe(tmp_path / "broken", {"sources": {"url": "not a url"}})
    report = run_test(folder, lint=False)
    assert not report.ok and report.error and "recipe.yaml" in report.error
    assert report.checks == [] and "The run failed" in report.to_markdown()


def test_markdown_escapes_what_a_contributor_wrote() -> None:
    from arcoforge.bot.markdown import test_report_markdown

    doc = {
        "recipe": "x",
        "ok": False,
        "error": "<img src=x onerror=alert(1)> @everyone [link](https://evil.example) `code`",
        "checks": [{"name": "a|b", "ok": False, "level": "error", "message": "<b>"}],
    }
    md = test_report_markdown(doc)
    assert "<img" not in md and "<b>" not in md and "@everyone" not in md
    assert "](https://" not in md and "a\\|b" in md and "&lt;img src=x" in md
    assert "\\`code\\`" in md


def test_the_command_line_writes_both_reports_with_lint(
    http_server: SourceServer, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from arcoforge.cli import app

    recipe = _served_recipe(http_server, tmp_path, days=3)
    out_json, out_md = tmp_path / "report.json", tmp_path / "report.md"
    args = ["test", str(recipe), "--prune", "2", "--report-json", str(out_json)]
    done = CliRunner().invoke(app, [*args, "--report-md", str(out_md)])
    assert done.exit_code == 0, done.output
    doc = json.loads(out_json.read_text())
    assert doc["ok"] and doc["dims"]["time"] == 2 and doc["lint"]["ok"] is True
    # lint's hints (if any) are listed with their stable codes
    assert all(f["code"].startswith("FG") for f in doc["lint"]["findings"])
    assert "✓ zarr: dims" in done.output
    assert out_md.read_text().startswith("✅ **demo-sst**")

    lint_only = CliRunner().invoke(app, [*args, "--lint-only"])
    assert lint_only.exit_code == 0, lint_only.output
    doc = json.loads(out_json.read_text())
    assert doc["ran"] is False and doc["checks"] == [] and doc["lint"]["ok"] is True


def test_lint_errors_fail_the_report(http_server: SourceServer, tmp_path: Path) -> None:
    recipe = _served_recipe(http_server, tmp_path, days=2)
    meta = (recipe / "meta.yaml").read_text().replace("CC0-1.0", "not-a-license")
    (recipe / "meta.yaml").write_text(meta)
    report = run_test(recipe, TestLimits(prune=1), run=False)
    assert report.lint is not None and not report.lint["ok"]
    assert any(f["level"] == "error" and "license" in f["message"] for f in report.lint["findings"])
    assert not report.ok


def test_a_virtual_dataset_is_opened_and_checked_too(
    http_server: SourceServer, tmp_path: Path
) -> None:
    write_files(make_sst(days=4), http_server.root, steps=1, name="sst.{time:%Y%m%d}.nc")
    recipe = write_recipe(
        tmp_path / "virtual-sst",
        {
            "sources": {
                "url": http_server.url + "/sst.{time:%Y%m%d}.nc",
                "concat": {"time": {"start": "2020-01-01", "end": "2020-01-04", "freq": "D"}},
            },
            "outputs": {"zarr": {"chunks": {"time": 2}}, "references": {"format": "json"}},
        },
    )
    report = run_test(recipe, TestLimits(prune=3), lint=False)
    assert report.error is None and report.ok
    kinds = {c.name.split(":")[0] for c in report.checks}
    assert kinds == {"zarr", "references"}
    assert all(c.ok for c in report.checks if c.level == "error")
    assert [o["kind"] for o in report.outputs] == ["zarr", "references"]
    assert report.outputs[1]["open"].endswith(
        '("forge-output/virtual-sst.json", engine="kerchunk")'
    )
