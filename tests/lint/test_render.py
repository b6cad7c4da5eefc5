"""One report, three renderings: the terminal's, a machine's and the PR comment's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arcoforge.lint import LintReport, lint_paths, render
from tests.helpers import META
from tests.lint.conftest import SPEC, write
from tests.test_cli import forge


@pytest.fixture
def report(tmp_path: Path) -> LintReport:
    write(tmp_path / "recipes" / "good-sst", spec=SPEC)
    meta = {**META, "license": "Open <Data>", "maintainers": [{"name": "J", "github": "@jd"}]}
    spec = {**SPEC, "outputs": {"zarr": {"chunk_size": "2GB"}}}
    write(tmp_path / "recipes" / "bad-sst", meta=meta, spec=spec)
    return lint_paths([tmp_path / "recipes"], repo=tmp_path)


def test_text(report: LintReport) -> None:
    lines = render(report, "text").splitlines()
    assert lines[0].startswith("recipes/bad-sst/meta.yaml:3: FG006 error: license: expected")
    assert lines[1].startswith(
        "recipes/bad-sst/recipe.yaml:12: FG011 hint: outputs.zarr.chunk_size"
    )
    assert lines[-1] == "2 recipe folders checked: 1 error, 1 hint"


def test_json(report: LintReport) -> None:
    doc = json.loads(render(report, "json"))
    assert doc["ok"] is False and (doc["errors"], doc["hints"]) == (1, 1)
    assert doc["folders"] == ["recipes/bad-sst", "recipes/good-sst"]
    first = doc["findings"][0]
    assert first["code"] == "FG006" and first["level"] == "error"
    assert first["path"] == "recipes/bad-sst/meta.yaml" and first["line"] == 3
    assert first["summary"] == "The license is not an SPDX license expression"


def test_markdown(report: LintReport) -> None:
    text = render(report, "markdown")
    assert text.startswith("**Lint failed**")
    assert "`recipes/bad-sst/meta.yaml`" in text
    assert "- ❌ **FG006** line 3: license: expected an SPDX" in text
    assert "- 💡 **FG011** line 12: outputs.zarr.chunk_size" in text
    # Contributor text cannot open HTML in the comment.
    assert "Open &lt;Data&gt;" in text and "<Data>" not in text
    assert "FG006 (The license is not an SPDX license expression)" in text


def test_markdown_of_a_clean_report() -> None:
    assert render(LintReport(folders=["recipes/x"]), "markdown").startswith("**Lint passed**")


def test_cli_formats_and_exit_codes(report: LintReport, tmp_path: Path) -> None:
    done = forge("lint", "recipes", "--format", "json", "--repo", ".", cwd=tmp_path)
    assert done.returncode == 1
    assert json.loads(done.stdout)["errors"] == 1
    done = forge("lint", "recipes/good-sst", "--format", "markdown", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("**Lint passed**")
    done = forge("lint", cwd=tmp_path)
    assert done.returncode == 1 and "expected at least one PATH" in done.stderr
    done = forge("lint", "recipes", "--changed-from", "main", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "inside a git repository" in done.stderr
