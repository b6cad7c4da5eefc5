"""ARCO Forge: turn scattered NetCDF archives into analysis-ready, cloud-optimized datasets.

The public names live here, each loaded on first use: the recipe model (pydantic,
pandas), running (``run_recipe``, ``RunOptions``: Apache Beam) and ``open_dataset``
(any output, in one line: xarray). Importing a submodule loads only what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arcoforge.errors import (
    ForgeError,
    IncompatibleInputsError,
    InputFormatError,
    InternalError,
    PipelineError,
    PlanError,
    RecipeError,
    SourceAccessError,
    SourceError,
    SourceNotFoundError,
    TargetError,
    TargetExistsError,
    UnrepresentableError,
    UnsafeUrlError,
)

if TYPE_CHECKING:
    from arcoforge.open import open_dataset
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
    from arcoforge.run import RunOptions, RunResult, run_recipe

_LAZY = {
    **dict.fromkeys(("RunOptions", "RunResult", "run_recipe"), "arcoforge.run"),
    "open_dataset": "arcoforge.open",
    **dict.fromkeys(
        (
            "ConcatDim",
            "FilePattern",
            "FileType",
            "Index",
            "MergeDim",
            "Meta",
            "Outputs",
            "Recipe",
            "ReferencesOutput",
            "ZarrOutput",
            "load_recipe",
        ),
        "arcoforge.recipe",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arcoforge' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The public names, loaded or not (not the submodules imported so far)."""
    return list(__all__)


__all__ = [
    "ConcatDim",
    "FilePattern",
    "FileType",
    "ForgeError",
    "IncompatibleInputsError",
    "Index",
    "InputFormatError",
    "InternalError",
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
    "UnrepresentableError",
    "UnsafeUrlError",
    "ZarrOutput",
    "load_recipe",
    "open_dataset",
    "run_recipe",
]
