"""The outputs of ``forge run`` as STAC assets: what each one is and what opens it."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

from arcoforge.errors import CatalogError

XARRAY_ASSETS = "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json"

#: Output kinds by the suffix ``forge run`` gives them.
KINDS = {".zarr": "zarr", ".json": "json", ".parquet": "parquet", ".icechunk": "icechunk"}

#: Storage option keys never written into a catalog: they hold secrets.
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "session")


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a dict key
class Output:
    """One output of a run: its URL, kind (zarr, json, parquet, icechunk) and how to reach it."""

    url: str
    kind: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def at(cls, url: str, storage_options: dict[str, Any] | None = None) -> Output:
        """The output at ``url``, its kind from its suffix."""
        path = url.rstrip("/")
        kind = KINDS.get(posixpath.splitext(path)[1])
        if kind is None:
            raise CatalogError(
                f"{url}: expected the URL of a forge run output ending in .zarr, .json, "
                f".parquet or .icechunk. Got {posixpath.basename(path)!r} instead."
            )
        return cls(path, kind, dict(storage_options or {}))

    @property
    def stem(self) -> str:
        """The file name without its suffix: the recipe id ``forge run`` named it after."""
        return posixpath.splitext(posixpath.basename(self.url))[0]

    def open(self) -> xr.Dataset:
        """Open the output with xarray (lazily, without Dask: a catalog reads little), or
        say why it cannot be opened."""
        from arcoforge.targets.opening import open_output

        try:
            return open_output(self.url, storage_options=self.storage_options, dask=False)
        except CatalogError:
            raise
        except Exception as e:
            raise CatalogError(
                f"{self.url}: expected a {self.kind} output that xarray can open. "
                f"Opening it failed: {type(e).__name__}: {e}. Check the URL and that the run "
                "that made it finished."
            ) from None


def public_options(options: dict[str, Any]) -> dict[str, Any]:
    """Storage options without secrets, fit to publish in a catalog."""
    return {
        k: v
        for k, v in options.items()
        if not any(word in k.lower() for word in _SECRET_WORDS) and _plain(v)
    }


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def asset_fields(output: Output, ds: xr.Dataset) -> dict[str, Any]:
    """The asset's media type, roles, title and xarray-assets fields for ``output``."""
    options = public_options(output.storage_options)
    if output.kind == "zarr":
        version = _zarr_format(output)
        fields: dict[str, Any] = {
            "type": f"application/vnd.zarr; version={version}",
            "roles": ["data", "zarr"],
            "title": f"Zarr copy (Zarr format {version})",
            "xarray:open_kwargs": {"engine": "zarr", "chunks": {}},
            "arcoforge:zarr_format": version,
        }
    elif output.kind in ("json", "parquet"):
        open_kwargs: dict[str, Any] = {"engine": "kerchunk", "chunks": {}}
        if output.kind == "parquet":
            sources = ds.attrs.get("arcoforge_sources") or ["file:///"]
            protocol = str(sources[0]).split("://", 1)[0]
            open_kwargs["storage_options"] = {"remote_protocol": protocol}
        fields = {
            "type": "application/vnd.zarr+kerchunk"
            if output.kind == "json"
            else "application/vnd.apache.parquet",
            "roles": ["data", "virtual", "references"],
            "title": f"Kerchunk references ({output.kind.upper()})",
            "xarray:open_kwargs": open_kwargs,
        }
        if output.kind == "parquet":
            # versions behind a pointer (latest.json): xarray opens the version it names
            fields["arcoforge:opener"] = "arcoforge.open_dataset"
    else:
        fields = {
            "type": "application/vnd.zarr+icechunk",
            "roles": ["data", "virtual"],
            "title": "Icechunk repository (virtual chunks; open with arcoforge)",
            "xarray:open_kwargs": {"engine": "zarr", "consolidated": False, "chunks": {}},
            "arcoforge:opener": "arcoforge.open_dataset",
        }
    if options:
        fields["xarray:storage_options"] = options
    fields["arcoforge:kind"] = output.kind
    return fields


def _zarr_format(output: Output) -> int:
    import zarr

    group = zarr.open_group(output.url, mode="r", storage_options=output.storage_options or None)
    return int(group.metadata.zarr_format)
