"""The feedstock's scheduled workflow grows its dataset with `forge run --update`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from arcoforge.feedstock.render import FeedstockConfig, render
from tests.helpers import write_recipe


def _run_step(tmp_path: Path) -> str:
    recipe = write_recipe(
        tmp_path / "demo-sst",
        {
            "sources": {"urls": ["https://example.org/a.nc"], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 1}}},
        },
    )
    files = render(recipe, FeedstockConfig(schedule="0 6 * * 1")).files
    doc = yaml.safe_load(files[".github/workflows/run.yaml"])
    [job] = doc["jobs"].values()
    assert job["env"]["EVENT"] == "${{ github.event_name }}"
    [step] = [s for s in job["steps"] if s.get("name") == "Run the recipe"]
    return str(step["run"])


@pytest.mark.parametrize(("event", "update"), [("schedule", True), ("push", False)])
def test_scheduled_runs_update(tmp_path: Path, event: str, update: bool) -> None:
    script = _run_step(tmp_path)
    # the step's own bash, with `forge` a function that prints the arguments it was given
    shell = 'forge() { printf "%s\\n" "$@" > args.txt; }\n' + script
    env = {"EVENT": event, "OUTPUT": "s3://b/arco", "RUNNER": "direct", "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path, env=env, check=True)
    args = (tmp_path / "args.txt").read_text().split()
    assert args[:2] == ["run", "feedstock"] and "--json" in args
    assert ("--update" in args) == update
