"""Opening a cached input with xarray, the way every stage of the pipeline sees it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec
import xarray as xr

from arcoforge.errors import (
    IncompatibleInputsError,
    InputFormatError,
    RecipeError,
    SourceAccessError,
)
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.recipe.validated import Preprocess
from arcoforge.sources.cache import CachedInput

_ENGINES = {FileType.NETCDF4: "h5netcdf", FileType.NETCDF3: "scipy"}


@contextmanager
def local_path(cached: CachedInput, storage_options: dict[str, Any] | None = None) -> Iterator[str]:
    """A local path to the input's bytes, downloaded from a remote cache if need be."""
    if cached.is_local:
        yield cached.path
        return
    folder = tempfile.mkdtemp(prefix="arcoforge-")
    try:
        dest = os.path.join(folder, "input")
        fs, path = fsspec.core.url_to_fs(cached.path, **(storage_options or {}))
        fs.get_file(path, dest)
        yield dest
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def open_dataset(
    cached: CachedInput,
    index: Index,
    *,
    concat_dims: tuple[str, ...],
    preprocess: Preprocess | None = None,
    decode: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> Iterator[xr.Dataset]:
    """The input as a lazily loaded dataset: decoded (as xarray would) and preprocessed.

    With ``decode=False`` the values are the stored ones (packed, fill values
    in place, times as numbers), for copying without a decode/encode round trip.
    """
    with (
        local_path(cached, storage_options) as path,
        open_local(
            path, cached, index, concat_dims=concat_dims, preprocess=preprocess, decode=decode
        ) as ds,
    ):
        yield ds


@contextmanager
def open_local(
    path: str,
    cached: CachedInput,
    index: Index,
    *,
    concat_dims: tuple[str, ...],
    preprocess: Preprocess | None = None,
    decode: bool = True,
) -> Iterator[xr.Dataset]:
    """Like :func:`open_dataset`, for an input already at the local ``path``."""
    ds = _open(path, cached, decode)
    try:
        if preprocess is not None:
            ds = _preprocessed(ds, index, preprocess, cached.url)
        yield promote_concat_dims(ds, concat_dims, cached.url)
    finally:
        ds.close()


#: What xarray's engines raise for a file that is not of their format (h5py, scipy, netCDF4).
_NOT_NETCDF = (OSError, ValueError, TypeError, KeyError, IndexError)


def _open(path: str, cached: CachedInput, decode: bool) -> xr.Dataset:
    """Open with xarray; times whose units xarray cannot decode stay numbers.

    Real archives have units such as 'months since 1850-01-01' in the standard
    calendar, which xarray refuses to decode. Rather than failing, such inputs
    are read as with ``decode_times=False``: the times stay numbers with their
    units attribute, and combining checks that every input shares those units.
    """
    engine = _ENGINES[cached.file_type]
    try:
        return xr.open_dataset(path, engine=engine, decode_cf=decode, chunks=None, cache=False)
    except ValueError as first:
        if decode:
            try:
                return xr.open_dataset(
                    path, engine=engine, decode_times=False, chunks=None, cache=False
                )
            except _NOT_NETCDF:
                pass
        error: Exception = first
    except PermissionError as e:
        raise SourceAccessError(
            f"{cached.url}: its cached copy {path} cannot be read: permission denied. Check "
            "the permissions of the cache folder (--cache)."
        ) from e
    except _NOT_NETCDF as e:  # what the engines raise for bytes that are not their format
        error = e
    raise InputFormatError(
        f"{cached.url}: could not open it as {cached.file_type.value}: "
        f"{type(error).__name__}: {error}"
    ) from error


def _preprocessed(ds: xr.Dataset, index: Index, fn: Preprocess, url: str) -> xr.Dataset:
    try:
        out = fn(ds, index)
    except Exception as e:
        raise RecipeError(
            f"preprocess failed on {url} (input {index}) with {type(e).__name__}: {e}"
        ) from e
    if not isinstance(out, xr.Dataset):
        raise RecipeError(
            f"preprocess must return an xarray.Dataset. It returned a {type(out).__name__} "
            f"for {url}."
        )
    return out


def promote_concat_dims(ds: xr.Dataset, concat_dims: tuple[str, ...], url: str) -> xr.Dataset:
    """Turn a scalar coordinate named like a concat dim into a dimension of length 1."""
    for dim in concat_dims:
        if dim in ds.dims:
            continue
        if dim in ds.coords and ds[dim].ndim == 0:
            ds = ds.expand_dims(dim)
        else:
            raise IncompatibleInputsError(
                f"{url}: expected a dimension {dim!r} to concatenate along. Got dimensions "
                f"{', '.join(map(str, ds.dims)) or 'none'} instead. Check the concat dim's name "
                "in the recipe."
            )
    return ds
