"""What a run costs: its time on this machine and its cloud resources, from measured constants.

The constants are fitted to measured whole ``forge run`` processes (interpreter start to
exit) on a 2-core machine with sources on loopback HTTP:

* copies: a start-up, a cost per input (fetched, checksummed, cached, its header read)
  and one per byte, fitted to the plan and copy benchmarks' runs of many tiny inputs
  and of a few large ones;
* references: a start-up and a rate of headers read per second, fitted to the references
  benchmark's JSON runs of two sizes.

Which runs each constant is fitted to, and the arithmetic, are in bench/README.md
(*Measurements behind the design*).

A run whose sources are farther than loopback is bounded by the network as well: with
a bandwidth given, fetching the inputs takes at least their bytes over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Seconds of a copy run that do not grow with the data (imports, workers, publishing).
COPY_STARTUP_S = 2.64
#: Uncompressed target bytes one worker copies per second (350 MB/s).
COPY_BYTES_PER_WORKER_S = 350e6
#: Seconds one worker spends on each input of a copy besides its bytes.
COPY_INPUT_WORKER_S = 0.0075
#: Seconds of a references-only run that do not grow with the inputs.
REFERENCES_STARTUP_S = 2.27
#: Inputs whose headers one process reads per second.
REFERENCES_FILES_S = 486.0
#: Bytes a JSON reference takes per input and data variable (measured: bench/README.md).
REFERENCE_BYTES = 110


@dataclass(frozen=True)
class Prices:
    """Prices the user gives; a cost is reported only for the prices given."""

    egress_per_gb: float | None = None
    worker_hour: float | None = None
    storage_per_gb_month: float | None = None

    @property
    def any(self) -> bool:
        return any(
            p is not None for p in (self.egress_per_gb, self.worker_hour, self.storage_per_gb_month)
        )


@dataclass(frozen=True)
class Work:
    """What a run does, in the units the constants are measured in."""

    copy_bytes: int
    #: inputs a copy fetches and reads (0 without a copy)
    copy_inputs: int
    reference_inputs: int
    input_bytes: int
    header_bytes: int
    dataset_bytes: int
    cache_bytes: int


@dataclass(frozen=True)
class Costs:
    """Time on this machine and cloud resources of one run."""

    seconds: float
    workers: int
    network_bound: bool
    bytes_read: int
    bytes_written: int
    worker_hours: float
    cost: dict[str, float] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "workers": self.workers,
            "network_bound": self.network_bound,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "worker_hours": float(f"{self.worker_hours:.4g}"),
            "cost": self.cost,
        }


def estimate_costs(
    work: Work, *, workers: int, bandwidth: float | None = None, prices: Prices = Prices()
) -> Costs:
    """The run's time with ``workers`` processes here, and what it reads, writes and uses."""
    compute = 0.0
    worker_seconds = 0.0
    if work.copy_bytes:
        copy = work.copy_bytes / COPY_BYTES_PER_WORKER_S + work.copy_inputs * COPY_INPUT_WORKER_S
        compute += COPY_STARTUP_S + copy / workers
        worker_seconds += copy
    if work.reference_inputs:
        compute += REFERENCES_STARTUP_S + work.reference_inputs / REFERENCES_FILES_S
        worker_seconds += work.reference_inputs / REFERENCES_FILES_S
    read = work.input_bytes if work.copy_bytes else work.header_bytes
    fetch = read / bandwidth if bandwidth else 0.0
    seconds = max(compute, fetch + (COPY_STARTUP_S if work.copy_bytes else REFERENCES_STARTUP_S))
    written = work.dataset_bytes + work.cache_bytes
    hours = worker_seconds / 3600
    cost = None
    if prices.any:
        cost = {}
        if prices.egress_per_gb is not None:
            cost["egress"] = round(read / 1e9 * prices.egress_per_gb, 4)
        if prices.worker_hour is not None:
            cost["workers"] = round(hours * prices.worker_hour, 4)
        if prices.storage_per_gb_month is not None:
            cost["storage_per_month"] = round(
                work.dataset_bytes / 1e9 * prices.storage_per_gb_month, 4
            )
        cost["total"] = round(sum(cost.values()), 4)
    return Costs(
        seconds=seconds,
        workers=workers,
        network_bound=seconds > compute,
        bytes_read=read,
        bytes_written=written,
        worker_hours=hours,
        cost=cost,
    )
