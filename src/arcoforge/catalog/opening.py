"""Opening a registered dataset by id, from a catalog on disk, object storage or the web."""

from __future__ import annotations

from typing import Any

import xarray as xr

from arcoforge.catalog.store import CatalogRoot
from arcoforge.errors import CatalogError

#: The asset a dataset opens from, best first: a copy reads fastest.
ORDER = ("zarr", "icechunk", "json", "parquet")


def data_asset(collection: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The key and asset a dataset opens from."""
    assets = collection.get("assets", {})
    for key in ORDER:
        if key in assets:
            return key, assets[key]
    raise CatalogError(
        f"dataset {collection['id']!r}: expected a data asset ({', '.join(ORDER)}). "
        f"Got {', '.join(assets) or 'no assets'}. Register its outputs again."
    )


def open_entry(root: str, id: str, *, storage_options: dict[str, Any] | None = None) -> xr.Dataset:
    """Dataset ``id`` of the catalog at ``root`` (its folder, URL, or catalog.json)."""
    from arcoforge.targets.opening import open_output

    catalog = CatalogRoot(root, storage_options)
    collection = catalog.collection(id)
    _, asset = data_asset(collection)
    options = {**asset.get("xarray:storage_options", {}), **(storage_options or {})}
    return open_output(catalog.asset_url(id, asset["href"]), storage_options=options)
