"""Errors keep their cause, carry a documented kind, and reach --json as one object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import arcoforge
from arcoforge import cli
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.errors import (
    KINDS,
    InternalError,
    SourceNotFoundError,
    UnrepresentableError,
    error_from_name,
)
from tests.helpers import run_folder, write_recipe

DOCS = Path(__file__).parents[1] / "docs" / "running.md"


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    files = write_files(make_sst(days=2, nlat=4, nlon=6), tmp_path / "src")
    return write_recipe(
        tmp_path / "tiny",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 1}}},
        },
    )


def test_every_kind_is_documented() -> None:
    text = DOCS.read_text()
    for kind in KINDS:
        assert f"`{kind}`" in text, f"docs/running.md does not list the error kind {kind!r}"


def test_errors_reported_by_name_keep_their_class_and_place() -> None:
    found = error_from_name("UnrepresentableError", "no", "reading x (a.py:3 in f)")
    assert isinstance(found, UnrepresentableError) and found.kind == "unrepresentable"
    assert found.to_json() == {
        "kind": "unrepresentable",
        "message": "no",
        "where": "reading x (a.py:3 in f)",
    }
    assert isinstance(error_from_name("SomethingElse", "?"), InternalError)


def test_a_bug_in_a_worker_is_internal_with_its_cause(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arcoforge.targets.zarr import ZarrTarget

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("lat/.zarray")

    monkeypatch.setattr(ZarrTarget, "write", broken)
    with pytest.raises(InternalError) as caught:
        run_folder(recipe, tmp_path / "out")
    error = caught.value
    assert error.exit_code == 2
    assert "failed with KeyError: 'lat/.zarray'" in str(error)
    assert error.where is not None and "test_errors.py" in error.where and "broken" in error.where
    assert error.__cause__ is not None  # --debug shows where it came from


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["forge", *args])
    monkeypatch.setattr(cli, "_as_json", False)
    return cli.invoke()


def test_json_failure_is_one_object_on_stdout(
    recipe: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import arcoforge.run

    def missing(*args: object, **kwargs: object) -> None:
        raise SourceNotFoundError("http://127.0.0.1:1/a.nc: not found (404).")

    monkeypatch.setattr(arcoforge.run, "run_recipe", missing)
    code = _main(monkeypatch, "run", str(recipe), "-o", str(tmp_path / "o"), "--json")
    assert code == 1
    found = json.loads(capsys.readouterr().out)
    assert found["error"]["kind"] == "source-not-found"
    assert found["error"]["message"] == "http://127.0.0.1:1/a.nc: not found (404)."
    assert "test_errors.py" in found["error"]["where"]


def test_unexpected_errors_exit_2_as_internal(
    recipe: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import arcoforge.run

    def bug(*args: object, **kwargs: object) -> None:
        raise KeyError("forecast_reference_time/.zarray")

    monkeypatch.setattr(arcoforge.run, "run_recipe", bug)
    code = _main(monkeypatch, "run", str(recipe), "-o", str(tmp_path / "o"), "--json")
    assert code == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["error"]["kind"] == "internal"
    assert "internal error" in err and "This is a bug in ARCO Forge" in err


def test_usage_errors_have_their_kind(
    recipe: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _main(monkeypatch, "run", str(recipe), "--max-memory", "lots", "--json")
    assert code == 1
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "usage"


def test_public_names_are_what_dir_shows() -> None:
    assert sorted(dir(arcoforge)) == sorted(arcoforge.__all__)
    for name in arcoforge.__all__:
        assert getattr(arcoforge, name) is not None


def test_importing_the_pipeline_says_nothing() -> None:
    code = (
        "import logging, arcoforge.run, arcoforge.pipeline.transforms; "
        "print(len(logging.getLogger().handlers))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0" and "apitools" not in done.stderr


def test_where_is_the_line_that_said_it_for_errors_raised_from_none() -> None:
    from arcoforge.errors import RecipeError, origin

    def parse() -> None:
        try:
            int("x")
        except ValueError:
            raise RecipeError("recipe.yaml: expected a number. Got 'x'.") from None

    try:
        parse()
    except RecipeError as e:
        where = origin(e)
    assert where is not None and where.endswith(" in parse")

    def convert() -> int:
        return int("x")

    try:
        try:
            convert()
        except ValueError as cause:
            raise RecipeError("recipe.yaml: expected a number.") from cause
    except RecipeError as e:
        where = origin(e)
    assert where is not None and where.endswith(" in convert")  # a kept cause is followed


def test_the_command_line_starts_without_beam() -> None:
    """Beam is imported where a pipeline is built: other commands, and a copy found up to
    date, start without it."""
    code = "import sys, arcoforge.cli, arcoforge.run; print('apache_beam' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
