"""Provenance of a registered dataset: what made it, from what, and when."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from typing import Any

#: The libraries whose versions a catalog entry records.
LIBRARIES = ("arcoforge", "xarray", "zarr", "apache-beam", "virtualizarr", "kerchunk", "icechunk")


def input_summary(
    attrs: dict[str, Any], result: Any | None = None, manifest: dict[str, int] | None = None
) -> tuple[int | None, int | None]:
    """The number of inputs and their total bytes, from the input manifest the output
    records (its summary), else from the run's result or the root attributes."""
    if manifest:
        return int(manifest["count"]), int(manifest["bytes"])
    count = getattr(result, "inputs", None) if result is not None else None
    if count is None and "arcoforge_inputs" in attrs:
        count = int(attrs["arcoforge_inputs"])
    return count, None


def versions() -> dict[str, str]:
    """The installed versions of the libraries that wrote and register the dataset."""
    out: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def now() -> str:
    """The current UTC time as STAC writes it."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def provenance(
    attrs: dict[str, Any], result: Any | None = None, manifest: dict[str, int] | None = None
) -> dict[str, Any]:
    """The ``arcoforge:provenance`` object of a Collection."""
    count, size = input_summary(attrs, result, manifest)
    seconds = getattr(result, "seconds", None) if result is not None else None
    return {
        "recipe_hash": attrs.get("arcoforge_recipe_fingerprint"),
        "inputs": count,
        "input_bytes": size,
        "versions": versions(),
        "writer_version": attrs.get("arcoforge_version"),
        "run_seconds": round(float(seconds), 3) if seconds is not None else None,
        "pruned": bool(attrs.get("arcoforge_pruned", 0)),
    }
