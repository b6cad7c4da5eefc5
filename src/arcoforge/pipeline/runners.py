"""Choosing the Beam runner: the local DirectRunner or the Dask runner, never by code change.

The DirectRunner is built explicitly (Beam's FnApiRunner) so Beam never tries
to download a Prism binary first. With more than one worker it runs worker
processes, started by us so that their log lines go to a file instead of the
terminal, or worker threads of this process; with one, everything runs in-process.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from arcoforge.errors import ForgeError

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.runner import PipelineRunner

    from arcoforge.pipeline.remote import RemoteOptions


class RunnerName(StrEnum):
    DIRECT = "direct"
    DASK = "dask"
    #: beyond this machine (see arcoforge.pipeline.remote); cannot start without their service
    DATAFLOW = "dataflow"
    FLINK = "flink"


def default_workers() -> int:
    return os.cpu_count() or 1


@contextmanager
def runner(
    name: RunnerName | str,
    *,
    workers: int,
    scheduler: str | None = None,
    log_path: str = os.devnull,
    remote: RemoteOptions | None = None,
    threads: bool = False,
) -> Iterator[tuple[PipelineRunner, PipelineOptions]]:
    """A runner and its options; a local Dask cluster lives as long as the context.

    Worker processes of the DirectRunner append their log lines to ``log_path``. With
    ``threads``, its workers are threads of this process instead: for work that spends
    its time where the GIL is released (fetching, inflating, compressing), this spares
    each worker process starting and importing the stack.
    """
    common: dict[str, Any] = {
        "pickle_library": "cloudpickle",
        "default_sdk_harness_log_level": "WARNING",
        # The stages declare no type hints for Beam to check as it builds the pipeline;
        # its checks inspect every function's signature all the same (a third of the
        # time building takes)
        "pipeline_type_check": False,
    }
    from arcoforge.pipeline.quiet import beam

    PipelineOptions = beam.options.pipeline_options.PipelineOptions
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        # Failures reach the user as one clear error; Beam's own reports of them are
        # tracebacks from worker internals, shown with --debug.
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    name = RunnerName(name)
    if name in (RunnerName.DATAFLOW, RunnerName.FLINK):
        from arcoforge.pipeline.remote import RemoteOptions, remote_options, remote_runner

        settings = remote_options(name.value, remote or RemoteOptions())
        yield remote_runner(name.value), PipelineOptions(flags=[], **settings, **common)
        return
    if name is RunnerName.DIRECT:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner
        from apache_beam.transforms.environments import SubprocessSDKEnvironment

        environment: Any = None
        if workers > 1 and threads:
            # Each worker a thread that runs its bundles as the runner hands them over,
            # elements passed in memory: no gRPC server between them, and no timed flush
            # that could send an element cut in two (bench/README.md)
            from apache_beam.transforms.environments import EmbeddedPythonEnvironment

            environment = EmbeddedPythonEnvironment()
        elif workers > 1:
            command = f"{shlex.quote(sys.executable)} -m arcoforge.pipeline.worker"
            environment = SubprocessSDKEnvironment.from_command_string(
                f"{command} 2>>{shlex.quote(log_path)}"
            )
        options = PipelineOptions(flags=[], direct_num_workers=workers, **common)
        yield FnApiRunner(default_environment=environment), options
        return
    try:
        from apache_beam.runners.dask.dask_runner import DaskRunner
        from distributed import LocalCluster
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise ForgeError(
            "The Dask runner needs apache-beam[dask]: pip install 'apache-beam[dask]'"
        ) from e
    cluster = None
    if scheduler is None:
        logging.getLogger("distributed").setLevel(logging.ERROR)
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # nothing of a local run listens beyond this machine
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
            preload=["arcoforge.pipeline.worker_setup"],
        )
        scheduler = cluster.scheduler_address
    try:
        # Beam's Dask runner keeps a bag's partitions through every stage: give it
        # a few per worker, or it puts up to 128 elements in one partition.
        # Keyword options are named by their destinations ('address', not the flag
        # 'dask_client_address'): under the flag's name Beam drops them silently and
        # starts a default cluster of its own instead of using this one.
        options = PipelineOptions(flags=[], address=scheduler, npartitions=4 * workers, **common)
        yield DaskRunner(), options
    finally:
        if cluster is not None:
            cluster.close()
