"""Opening an output of ``forge run`` with xarray: a Zarr copy, Kerchunk references, Icechunk."""

from __future__ import annotations

import json
from typing import Any

import xarray as xr


def open_output(
    url: str, *, storage_options: dict[str, Any] | None = None, dask: bool = True
) -> xr.Dataset:
    """Open a Zarr copy (``.zarr``), Kerchunk references (``.json``, ``.parquet``: its
    current version) or an Icechunk repository (``.icechunk``, its virtual chunk
    containers authorised). ``storage_options`` reach the filesystem (e.g. an S3 endpoint).
    With ``dask=False`` Zarr and Icechunk variables are lazy without Dask (values read on
    access), which spares importing it.
    """
    options = dict(storage_options or {})
    path = url.rstrip("/")
    if path.endswith(".json"):
        return xr.open_dataset(path, engine="kerchunk", storage_options=options or None)
    if path.endswith(".parquet"):
        path = _parquet_version(path, options)
        return xr.open_dataset(
            path,
            engine="kerchunk",
            storage_options={"remote_protocol": _parquet_protocol(path, options), **options},
        )
    chunking: dict[str, Any] = {} if dask else {"chunks": None}  # xarray's default, or none
    if path.endswith(".icechunk"):
        return _open_icechunk(path, options, chunking)
    opened: xr.Dataset = xr.open_zarr(path, storage_options=options or None, **chunking)
    return opened


def _parquet_version(url: str, options: dict[str, Any]) -> str:
    """The URL of the current version of a Parquet output (see ``targets.kerchunk``)."""
    from arcoforge.targets.kerchunk import KerchunkTarget

    target = KerchunkTarget(url, "parquet", options)
    version = target.version()
    if version is None:
        raise FileNotFoundError(f"{url}: no Kerchunk Parquet references are published here.")
    return target.url_of(version) if version else url


def _parquet_protocol(url: str, options: dict[str, Any]) -> str:
    """The protocol of the files the references point into (recorded at write time)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **options)
    meta = json.loads(fs.cat_file(f"{path}/.zmetadata"))
    attrs = meta["metadata"].get(".zattrs", {})
    attrs = json.loads(attrs) if isinstance(attrs, str) else attrs
    sources = attrs.get("arcoforge_sources") or ["file:///"]
    return str(sources[0]).split("://", 1)[0]


def _open_icechunk(url: str, options: dict[str, Any], chunking: dict[str, Any]) -> xr.Dataset:
    from arcoforge.targets.icechunk import BRANCH, IcechunkTarget, credentials, icechunk_module

    ic = icechunk_module()
    storage = IcechunkTarget(url, options).storage()
    prefixes = list(ic.Repository.open(storage).config.virtual_chunk_containers or {})
    repo = ic.Repository.open(storage, authorize_virtual_chunk_access=credentials(prefixes))
    store = repo.readonly_session(BRANCH).store
    opened: xr.Dataset = xr.open_zarr(store, consolidated=False, **chunking)
    return opened
