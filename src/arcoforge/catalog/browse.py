"""What ``forge catalog ls`` and ``show`` print: rows, details and the lines that open a dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dask.utils import format_bytes

from arcoforge.catalog.collection import summary_time
from arcoforge.catalog.store import INTAKE, CatalogRoot


@dataclass(frozen=True)
class Row:
    """One dataset in a listing."""

    id: str
    title: str
    dims: dict[str, int]
    nbytes: int
    start: str | None
    end: str | None
    status: str
    variables: list[str]
    kinds: list[str]

    @property
    def size(self) -> str:
        return format_bytes(self.nbytes)

    @property
    def time_range(self) -> str:
        if self.start is None:
            return "-"
        return f"{self.start[:10]} – {(self.end or '…')[:10]}"

    @property
    def dims_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.dims.items())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "size": self.size}


def row(collection: dict[str, Any]) -> Row:
    """The listing row of a Collection dict."""
    start, end = summary_time(collection)
    variables = collection.get("cube:variables", {})
    return Row(
        id=collection["id"],
        title=collection.get("title") or collection["id"],
        dims=dict(collection.get("arcoforge:sizes", {})),
        nbytes=int(collection.get("arcoforge:nbytes", 0)),
        start=start,
        end=end,
        status=collection.get("arcoforge:status", "active"),
        variables=[k for k, v in variables.items() if v.get("type") == "data"],
        kinds=[
            a.get("arcoforge:kind", k)
            for k, a in collection.get("assets", {}).items()
            if "data" in a.get("roles", [])
        ],
    )


def rows(root: CatalogRoot) -> list[Row]:
    """Every registered dataset as a listing row."""
    return [row(c) for c in root.collections()]


def snippets(root_url: str, id: str, collection: dict[str, Any], assets: dict[str, str]) -> str:
    """Python that opens dataset ``id``: arcoforge, intake, and plain xarray per asset.

    ``assets`` maps asset keys to their resolved URLs.
    """
    lines = [
        "import arcoforge",
        f'ds = arcoforge.open_dataset("{root_url}", "{id}")',
        "",
        "# or with intake",
        "import intake",
        f'ds = intake.from_yaml_file("{root_url.rstrip("/")}/{INTAKE}")["{id}"].read()',
    ]
    for key, asset in collection.get("assets", {}).items():
        if "data" not in asset.get("roles", []) or asset.get("arcoforge:opener"):
            continue  # Icechunk and versioned Parquet: only arcoforge opens them whole
        kwargs = dict(asset.get("xarray:open_kwargs", {}))
        options = asset.get("xarray:storage_options")
        if options:
            kwargs["storage_options"] = {**kwargs.get("storage_options", {}), **options}
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        lines += ["", f"# or with xarray alone ({asset.get('title', key)})", "import xarray as xr"]
        lines.append(f'ds = xr.open_dataset("{assets[key]}", {args})')
    return "\n".join(lines)


def asset_urls(root: CatalogRoot, collection: dict[str, Any]) -> dict[str, str]:
    """Each asset's href resolved to a URL."""
    return {
        key: root.asset_url(collection["id"], asset["href"])
        for key, asset in collection.get("assets", {}).items()
    }
