"""A dataset as a STAC Collection: meta.yaml, the datacube, extents, provenance, assets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pystac
import xarray as xr

from arcoforge.catalog.datacube import DATACUBE, cube_dimensions, cube_variables
from arcoforge.catalog.extents import iso, space_extent, time_extent
from arcoforge.catalog.outputs import XARRAY_ASSETS, Output, asset_fields
from arcoforge.catalog.provenance import now, provenance

ACTIVE, RETRACTED, SUPERSEDED = "active", "retracted", "superseded"


def build_collection(
    id: str,
    ds: xr.Dataset,
    outputs: dict[Output, xr.Dataset],
    *,
    meta: Any | None = None,
    result: Any | None = None,
    manifest: dict[str, int] | None = None,
) -> pystac.Collection:
    """The Collection of dataset ``id`` (read from ``ds``) with one asset per output.

    ``manifest`` is the summary (count, bytes) of the input manifest the outputs record.

    Asset hrefs are the outputs' absolute URLs here; the registry makes them relative.
    """
    space, when = space_extent(ds), time_extent(ds)
    title = meta.title if meta is not None else str(ds.attrs.get("title") or id)
    description = (
        meta.description
        if meta is not None
        else str(ds.attrs.get("summary") or ds.attrs.get("description") or title)
    )
    collection = pystac.Collection(
        id=id,
        description=description,
        title=title,
        license=meta.license if meta is not None else "other",
        keywords=list(meta.tags) if meta is not None and meta.tags else None,
        providers=_providers(meta),
        extent=pystac.Extent(
            pystac.SpatialExtent([list(space.bbox)]),
            pystac.TemporalExtent([[when.start, when.end]]),
        ),
        stac_extensions=[DATACUBE, XARRAY_ASSETS],
        extra_fields={
            "cube:dimensions": cube_dimensions(ds),
            "cube:variables": cube_variables(ds),
            **_ours(ds, meta, result, manifest, space.known, when.calendar),
        },
    )
    for output, opened in outputs.items():
        fields = asset_fields(output, opened)
        collection.add_asset(
            output.kind,
            pystac.Asset(
                href=output.url,
                title=fields.pop("title"),
                media_type=fields.pop("type"),
                roles=fields.pop("roles"),
                extra_fields=fields,
            ),
        )
    return collection


def _providers(meta: Any | None) -> list[pystac.Provider] | None:
    if meta is None:
        return None
    return [
        pystac.Provider(
            name=p.name,
            roles=[pystac.ProviderRole(str(r)) for r in p.roles],
            url=str(p.url) if p.url else None,
            description=p.description,
        )
        for p in meta.providers
    ]


def _ours(
    ds: xr.Dataset,
    meta: Any | None,
    result: Any | None,
    manifest: dict[str, int] | None,
    space_known: bool,
    calendar: str | None,
) -> dict[str, Any]:
    """Our fields, prefixed ``arcoforge:``."""
    stamp = now()
    fields: dict[str, Any] = {
        "arcoforge:status": ACTIVE,
        "arcoforge:provenance": provenance(dict(ds.attrs), result, manifest),
        "arcoforge:version": ds.attrs.get("arcoforge_version"),
        "arcoforge:created": _utc(ds.attrs.get("arcoforge_created")) or stamp,
        # when the dataset last changed: registering it again unchanged keeps the time
        "arcoforge:updated": _utc(ds.attrs.get("arcoforge_updated"))
        or _utc(ds.attrs.get("arcoforge_created"))
        or stamp,
        # 1 when made, one more for each `forge run --update` that appended or filled in
        "arcoforge:dataset_version": int(ds.attrs.get("arcoforge_dataset_version", 1)),
        "arcoforge:sizes": {str(k): int(v) for k, v in ds.sizes.items()},
        "arcoforge:nbytes": int(ds.nbytes),
        "arcoforge:spatial_extent_known": space_known,
    }
    if calendar:
        fields["arcoforge:calendar"] = calendar
    if meta is not None:
        fields["arcoforge:maintainers"] = [
            {k: v for k, v in m.model_dump(mode="json").items() if v is not None}
            for m in meta.maintainers
        ]
        if citation := getattr(meta, "citation", None):
            fields["arcoforge:citation"] = citation
    return fields


def _utc(text: str | None) -> str | None:
    """An ISO 8601 time as STAC writes it (``2026-01-01T00:00:00Z``), or None."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """``new`` registered over ``old``: assets kept, status and creation time kept."""
    if old is None:
        return new
    merged = dict(new)
    merged["assets"] = {**old.get("assets", {}), **new.get("assets", {})}
    for key in ("arcoforge:status", "arcoforge:retracted_reason", "arcoforge:superseded_by"):
        if key in old:
            merged[key] = old[key]
    old_created = old.get("arcoforge:created")
    if old_created and old_created < new.get("arcoforge:created", old_created):
        merged["arcoforge:created"] = old_created
    links = {(link["rel"], link["href"]) for link in new.get("links", [])}
    merged["links"] = new.get("links", []) + [
        link for link in old.get("links", []) if (link["rel"], link["href"]) not in links
    ]
    return merged


def summary_time(collection: dict[str, Any]) -> tuple[str | None, str | None]:
    """The first and last time of a Collection dict."""
    interval = collection["extent"]["temporal"]["interval"][0]
    return interval[0], interval[1]


__all__ = ["ACTIVE", "RETRACTED", "SUPERSEDED", "build_collection", "iso", "merge"]
