"""Resolving ``end: latest``: the newest input that exists, found when a run starts.

The keys of such a concat dim run to today. The source is asked for them newest
first, one HEAD request each, stepping back by the range's ``freq``, at most
:data:`MOST_PROBES` times; the dim keeps its keys up to the newest that exists.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import fsspec

from arcoforge.errors import SourceAccessError, SourceError, SourceNotFoundError
from arcoforge.recipe.pattern import ConcatDim, FilePattern
from arcoforge.recipe.validated import Recipe

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
    # The fingerprints (of the recipe's text and code) also take the inputs it resolved to.
    urls = hashlib.sha256("\n".join(url for _, url in resolved.items()).encode()).hexdigest()
    return dataclasses.replace(
        recipe,
        pattern=resolved,
        fingerprint=_mixed(recipe.fingerprint, urls),
        sources_fingerprint=_mixed(recipe.sources_fingerprint, urls),
    )


def _mixed(fingerprint: str, urls: str) -> str:
    return hashlib.sha256(f"{fingerprint}{urls}".encode()).hexdigest()


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
    """Whether an input exists: one HEAD request over HTTP, one stat elsewhere."""

    def exists(url: str) -> bool:
        if url.startswith(("http://", "https://")):
            return asyncio.run(_head(url, storage_options.get("headers") or {}))
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
        try:
            fs.info(path)
        except FileNotFoundError:
            return False
        return True

    return exists


async def _head(url: str, headers: dict[str, str]) -> bool:
    """One HEAD request (redirects followed): True for 2xx, False for 404 and 410."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.head(url, allow_redirects=True, headers=headers) as response,
        ):
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as e:
        raise SourceError(
            f"end: latest: could not ask {url} whether it exists ({type(e).__name__}: {e}). "
            "Expected an answer from its server; check the URL and the network, or give an "
            "end date."
        ) from e
    if status in (404, 410):
        return False
    if status in (401, 403):
        raise SourceAccessError(
            f"end: latest: {url} answered HEAD with {status}. Expected access to the source; "
            "set its credentials (see docs/running.md, Storage and credentials)."
        )
    if not 200 <= status < 300:
        raise SourceError(
            f"end: latest: {url} answered HEAD with {status}. Expected 200 or 404; try "
            "again later, or give an end date."
        )
    return True
