"""recipe.py is read, never run: hints for code that reaches outside at import."""

from __future__ import annotations

from pathlib import Path

from arcoforge.lint import lint_paths
from tests.lint.conftest import SPEC, write

RECIPE_PY = """\
import os
import subprocess
from urllib import request
from os import environ as env

TOKEN = os.environ["EARTHDATA_TOKEN"]
open("/tmp/marker-{name}", "w").write("ran")


def list_urls():
    return [line for line in request.urlopen("https://cmr.example.org")]


def urls():
    return list_urls()


def preprocess(ds, index):
    # Runs in the pipeline, not at import: no hint for what it reaches.
    subprocess.run(["true"])
    return ds.assign_attrs(user=env.get("USER"))


pattern = urls()
if __name__ == "__main__":
    print(os.getenv("HOME"))
"""


def test_recipe_py_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('ran')\n"
    folder = write(tmp_path / "sst", spec={"outputs": SPEC["outputs"]}, files={"recipe.py": code})
    report = lint_paths([folder])
    assert not marker.exists()
    # Only what can be known statically: no pattern assigned, and the file access.
    assert [(f.code, f.line) for f in report.findings] == [("FG003", None), ("FG014", 1)]
    assert "reaches files (open)" in report.findings[1].message


def test_hints_for_what_import_reaches(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "sst",
        spec={"outputs": SPEC["outputs"]},
        files={"recipe.py": RECIPE_PY.replace("{name}", tmp_path.name)},
    )
    report = lint_paths([folder])
    assert not Path(f"/tmp/marker-{tmp_path.name}").exists()
    assert report.ok, report.findings  # hints only
    got = [(f.code, f.line, f.message.split(" when ")[0]) for f in report.findings]
    assert got == [
        ("FG013", 2, "imports subprocess at the top level. Let the platform fetch the inputs "
         "(list them in `sources`) rather than fetching or running programs in the recipe."),
        ("FG013", 3, "imports urllib at the top level. Let the platform fetch the inputs "
         "(list them in `sources`) rather than fetching or running programs in the recipe."),
        ("FG014", 6, "reaches the environment (os.environ)"),
        ("FG014", 7, "reaches files (open)"),
        ("FG014", 24, "calls urls()"),
    ]  # fmt: skip
    assert (
        "which reaches the network (urllib.request.urlopen, line 11)" in report.findings[-1].message
    )


def test_a_clean_recipe_py_has_no_hints(tmp_path: Path) -> None:
    code = """\
from urllib.parse import quote

import pandas as pd
from arcoforge import ConcatDim, FilePattern


def make_url(time):
    return f"https://data.example.org/{quote('sea surface')}/{time:%Y%m%d}.nc"


pattern = FilePattern(make_url, ConcatDim("time", pd.date_range("2020-01-01", "2020-01-03")))


def preprocess(ds, index):
    return ds.drop_vars("lat_bnds", errors="ignore")
"""
    folder = write(tmp_path / "sst", spec={"outputs": SPEC["outputs"]}, files={"recipe.py": code})
    assert lint_paths([folder]).findings == []


def test_what_recipe_py_defines_is_checked_unrun(tmp_path: Path) -> None:
    code = """\
outputs = {"zarr": {"chunk": {"time": 2}}, "references": {}}


def preprocess(ds):
    return ds
"""
    folder = write(tmp_path / "sst", spec=None, files={"recipe.py": code})
    report = lint_paths([folder])
    got = [(f.code, f.line, f.message) for f in report.findings]
    assert got[0] == (
        "FG003",
        None,
        "expected `sources` in recipe.yaml or `pattern = ...` at the top level of recipe.py. "
        "Found neither.",
    )
    assert got[1][:2] == ("FG002", 1) and "outputs.zarr.chunk: unknown field 'chunk'" in got[1][2]
    assert got[2] == (
        "FG003",
        4,
        "`preprocess` must take two arguments, (ds, index). Got preprocess(ds) instead.",
    )
    assert got[3][:2] == ("FG003", 4) and "virtual dataset cannot show" in got[3][2]


def test_code_nested_too_deeply_does_not_crash_lint(tmp_path: Path) -> None:
    deep = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    folder = write(tmp_path / "sst", spec=SPEC, files={"recipe.py": deep})
    report = lint_paths([folder])
    assert [(f.code, Path(f.path).name) for f in report.findings] == [("FG001", "recipe.py")]


def test_a_recipe_file_stands_for_its_folder(tmp_path: Path) -> None:
    folder = write(tmp_path / "sst", spec=SPEC)
    assert lint_paths([folder / "recipe.yaml"]).folders == [str(folder)]


def test_forge_lint_does_not_run_recipe_py_but_forge_run_does(tmp_path: Path) -> None:
    from arcoforge.recipe import load_recipe
    from tests.test_cli import forge

    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    folder = write(tmp_path / "sst", spec=SPEC, files={"recipe.py": code})
    done = forge("lint", str(folder))
    assert done.returncode == 0, done.stdout  # a hint (FG014) only
    assert "FG014 hint" in done.stdout and not marker.exists()
    # Loading the recipe for a run imports it (nothing is fetched here).
    load_recipe(folder)
    assert marker.read_text() == "ran"
