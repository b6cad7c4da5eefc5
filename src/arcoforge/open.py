"""``open_dataset``: open any output of ``forge run`` with xarray, in one line."""

from __future__ import annotations

import json
from typing import Any

import xarray as xr


def open_dataset(
    url: str, id: str | None = None, *, storage_options: dict[str, Any] | None = None
) -> xr.Dataset:
    """Open a Zarr copy (``.zarr``), Kerchunk references (``.json``, ``.parquet``: its
    current version) or an Icechunk repository (``.icechunk``, its virtual chunk
    containers authorised).

    With ``id``, ``url`` is a catalog (its root or ``catalog.json``) and the dataset
    registered there as ``id`` is opened. ``storage_options`` reach the filesystem
    (e.g. an S3 endpoint).
    """
    if id is not None:
        from arcoforge.catalog.opening import open_entry

        return open_entry(url, id, storage_options=storage_options)
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
    if path.endswith(".icechunk"):
        return _open_icechunk(path, options)
    opened: xr.Dataset = xr.open_zarr(path, storage_options=options or None)
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


def _open_icechunk(url: str, options: dict[str, Any]) -> xr.Dataset:
    from arcoforge.targets.icechunk import BRANCH, IcechunkTarget, credentials, icechunk_module

    ic = icechunk_module()
    storage = IcechunkTarget(url, options).storage()
    prefixes = list(ic.Repository.open(storage).config.virtual_chunk_containers or {})
    repo = ic.Repository.open(storage, authorize_virtual_chunk_access=credentials(prefixes))
    opened: xr.Dataset = xr.open_zarr(repo.readonly_session(BRANCH).store, consolidated=False)
    return opened
