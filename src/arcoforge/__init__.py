"""ARCO Forge: turn scattered NetCDF archives into analysis-ready, cloud-optimized datasets.

The public names live here. The recipe model imports quickly; running
(``run_recipe``, ``RunOptions``) loads Apache Beam on first use, and
``open_dataset`` (any output, in one line) loads xarray on first use.
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
    ReferencesOutput,
    ZarrOutput,
    load_recipe,
)

if TYPE_CHECKING:
    from arcoforge.open import open_dataset
    from arcoforge.run import RunOptions, RunResult, run_recipe

_LAZY = {"RunOptions", "RunResult", "run_recipe"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from arcoforge import run

        return getattr(run, name)
    if name == "open_dataset":
        from arcoforge.open import open_dataset

        return open_dataset
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
    "ReferencesOutput",
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
    "open_dataset",
    "run_recipe",
]
