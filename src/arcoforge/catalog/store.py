"""A catalog root: its documents read from a local folder, object storage or a web server.

Every href in the catalog is relative, so the same files work wherever they are
served from; :func:`resolve` turns an href into a URL against the document holding it.
"""

from __future__ import annotations

import json
import os
import posixpath
from typing import Any
from urllib.parse import urljoin, urlsplit

from arcoforge.errors import CatalogError
from arcoforge.location import Location

CATALOG = "catalog.json"
INTAKE = "intake.yaml"


def collection_name(id: str) -> str:
    """The path of dataset ``id``'s Collection below the root."""
    return f"collections/{id}/collection.json"


def root_of(url: str) -> str:
    """The root folder of a catalog given the root or its ``catalog.json``."""
    url = url.rstrip("/")
    if url.endswith("/" + CATALOG) or url == CATALOG:
        url = url[: -len(CATALOG)].rstrip("/") or "."
    if "://" not in url:
        return os.path.abspath(url)
    return url


def resolve(base: str, href: str) -> str:
    """``href`` as a URL or path, relative to the document at ``base``."""
    if "://" in href or href.startswith("/"):
        return href
    if base.startswith(("http://", "https://")):
        return urljoin(base, href)
    if "://" in base:
        scheme, rest = base.split("://", 1)
        return f"{scheme}://{posixpath.normpath(posixpath.join(posixpath.dirname(rest), href))}"
    return os.path.normpath(os.path.join(os.path.dirname(base), href))


def relative(target: str, base: str) -> str:
    """``target`` relative to the document at ``base`` where both live in one place."""
    t, b = urlsplit(target), urlsplit(base)
    if "://" not in target and "://" not in base:
        return os.path.relpath(target, os.path.dirname(base))
    if (t.scheme, t.netloc) == (b.scheme, b.netloc) and "://" in target:
        return posixpath.relpath(t.path, posixpath.dirname(b.path))
    return target


class CatalogRoot:
    """The folder or prefix holding ``catalog.json``, its Collections and ``intake.yaml``."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = root_of(url)
        self.location = Location(self.url, storage_options)

    def url_of(self, name: str) -> str:
        """The full URL (or local path) of ``name`` below the root."""
        return self.location.url_of(name)

    def read_bytes(self, name: str) -> bytes | None:
        """The content of ``name``, or None if there is none."""
        try:
            return bytes(self.location.fs.cat_file(self.location.path(name)))
        except FileNotFoundError:
            return None

    def read_json(self, name: str) -> dict[str, Any] | None:
        data = self.read_bytes(name)
        if data is None:
            return None
        try:
            return dict(json.loads(data))
        except ValueError as e:
            raise CatalogError(
                f"{self.url_of(name)}: expected a JSON document. Got text that does not "
                f"parse ({e}). Register a dataset again to rewrite it."
            ) from None

    def catalog(self) -> dict[str, Any]:
        """The root ``catalog.json``, or an error saying there is no catalog here."""
        doc = self.read_json(CATALOG)
        if doc is None:
            raise CatalogError(
                f"{self.url_of(CATALOG)}: expected a STAC catalog. Found nothing there. "
                "Run `forge run` or `forge catalog register OUTPUT_URL` to make one, or "
                "give --root."
            )
        return doc

    def ids(self) -> list[str]:
        """The ids of every registered dataset, in the catalog's order."""
        out = []
        for link in self.catalog().get("links", []):
            if link.get("rel") == "child":
                out.append(posixpath.basename(posixpath.dirname(link["href"])))
        return out

    def collection(self, id: str) -> dict[str, Any]:
        """The Collection dict of dataset ``id``, or an error listing those there are."""
        doc = self.read_json(collection_name(id))
        if doc is None:
            known = ", ".join(self.ids()) or "none"
            raise CatalogError(
                f"{self.url}: expected a dataset with id {id!r} in the catalog. "
                f"Registered ids: {known}."
            )
        return doc

    def collections(self) -> list[dict[str, Any]]:
        """Every registered Collection."""
        return [self.collection(id) for id in self.ids()]

    def asset_url(self, id: str, href: str) -> str:
        """An asset's href as a URL, relative to its Collection."""
        return resolve(self.url_of(collection_name(id)), href)
