"""Dataflow and Flink runs: their options are checked here, since neither can start here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.pipeline.remote import RemoteOptions, _has_gcp
from arcoforge.pipeline.runners import runner
from tests.helpers import write_recipe

DATAFLOW = [
    *("--project", "my-project", "--region", "europe-west1"),
    *("--temp-location", "gs://my-bucket/tmp", "--sdk-container-image", "img:1"),
]

FLINK = ["--runner", "flink", "--flink-master", "localhost:8081", "--sdk-container-image", "i"]


def forge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arcoforge.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    files = write_files(make_sst(days=2, nlat=18, nlon=36), tmp_path / "src")
    return write_recipe(
        tmp_path / "recipe",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 1}}},
        },
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--runner", "flink"], "--runner flink needs --flink-master, --sdk-container-image"),
        (
            ["--runner", "dataflow", "--project", "p"],
            "--runner dataflow needs --region, --temp-location, --sdk-container-image",
        ),
        (["--runner", "dataflow", *DATAFLOW], "--output: workers of --runner dataflow"),
        (
            ["--runner", "dataflow", *DATAFLOW[:5], "s3://b/tmp", *DATAFLOW[6:], "-o", "gs://b/o"],
            "--temp-location: Dataflow stages its files in Cloud Storage",
        ),
        (
            [*FLINK, "-o", "s3://b/o", "--cache", "/tmp/cache"],
            "--cache: workers of --runner flink run on other machines",
        ),
        (["--project", "p"], "--project: options of --runner dataflow or flink"),
    ],
)
def test_remote_runs_refuse_what_cannot_work(recipe: Path, args: list[str], expected: str) -> None:
    done = forge("run", str(recipe), *args)
    assert done.returncode == 1, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(_has_gcp(), reason="Beam's Google Cloud clients are installed here")
def test_dataflow_without_its_extra_says_how_to_install_it(recipe: Path) -> None:
    done = forge("run", str(recipe), "--runner", "dataflow", *DATAFLOW, "-o", "gs://b/out")
    assert done.returncode == 1
    assert "pip install 'arcoforge[dataflow]'" in done.stderr


def test_flink_options_reach_beam() -> None:
    remote = RemoteOptions(flink_master="flink.example:8081", sdk_container_image="img:1")
    with runner("flink", workers=2, remote=remote) as (beam_runner, options):
        assert type(beam_runner).__name__ == "FlinkRunner"
        found = options.get_all_options()
    assert found["flink_master"] == "flink.example:8081"
    assert found["environment_type"] == "DOCKER" and found["environment_config"] == "img:1"
