"""Shared helpers for the tests: recipe folders on disk and runs of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, RunResult, run_recipe

META: dict[str, Any] = {
    "title": "Synthetic daily SST",
    "description": "Test data made by arcoforge.demo.dataset.",
    "license": "CC0-1.0",
    "providers": [{"name": "ARCO Forge tests", "roles": ["producer", "host"]}],
    "maintainers": [{"name": "Test Person", "github": "test-person"}],
}


def write_recipe(
    folder: Path,
    spec: dict[str, Any] | None = None,
    *,
    meta: dict[str, Any] | None = None,
    recipe_py: str | None = None,
) -> Path:
    """Write a recipe folder: meta.yaml, and recipe.yaml and/or recipe.py."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.yaml").write_text(yaml.safe_dump(meta if meta is not None else META))
    if spec is not None:
        (folder / "recipe.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    if recipe_py is not None:
        (folder / "recipe.py").write_text(recipe_py)
    return folder


def run_folder(folder: Path, output: Path, **options: Any) -> RunResult:
    """Load and run a recipe folder in-process (one worker unless told otherwise)."""
    options.setdefault("workers", 1)
    return run_recipe(load_recipe(folder), RunOptions(output=str(output), **options))
