"""Runners beyond this machine, Dataflow and Flink: their options, checked before anything runs.

Their workers run elsewhere, so everything they touch must be reachable from there:
the output and the cache in object storage, and ARCO Forge itself installed in the
container image the workers start from (``--sdk-container-image``). Neither runner
can start here without its service (Google Cloud, or a Flink cluster and Beam's Flink
job server), so they are checked as far as can be known locally.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from arcoforge.errors import UsageError

#: Where a remote worker can reach an output or cache.
OBJECT_STORES = ("gs://", "s3://", "az://", "abfs://")


@dataclass(frozen=True)
class RemoteOptions:
    """What a Dataflow or Flink run needs besides the recipe."""

    project: str | None = None
    region: str | None = None
    temp_location: str | None = None
    flink_master: str | None = None
    sdk_container_image: str | None = None


def check_remote(runner: str, remote: RemoteOptions, *, output: str, cache: str | None) -> None:
    """Refuse a Dataflow or Flink run that could not work, naming the option to fix."""
    if runner not in ("dataflow", "flink"):
        given = [f"--{k.replace('_', '-')}" for k, v in vars(remote).items() if v]
        if given:
            raise UsageError(
                f"{', '.join(given)}: options of --runner dataflow or flink. Got --runner "
                f"{runner}; drop them or choose that runner."
            )
        return
    needed = ["project", "region", "temp_location"] if runner == "dataflow" else ["flink_master"]
    needed.append("sdk_container_image")
    missing = [f"--{n.replace('_', '-')}" for n in needed if not getattr(remote, n)]
    if missing:
        raise UsageError(
            f"--runner {runner} needs {', '.join(missing)}. See docs/running-on-a-cluster.md for "
            "a complete command line and how to build the workers' image."
        )
    if runner == "dataflow" and not str(remote.temp_location).startswith("gs://"):
        raise UsageError(
            f"--temp-location: Dataflow stages its files in Cloud Storage; expected a gs:// URL. "
            f"Got {remote.temp_location!r}."
        )
    for option, value in (("--output", output), ("--cache", cache)):
        if value is not None and not value.startswith(OBJECT_STORES):
            raise UsageError(
                f"{option}: workers of --runner {runner} run on other machines and cannot reach "
                f"a local path; expected an object store URL (gs://, s3://, az://). Got {value!r}."
            )
    if runner == "dataflow" and not _has_gcp():
        raise UsageError(
            "--runner dataflow needs Beam's Google Cloud client libraries: "
            "pip install 'arcoforge[dataflow]' (apache-beam[gcp])."
        )


def _has_gcp() -> bool:
    """Whether apache-beam[gcp]'s clients are installed (found, not imported: that is slow)."""
    try:
        return all(
            importlib.util.find_spec(m) is not None for m in ("google.cloud.storage", "apitools")
        )
    except ModuleNotFoundError:  # a parent package (google.cloud) is missing
        return False


def remote_options(runner: str, remote: RemoteOptions) -> dict[str, Any]:
    """The Beam pipeline options of a checked Dataflow or Flink run."""
    if runner == "dataflow":
        return {
            "project": remote.project,
            "region": remote.region,
            "temp_location": remote.temp_location,
            "sdk_container_image": remote.sdk_container_image,
            # the image holds ARCO Forge and its dependencies: nothing to stage
            "sdk_location": "container",
        }
    return {
        "flink_master": remote.flink_master,
        "environment_type": "DOCKER",
        "environment_config": remote.sdk_container_image,
    }


def remote_runner(runner: str) -> Any:
    """Beam's runner object for ``runner`` (imported only when used)."""
    if runner == "dataflow":
        from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner

        return DataflowRunner()
    from apache_beam.runners.portability.flink_runner import FlinkRunner

    return FlinkRunner()
