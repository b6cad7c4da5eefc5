"""Validating a catalog against the STAC schemas, extensions included, without the network.

pystac ships the core schemas. The two extension schemas the catalog uses are read from
a folder: ``--schemas DIR``, or the cache folder (``$ARCOFORGE_SCHEMA_CACHE``, else
``~/.cache/arcoforge/stac-schemas``), which ``forge catalog validate`` fills once from
the extensions' URLs where there is network. PROJJSON, which the datacube schema
refers to, comes with pyproj.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystac.validation import validate_dict
from pystac.validation.stac_validator import JsonSchemaSTACValidator

from arcoforge.catalog.datacube import DATACUBE
from arcoforge.catalog.outputs import XARRAY_ASSETS
from arcoforge.catalog.store import CATALOG, CatalogRoot, collection_name
from arcoforge.errors import CatalogError, CatalogValidationError

EXTENSIONS = (DATACUBE, XARRAY_ASSETS)
PROJJSON = "https://proj.org/schemas/v0.4/projjson.schema.json"


def cache_folder() -> Path:
    """Where extension schemas are kept once fetched."""
    env = os.environ.get("ARCOFORGE_SCHEMA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "arcoforge" / "stac-schemas"


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator that reads schemas only from what it was given."""

    def __init__(self, schemas: dict[str, dict[str, Any]], where: str):
        super().__init__()
        self.schema_cache.update(schemas)
        self.where = where

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        uri = schema_uri.rstrip("#")
        if uri not in self.schema_cache:
            raise CatalogValidationError(
                f"schema {uri}: expected it in {self.where}. It is not there, and "
                "validation never reaches the network. Give --schemas DIR with a copy, or run "
                "`forge catalog validate` once where there is network to fill the cache."
            )
        return self.schema_cache[uri]


def load_schemas(folder: Path) -> dict[str, dict[str, Any]]:
    """The JSON schemas in ``folder`` by their ``$id``, and PROJJSON from pyproj."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            schema = json.loads(path.read_text())
        except ValueError as e:
            raise CatalogError(f"{path}: expected a JSON schema. It does not parse: {e}.") from None
        uri = str(schema.get("$id") or schema.get("id") or "").rstrip("#")
        if uri:
            out[uri] = schema
    out.setdefault(PROJJSON, _projjson())
    return out


def _projjson() -> dict[str, Any]:
    from pyproj.datadir import get_data_dir

    return dict(json.loads((Path(get_data_dir()) / "projjson.schema.json").read_text()))


def fill_cache(folder: Path) -> None:
    """Fetch the extension schemas missing from ``folder`` (needs the network, once)."""
    folder.mkdir(parents=True, exist_ok=True)
    have = load_schemas(folder)
    for uri in EXTENSIONS:
        if uri in have:
            continue
        name = uri.split("//", 1)[1].split("/")[1] + "-" + uri.rsplit("/", 2)[1] + ".json"
        try:
            with urllib.request.urlopen(uri, timeout=30) as response:
                data = response.read()
            json.loads(data)
        except (OSError, ValueError) as e:
            raise CatalogValidationError(
                f"schema {uri}: expected to fetch it into the cache {folder}. That failed: {e}. "
                "Where there is no network, give --schemas DIR with copies of "
                f"{', '.join(EXTENSIONS)}."
            ) from None
        (folder / name).write_bytes(data)


def schema_name(uri: str) -> str:
    """A short name for a schema URL: ``STAC collection 1.1.0``, ``datacube v2.2.0``."""
    parts = uri.rstrip("#").split("/")
    if "schemas.stacspec.org" in uri:
        return f"STAC {parts[-1].removesuffix('.json')} {parts[3].lstrip('v')}"
    if "stac-extensions.github.io" in uri:
        return f"{parts[3]} {parts[4]}"
    return uri


@dataclass(frozen=True)
class Checked:
    """One validated object: where it is and the schemas it was checked against."""

    href: str
    schemas: list[str]


def validate_catalog(root: CatalogRoot, schemas: Path | None = None) -> list[Checked]:
    """Validate the root catalog and every Collection; raise on the first invalid object."""
    folder = schemas or cache_folder()
    if schemas is None:
        fill_cache(folder)
    elif not folder.is_dir():
        raise CatalogError(f"--schemas {folder}: expected a folder of JSON schemas. Found none.")
    validator = OfflineValidator(load_schemas(folder), str(folder))
    # pystac logs each failure with its traceback before raising; the error says it all
    logging.getLogger("pystac").setLevel(logging.CRITICAL)
    checked = []
    names = [CATALOG] + [collection_name(id) for id in root.ids()]
    for name in names:
        href = root.url_of(name)
        doc = root.read_json(name)
        if doc is None:
            raise CatalogValidationError(f"{href}: expected a STAC object. Found nothing there.")
        try:
            used = validate_dict(doc, href=href, validator=validator)
        except CatalogError:
            raise
        except Exception as e:
            raise CatalogValidationError(f"{href}: {e}") from None
        checked.append(Checked(href, [str(u) for u in used]))
    return checked
