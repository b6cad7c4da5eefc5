"""Running a recipe: its options, the run itself, its progress and its results.

The work is split by job in :mod:`arcoforge.running`; these are its public names.
"""

from __future__ import annotations

from arcoforge.running.options import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_OUTPUT,
    IN_PROCESS_BYTES,
    RunOptions,
    output_root,
    run_context,
    workers_for,
)
from arcoforge.running.orchestrate import run_recipe
from arcoforge.running.progress import Progress
from arcoforge.running.results import Output, ReferencesResult, RunResult, ZarrResult

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_OUTPUT",
    "IN_PROCESS_BYTES",
    "Output",
    "Progress",
    "ReferencesResult",
    "RunOptions",
    "RunResult",
    "ZarrResult",
    "output_root",
    "run_context",
    "run_recipe",
    "workers_for",
]
