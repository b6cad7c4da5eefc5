"""``ROOT/intake.yaml``: an intake 2 catalog beside the STAC catalog, one entry per dataset.

Zarr copies and Kerchunk JSON references are read by intake's own
``XArrayDatasetReader``; Icechunk repositories and Parquet references by
:class:`ArcoforgeReader`, through ``arcoforge.open_dataset``: it authorises Icechunk's
virtual chunks (intake's own Icechunk reading does not) and follows a Parquet output's
pointer to its current version (a reader given the folder reads fixed paths under it).
Reading those two kinds needs arcoforge installed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml
from intake.readers import datatypes
from intake.readers.entry import Catalog
from intake.readers.readers import BaseReader, XArrayDatasetReader

from arcoforge.catalog.opening import data_asset
from arcoforge.catalog.store import CatalogRoot, collection_name


class ArcoforgeReader(BaseReader):
    """Reads an output through ``arcoforge.open_dataset``: Icechunk (its virtual chunks
    authorised) and versioned Parquet references (through their pointer)."""

    output_instance = "xarray:Dataset"
    imports: ClassVar[set[str]] = {"arcoforge", "icechunk", "xarray"}
    func = "arcoforge.open:open_dataset"

    def _read(self, url: str, storage_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        from arcoforge.open import open_dataset

        return open_dataset(url, storage_options=storage_options)


def reader_for(url: str, asset: dict[str, Any], metadata: dict[str, Any]) -> BaseReader:
    """The intake reader of one STAC data asset at ``url``."""
    options = dict(asset.get("xarray:storage_options") or {})
    kind = asset.get("arcoforge:kind")
    if kind in ("icechunk", "parquet"):
        return ArcoforgeReader(url=url, storage_options=options or None, metadata=metadata)
    kwargs = dict(asset.get("xarray:open_kwargs") or {})
    # Kerchunk references open like a Zarr store (xarray's "kerchunk" engine)
    data = datatypes.Zarr(url, storage_options=options or None)
    return XArrayDatasetReader(data, metadata=metadata, **kwargs)


def _beside(root: CatalogRoot, url: str) -> str:
    """``url`` relative to the intake catalog's folder where it lies below it.

    intake fills in ``{CATALOG_DIR}`` when it reads the file, so the catalog keeps
    working when the root is moved, copied to object storage or served over HTTP.
    """
    prefix = root.url_of("")
    return "{CATALOG_DIR}/" + url[len(prefix) :] if url.startswith(prefix) else url


def add_entries(old: bytes | None, root: CatalogRoot, id: str, collection: dict[str, Any]) -> bytes:
    """``intake.yaml`` (``old``, or a new one) with dataset ``id``'s entry added or replaced."""
    cat = Catalog.from_dict(yaml.safe_load(old)) if old else Catalog()
    del cat[id]  # an entry named by its id, replaced whole (absent: nothing to remove)
    _, asset = data_asset(collection)
    metadata = {
        "title": collection.get("title"),
        "description": collection.get("description"),
        "status": collection.get("arcoforge:status", "active"),
        "stac": collection_name(id),  # relative to this file, as in the STAC catalog
    }
    if reason := collection.get("arcoforge:retracted_reason"):
        metadata["retracted_reason"] = reason
    if other := collection.get("arcoforge:superseded_by"):
        metadata["superseded_by"] = other
    cat[id] = reader_for(_beside(root, root.asset_url(id, asset["href"])), asset, metadata)
    return yaml.safe_dump(cat.to_dict(), sort_keys=True).encode()
