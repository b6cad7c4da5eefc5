"""The recipe model: pure data validated by pydantic. No Beam, no network."""

from arcoforge.recipe.load import load_recipe
from arcoforge.recipe.meta import Maintainer, Meta, Provider, ProviderRole
from arcoforge.recipe.pattern import ConcatDim, FilePattern, FileType, Index, MergeDim
from arcoforge.recipe.spec import (
    Compression,
    Outputs,
    RecipeSpec,
    ReferenceFormat,
    ReferencesOutput,
    ZarrOutput,
)
from arcoforge.recipe.validated import Preprocess, Recipe

__all__ = [
    "Compression",
    "ConcatDim",
    "FilePattern",
    "FileType",
    "Index",
    "Maintainer",
    "MergeDim",
    "Meta",
    "Outputs",
    "Preprocess",
    "Provider",
    "ProviderRole",
    "Recipe",
    "RecipeSpec",
    "ReferenceFormat",
    "ReferencesOutput",
    "ZarrOutput",
    "load_recipe",
]
