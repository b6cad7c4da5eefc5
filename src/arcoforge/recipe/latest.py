"""Resolving ``end: latest``: the newest input that exists, found when a run starts.

The keys of such a concat dim run to today. The source is asked for them newest
first, one HEAD request each, stepping back by the range's ``freq``, at most
:data:`MOST_PROBES` times; the dim keeps its keys up to the newest that exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import fsspec

from arcoforge.errors import SourceNotFoundError
from arcoforge.recipe.pattern import ConcatDim, FilePattern
from arcoforge.recipe.recipe import Recipe

#: The most HEAD requests one ``end: latest`` dim makes.
MOST_PROBES = 64

Exists = Callable[[str], bool]


def resolve_latest(recipe: Recipe, exists: Exists | None = None) -> Recipe:
    """``recipe`` with each ``end: latest`` concat dim cut at its newest existing input."""
    pattern = recipe.pattern
    if not any(isinstance(d, ConcatDim) and d.latest for d in pattern.dims):
        return recipe
    exists = exists or _exists_with(pattern.storage_options)
    dims = tuple(
        _cut(pattern, d, exists) if isinstance(d, ConcatDim) and d.latest else d
        for d in pattern.dims
    )
    resolved = FilePattern(
        pattern.format_function,
        *dims,
        file_type=pattern.file_type,
        storage_options=pattern.storage_options,
    )
    # the fingerprints are made again from the resolved inputs' URLs
    return dataclasses.replace(recipe, pattern=resolved, fingerprint="", sources_fingerprint="")


def _cut(pattern: FilePattern, dim: ConcatDim, exists: Exists) -> ConcatDim:
    """``dim`` with its keys up to the newest whose input exists."""
    probed = []
    for k in range(len(dim.keys) - 1, max(-1, len(dim.keys) - 1 - MOST_PROBES), -1):
        url = pattern.format_function(**_keys_at(pattern, dim.name, k))
        probed.append(url)
        if exists(url):
            return ConcatDim(dim.name, dim.keys[: k + 1], dim.items_per_file)
    raise SourceNotFoundError(
        f"end: latest of {dim.name!r}: expected an input at one of the {len(probed)} newest "
        f"dates; none exists (from {probed[0]} back to {probed[-1]}). Check the url template "
        f"and freq, or give an end date."
    )


def _keys_at(pattern: FilePattern, name: str, position: int) -> dict[str, Any]:
    """The template keys of the input at ``position`` of dim ``name``, the other dims at
    their first key."""
    return {d.name: d.keys[position if d.name == name else 0] for d in pattern.dims}


def _exists_with(storage_options: dict[str, Any]) -> Exists:
    def exists(url: str) -> bool:
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
        try:
            fs.info(path)
        except FileNotFoundError:
            return False
        return True

    return exists
