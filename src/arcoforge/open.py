"""``open_dataset``: open any output of ``forge run`` with xarray, in one line."""

from __future__ import annotations

from typing import Any

import xarray as xr

from arcoforge.targets.opening import open_output


def open_dataset(
    url: str,
    id: str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    dask: bool = True,
) -> xr.Dataset:
    """Open a Zarr copy (``.zarr``), Kerchunk references (``.json``, ``.parquet``: its
    current version) or an Icechunk repository (``.icechunk``, its virtual chunk
    containers authorised).

    With ``id``, ``url`` is a catalog (its root or ``catalog.json``) and the dataset
    registered there as ``id`` is opened. ``storage_options`` reach the filesystem
    (e.g. an S3 endpoint). With ``dask=False`` Zarr and Icechunk variables are lazy
    without Dask (values read on access), which spares importing it.
    """
    if id is not None:
        from arcoforge.catalog.opening import open_entry

        return open_entry(url, id, storage_options=storage_options)
    return open_output(url, storage_options=storage_options, dask=dask)
