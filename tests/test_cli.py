"""The ``forge`` command as a person meets it: exit codes, output, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from tests.helpers import META, write_recipe


def forge(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arcoforge.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    files = write_files(make_sst(days=4), tmp_path / "src")
    return write_recipe(
        tmp_path / "my-sst",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 2}}},
        },
    )


@pytest.mark.parametrize("command", [[], ["run"], ["lint"], ["migrate"], ["demo"]])
def test_help_has_examples(command: list[str]) -> None:
    done = forge(*command, "--help")
    assert done.returncode == 0
    assert "Usage" in done.stdout
    if command:
        assert "xample" in done.stdout  # every command shows an example


def test_run_json(recipe: Path, tmp_path: Path) -> None:
    done = forge("run", str(recipe), "-o", str(tmp_path / "out"), "--workers", "1", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    url = str(tmp_path / "out" / "my-sst.zarr")
    assert result["id"] == "my-sst"
    [zarr] = result["outputs"]
    assert zarr["kind"] == "zarr" and zarr["url"] == url and zarr["zarr_format"] == 3
    assert zarr["compression"] == "lz4" and not zarr["up_to_date"]
    assert result["inputs"] == 4 and zarr["bytes_written"] == result["nbytes"] > 0
    assert result["seconds"] > 0 and result["sizes"] == {"time": 4, "lat": 36, "lon": 72}
    assert xr.open_zarr(url).sizes["time"] == 4


def test_run_summary_says_how_to_open(recipe: Path, tmp_path: Path) -> None:
    done = forge("run", str(recipe), "-o", "out", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote out/my-sst.zarr" in done.stdout
    assert 'xr.open_zarr("' + str(tmp_path / "out" / "my-sst.zarr") + '")' in done.stdout
    assert "time 4 × lat 36 × lon 72" in done.stdout
    assert "Fetching inputs" in done.stderr and "Writing chunks" in done.stderr
    again = forge("run", str(recipe), "-o", "out", "--workers", "1", cwd=tmp_path)
    assert "is up to date" in again.stdout


def test_run_references_json_and_summary(tmp_path: Path) -> None:
    files = write_files(make_sst(days=4), tmp_path / "src")
    outputs = {"zarr": {"chunks": {"time": 2}}, "references": {"format": "parquet"}}
    folder = write_recipe(
        tmp_path / "both",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": outputs,
        },
    )
    done = forge("run", str(folder), "-o", "out", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    zarr, refs = json.loads(done.stdout)["outputs"]
    url = str(tmp_path / "out" / "both.parquet")
    assert zarr["kind"] == "zarr"
    assert refs["kind"] == "references" and refs["format"] == "parquet" and refs["url"] == url
    assert refs["references"] > 0 and refs["stored_bytes"] > 0 and not refs["up_to_date"]

    only = write_recipe(
        tmp_path / "refs",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"references": {}},
        },
    )
    done = forge("run", str(only), "-o", "out", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote out/refs.json" in done.stdout and "nothing copied" in done.stdout
    path = tmp_path / "out" / "refs.json"
    assert f'xr.open_dataset("{path}", engine="kerchunk")' in done.stdout
    assert "Kerchunk JSON references" in done.stdout
    assert "Reading headers" in done.stderr and "Fetching inputs" not in done.stderr


def test_bad_recipe_is_one_clear_error(tmp_path: Path) -> None:
    folder = write_recipe(
        tmp_path / "bad",
        {
            "sources": {"urls": ["ftp://x/a.nc"], "concat_dim": "time"},
            "outputs": {"zarr": {"chunk": {"time": 2}}},
        },
    )
    done = forge("run", str(folder))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "recipe.yaml" in done.stderr and "unknown field 'chunk'" in done.stderr
    assert "Did you mean 'chunks'?" in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = forge("--debug", "run", str(tmp_path / "missing"))
    assert done.returncode == 1 and "Traceback" in done.stderr
    assert "expected a recipe folder" in done.stderr


def test_failure_in_a_worker_is_one_clear_error(recipe: Path, tmp_path: Path) -> None:
    (tmp_path / "src" / "sst.20200102.nc").write_bytes(b"<html>gone</html>")
    done = forge("run", str(recipe), "-o", str(tmp_path / "out"), "--workers", "2")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "sst.20200102.nc: expected a netCDF3 or netCDF4 file. Got an HTML page" in done.stderr


def test_lint(recipe: Path, tmp_path: Path) -> None:
    good = forge("lint", str(recipe))
    assert good.returncode == 0, good.stdout
    # local files serve this test; lint hints that the platform would need URLs
    assert "1 recipe folder checked: 0 errors, 1 hint" in good.stdout
    assert "FG018 hint: 4 of 4 inputs are local files" in good.stdout
    bad = write_recipe(tmp_path / "bad", {"outputs": {"zarr": {}}}, meta={**META, "license": "CC0"})
    done = forge("lint", str(recipe), str(bad))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"{bad}/meta.yaml:2: FG006 error: license:" in done.stdout
    assert "Did you mean 'CC0-1.0'?" in done.stdout


def test_bad_options() -> None:
    done = forge("run", ".", "--max-memory", "lots")
    assert done.returncode == 1 and "--max-memory: expected a size" in done.stderr
    done = forge("run", ".", "--scheduler", "tcp://127.0.0.1:1")
    assert done.returncode == 1 and "--scheduler needs --runner dask" in done.stderr


def test_demo(tmp_path: Path) -> None:
    done = forge(
        "demo", "--dir", "d", "--output", "o", "--days", "4", "--workers", "1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "verified: equal to the 4 source files" in done.stdout
    assert (tmp_path / "d" / "recipe" / "recipe.yaml").is_file()
    assert xr.open_zarr(tmp_path / "o" / "demo-sst-daily.zarr").sizes["time"] == 4
    catalog = json.loads((tmp_path / "o" / "catalog.json").read_text())
    assert [link["title"] for link in catalog["links"] if link["rel"] == "child"] == [
        "ARCO Forge demo: synthetic daily sea surface temperature"
    ]


def test_a_bug_is_reported_as_one(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import arcoforge.cli as cli
    import arcoforge.recipe

    def broken(*args, **kwargs):
        raise TypeError("simulated bug")

    monkeypatch.setattr(arcoforge.recipe, "load_recipe", broken)
    monkeypatch.setattr(cli, "_as_json", False)  # restored after the --json run below
    monkeypatch.setattr(sys, "argv", ["forge", "run", "anything"])
    assert cli.invoke() == 2
    err = capsys.readouterr().err
    assert "internal error: TypeError: simulated bug" in err and "--debug" in err
    monkeypatch.setattr(sys, "argv", ["forge", "--debug", "run", "anything"])
    assert cli.invoke() == 2  # a bug is a bug with --debug too, shown with its traceback
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raise TypeError("simulated bug")' in err
    monkeypatch.setattr(sys, "argv", ["forge", "run", "anything", "--json"])
    assert cli.invoke() == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "internal" and error["message"] == "TypeError: simulated bug"
    assert "test_cli.py:" in error["where"] and error["where"].endswith(" in broken")


def test_ctrl_c_says_the_run_can_be_started_again(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import arcoforge.cli as cli
    import arcoforge.recipe

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(arcoforge.recipe, "load_recipe", interrupted)
    monkeypatch.setattr(sys, "argv", ["forge", "run", "anything"])
    assert cli.invoke() == 130
    assert "interrupted: a run can be started again to finish." in capsys.readouterr().err
