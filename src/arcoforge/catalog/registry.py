"""Registering outputs into a catalog root, and changing an entry's status.

Each document shared by several datasets (``catalog.json``, ``intake.yaml``) and each
Collection is changed through a conditional read-modify-write, so registrations
running at once into the same root, on local disk or object storage, lose nothing.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from collections.abc import Sequence
from typing import Any

import xarray as xr

from arcoforge.catalog.collection import RETRACTED, SUPERSEDED, build_collection, merge
from arcoforge.catalog.intake_catalog import add_entries
from arcoforge.catalog.outputs import Output
from arcoforge.catalog.preview import render_preview
from arcoforge.catalog.provenance import now
from arcoforge.catalog.store import CATALOG, INTAKE, CatalogRoot, collection_name, relative
from arcoforge.errors import CatalogError

PREVIEW = "preview.png"
#: Which output a Collection describes its data from, best first (a copy knows its chunks).
_PREFERRED = ("zarr", "icechunk", "json", "parquet")


def register(
    urls: Sequence[str],
    *,
    root: str | None = None,
    storage_options: dict[str, Any] | None = None,
    meta: Any | None = None,
    result: Any | None = None,
    preview: bool = True,
) -> dict[str, Any]:
    """Register the outputs at ``urls`` (one dataset) into the catalog at ``root``.

    ``root`` defaults to the folder holding the outputs; ``meta`` is the recipe's
    Meta, ``result`` the RunResult of the run that made them. Registering the same id
    again updates its entry in place. Returns the Collection as written.
    """
    if not urls:
        raise CatalogError("register: expected at least one output URL. Got none.")
    outputs = [Output.at(u, storage_options) for u in urls]
    opened = {o: o.open() for o in outputs}
    id = _dataset_id(opened)
    catalog = CatalogRoot(root or posixpath.dirname(outputs[0].url), storage_options)
    main = min(opened, key=lambda o: _PREFERRED.index(o.kind))
    collection = build_collection(
        id, opened[main], opened, meta=meta, result=result, manifest=_manifest(main)
    )
    doc = collection.to_dict(include_self_link=False, transform_hrefs=False)
    name = collection_name(id)
    here = catalog.url_of(name)
    for asset in doc["assets"].values():
        asset["href"] = relative(asset["href"], here)
    picture_at = f"{posixpath.dirname(name)}/{PREVIEW}"
    # a run that changed nothing keeps the picture drawn when the data last changed
    where = catalog.location
    kept = preview and _unchanged(result) and where.fs.exists(where.path(picture_at))
    picture = render_preview(opened[main]) if preview and not kept else None
    if picture is not None:
        _write(catalog, picture_at, picture)
    if picture is not None or kept:
        doc["assets"]["thumbnail"] = {
            "href": f"./{PREVIEW}",
            "type": "image/png",
            "title": "Preview of one time step",
            "roles": ["thumbnail"],
        }
    doc["links"] = _collection_links(doc.get("title") or id)
    docs = _documents(catalog)
    written = json.loads(docs.update(name, lambda old: _merged(doc, old)))
    docs.update(CATALOG, lambda old: _with_child(old, id, written.get("title") or id))
    docs.update(INTAKE, lambda old: add_entries(old, catalog, id, written))
    return dict(written)


def retract(
    root: str,
    id: str,
    *,
    reason: str | None = None,
    superseded_by: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Mark dataset ``id`` retracted (with a reason) or superseded (by another id).

    The entry stays listed, with its status; its data is left where it is.
    """
    if (reason is None) == (superseded_by is None):
        raise CatalogError(
            f"retract {id}: expected either a reason (--reason) or the id that replaces it "
            "(--superseded-by). Got " + ("both." if reason else "neither.")
        )
    catalog = CatalogRoot(root, storage_options)
    catalog.collection(id)  # a clear error if there is no such dataset
    if superseded_by is not None:
        if superseded_by == id:
            raise CatalogError(f"retract {id}: a dataset cannot supersede itself.")
        catalog.collection(superseded_by)

    def change(old: bytes | None) -> bytes:
        if old is None:
            raise CatalogError(f"{catalog.url_of(collection_name(id))}: the entry disappeared.")
        doc = json.loads(old)
        doc["arcoforge:updated"] = now()
        doc.pop("arcoforge:retracted_reason", None)
        doc.pop("arcoforge:superseded_by", None)
        doc["links"] = [link for link in doc["links"] if link["rel"] != "successor-version"]
        if superseded_by is not None:
            doc["arcoforge:status"] = SUPERSEDED
            doc["arcoforge:superseded_by"] = superseded_by
            doc["links"].append(
                {
                    "rel": "successor-version",
                    "href": f"../{superseded_by}/collection.json",
                    "type": "application/json",
                }
            )
        else:
            doc["arcoforge:status"] = RETRACTED
            doc["arcoforge:retracted_reason"] = reason
        return _dump(doc)

    docs = _documents(catalog)
    written = json.loads(docs.update(collection_name(id), change))
    docs.update(INTAKE, lambda old: add_entries(old, catalog, id, written))
    return dict(written)


def _unchanged(result: Any | None) -> bool:
    """Whether ``result`` is of a run that found every output up to date."""
    return result is not None and bool(getattr(result, "up_to_date", False))


def _write(catalog: CatalogRoot, name: str, data: bytes) -> None:
    """Write a whole file at once (locally through a rename: readers never see a part)."""
    location = catalog.location
    path = location.path(name)
    if not location.is_local:
        location.fs.pipe_file(path, data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _manifest(output: Output) -> dict[str, int] | None:
    """The summary (count, bytes) of the input manifest ``output`` records, if any."""
    from arcoforge.targets.base import target_at

    found = target_at(output.kind, output.url, output.storage_options).manifest()
    return None if found is None else found.summary()


def _documents(catalog: CatalogRoot) -> Any:
    from arcoforge.conditional import Conditional

    return Conditional(catalog.location)


def _dataset_id(opened: dict[Output, xr.Dataset]) -> str:
    """The recipe id the outputs record (or their file name), the same for all of them."""
    ids = {o.url: str(ds.attrs.get("arcoforge_recipe") or o.stem) for o, ds in opened.items()}
    if len(set(ids.values())) > 1:
        found = ", ".join(f"{u} → {i}" for u, i in ids.items())
        raise CatalogError(
            f"expected outputs of one dataset, all with the same recipe id. Got {found}. "
            "Register each dataset on its own."
        )
    return next(iter(ids.values()))


def _collection_links(title: str) -> list[dict[str, Any]]:
    root = {"href": "../../catalog.json", "type": "application/json", "title": "ARCO Forge"}
    return [{"rel": "root", **root}, {"rel": "parent", **root}]


def _merged(new: dict[str, Any], old: bytes | None) -> bytes:
    return _dump(merge(new, json.loads(old) if old is not None else None))


def _with_child(old: bytes | None, id: str, title: str) -> bytes:
    """The root catalog with a child link to dataset ``id`` (added once, kept sorted)."""
    doc = json.loads(old) if old is not None else _empty_catalog()
    href = f"./{collection_name(id)}"
    children = [
        link for link in doc.get("links", []) if link["rel"] == "child" and link["href"] != href
    ]
    children.append({"rel": "child", "href": href, "type": "application/json", "title": title})
    children.sort(key=lambda link: link["href"])
    others = [link for link in doc.get("links", []) if link["rel"] != "child"]
    doc["links"] = others + children
    return _dump(doc)


def _empty_catalog() -> dict[str, Any]:
    return {
        "type": "Catalog",
        "stac_version": "1.1.0",
        "id": "arcoforge",
        "title": "ARCO Forge datasets",
        "description": "Analysis-ready, cloud-optimized datasets made by ARCO Forge.",
        "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json"}],
    }


def _dump(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def register_run(recipe: Any, result: Any, output: str, **options: Any) -> dict[str, Any]:
    """Register every output of a finished run into the catalog at its root ``output``."""
    from arcoforge.run import output_root

    urls = [o.url for o in result.outputs]
    return register(urls, root=output_root(output), meta=recipe.meta, result=result, **options)
