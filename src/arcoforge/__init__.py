"""ARCO Forge: turn scattered NetCDF archives into analysis-ready, cloud-optimized datasets.

The public names live here. The recipe model imports quickly; running
(``run_recipe``, ``RunOptions``) loads Apache Beam on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arcoforge.errors import (
    ForgeError,
    IncompatibleInputsError,
    InputFormatError,
    PipelineError,
    PlanError,
    RecipeError,
    SourceAccessError,
    SourceError,
    SourceNotFoundError,
    TargetError,
    TargetExistsError,
    UnsafeUrlError,
)
from arcoforge.recipe import (
    ConcatDim,
    FilePattern,
    FileType,
    Index,
    MergeDim,
    Meta,
    Outputs,
    Recipe,
    ZarrOutput,
    load_recipe,
)

if TYPE_CHECKING:
    from arcoforge.run import RunOptions, RunResult, run_recipe

_LAZY = {"RunOptions", "RunResult", "run_recipe"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from arcoforge import run

        return getattr(run, name)
    raise AttributeError(f"module 'arcoforge' has no attribute {name!r}")


__all__ = [
    "ConcatDim",
    "FilePattern",
    "FileType",
    "ForgeError",
    "IncompatibleInputsError",
    "Index",
    "InputFormatError",
    "MergeDim",
    "Meta",
    "Outputs",
    "PipelineError",
    "PlanError",
    "Recipe",
    "RecipeError",
    "RunOptions",
    "RunResult",
    "SourceAccessError",
    "SourceError",
    "SourceNotFoundError",
    "TargetError",
    "TargetExistsError",
    "UnsafeUrlError",
    "ZarrOutput",
    "load_recipe",
    "run_recipe",
]
