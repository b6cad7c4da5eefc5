"""Probing inputs where they lie, without fetching their data: sizes by HEAD, headers by range.

What :mod:`arcoforge.plan.estimate` learns of an archive before a run: the size of
some inputs (one metadata request each) and the header of a few (both edges of the
file, see :mod:`arcoforge.sources.fastheaders.edges`, and only the bytes the header needs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arcoforge.errors import PlanError, SourceError
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.sources.cache import CachedInput
from arcoforge.sources.fastheaders.edges import RangeFile
from arcoforge.sources.filetype import SNIFF_BYTES, check_declared, sniff
from arcoforge.sources.hdf5 import open_contents
from arcoforge.sources.headers import InputHeader, describe
from arcoforge.sources.retry import RetryPolicy
from arcoforge.sources.stores import registry_for, source_errors, store_prefix
from arcoforge.sources.virtual import fetch_sources

#: Metadata requests in flight at once.
MAX_HEADS_IN_FLIGHT = 32


@dataclass(frozen=True)
class ProbedHeader:
    """One input's header, read where it lies, and the bytes reading it fetched."""

    header: InputHeader
    size: int
    fetched: int


def as_url(url: str) -> str:
    """``url`` with a scheme: a local path becomes a ``file://`` URL."""
    return url if "://" in url else Path(url).absolute().as_uri()


def head_sizes(
    urls: Sequence[str],
    *,
    storage_options: dict[str, Any] | None = None,
    retry: RetryPolicy | None = None,
) -> list[int]:
    """The size in bytes of each of ``urls``, one metadata (HEAD) request each, concurrently."""
    if not urls:
        return []
    return asyncio.run(_heads([as_url(u) for u in urls], storage_options or {}, retry))


async def _heads(urls: list[str], options: dict[str, Any], retry: RetryPolicy | None) -> list[int]:
    import obstore

    limit = asyncio.Semaphore(MAX_HEADS_IN_FLIGHT)

    async def one(url: str) -> int:
        registry = registry_for(url, options, retry or RetryPolicy())
        store, path = registry.resolve(url)
        async with limit:
            with source_errors(url):
                meta = await obstore.head_async(store, path)
        return int(meta["size"])

    return list(await asyncio.gather(*(one(u) for u in urls)))


def read_headers(
    items: Sequence[tuple[Index, str]],
    *,
    concat_dims: tuple[str, ...],
    file_type: FileType = FileType.AUTO,
    storage_options: dict[str, Any] | None = None,
    retry: RetryPolicy | None = None,
) -> list[ProbedHeader]:
    """The header of each input of ``items``, from its edges fetched concurrently.

    Raises the SourceError that names an input that could not be read.
    """
    by_store: dict[str, list[int]] = {}
    urls = [as_url(u) for _, u in items]
    for k, url in enumerate(urls):
        by_store.setdefault(store_prefix(url), []).append(k)
    sources: dict[int, RangeFile] = {}
    for positions in by_store.values():
        first = urls[positions[0]]
        registry = registry_for(first, storage_options or {}, retry or RetryPolicy())
        found = fetch_sources(registry, [urls[k] for k in positions])
        for k, result in zip(positions, found, strict=True):
            if isinstance(result, SourceError):
                raise result
            sources[k] = result
    return [
        _probe(index, url, sources[k], file_type, concat_dims)
        for k, ((index, _), url) in enumerate(zip(items, urls, strict=True))
    ]


def _probe(
    index: Index, url: str, source: RangeFile, declared: FileType, concat_dims: tuple[str, ...]
) -> ProbedHeader:
    with source_errors(url):
        found = check_declared(declared, sniff(source.pread(0, SNIFF_BYTES), url=url), url=url)
    if found is not FileType.NETCDF4:
        raise PlanError(
            f"{url}: forge plan reads netCDF4 (HDF5) headers by byte range; this input is "
            f"{found.value}. Run `forge run --prune 2` on the recipe to see its schema instead."
        )
    cached = CachedInput(
        url=url,
        path=url,
        size=source.size,
        sha256="",
        file_type=found,
        etag=source.etag,
        last_modified=source.last_modified,
    )
    with source_errors(url), open_contents(source) as contents:
        if contents is None:
            raise PlanError(
                f"{url}: its header uses HDF5 features only xarray's full reader opens (strings, "
                "compound types or dimensions without scales); forge plan cannot read it by "
                "range. Run `forge run --prune 2` on the recipe to see its schema instead."
            )
        dims = {str(d) for v in contents.variables.values() for d in v.dims}
        missing = sorted(set(concat_dims) - dims)
        if missing:
            raise PlanError(
                f"{url}: expected the concat dimension {missing[0]!r} in the input. Got "
                f"dimensions {sorted(dims)}."
                " Name a dimension the inputs have in sources.concat."
            )
        header = describe(contents.variables, contents.coord_names, contents.attrs, index, cached)
    return ProbedHeader(header, source.size, source.held_bytes)
