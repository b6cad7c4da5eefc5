"""Registration of every kind of output, opened back both ways (arcoforge and intake)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import intake
import pytest
import xarray as xr

import arcoforge
from arcoforge.catalog import register, register_run, retract, validate_catalog
from arcoforge.catalog.store import CatalogRoot
from arcoforge.demo.dataset import Format, make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import CatalogError
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, run_recipe
from arcoforge.verify import compare, open_sources
from tests.helpers import META, write_recipe


@dataclass
class Kind:
    """An output kind and the archive it is made from."""

    outputs: dict[str, Any]
    dataset: Callable[[], xr.Dataset]
    fmt: Format = "netcdf4"
    steps: int = 2


KINDS = {
    "zarr": Kind(
        {"zarr": {"chunks": {"time": 4}}},
        lambda: make_sst(days=10, nlat=12, nlon=24, calendar="360_day", start="2001-02-25"),
        fmt="netcdf3",
    ),
    "json": Kind({"references": {"format": "json"}}, lambda: make_sst(days=6, nlat=12, nlon=24)),
    "parquet": Kind(
        {"references": {"format": "parquet"}}, lambda: make_sst(days=4, nlat=12, nlon=24)
    ),
    "icechunk": Kind(
        {"references": {"format": "icechunk"}},
        lambda: make_sst(days=4, nlat=12, nlon=24, calendar="noleap"),
    ),
}

META_FULL = {
    **META,
    "tags": ["sea-surface-temperature", "ocean"],
    "citation": "Test Person (2026): Synthetic daily SST. https://doi.org/10.5281/zenodo.0000000",
    "providers": [
        {
            "name": "NOAA NCEI",
            "roles": ["producer", "licensor"],
            "url": "https://www.ncei.noaa.gov",
        },
        {"name": "ARCO Forge tests", "roles": ["host", "processor"]},
    ],
}


def _run(server: SourceServer, tmp_path: Path, name: str) -> tuple[Path, Any, list[str], str]:
    kind = KINDS[name]
    files = write_files(
        kind.dataset(), server.root / name, steps=kind.steps, fmt=kind.fmt, name="in{i:03d}.nc"
    )
    urls = [f"{server.url}/{name}/{f.path.name}" for f in files]
    folder = write_recipe(
        tmp_path / f"sst-{name}",
        {"sources": {"urls": urls, "concat_dim": "time"}, "outputs": kind.outputs},
        meta=META_FULL,
    )
    recipe = load_recipe(folder)
    root = tmp_path / "root"
    result = run_recipe(recipe, RunOptions(output=str(root), workers=1))
    register_run(recipe, result, str(root))
    engine = "scipy" if kind.fmt == "netcdf3" else "h5netcdf"
    return root, result, [str(f.path) for f in files], engine


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_registers_validates_and_opens_both_ways(
    http_server: SourceServer, tmp_path: Path, stac_schemas: Path, name: str
) -> None:
    root, _, files, engine = _run(http_server, tmp_path, name)
    id = f"sst-{name}"
    sources = open_sources(files, "time", engine=engine)

    catalog = CatalogRoot(str(root))
    assert catalog.ids() == [id]
    doc = catalog.collection(id)
    assert doc["title"] == META["title"] and doc["license"] == "CC0-1.0"
    assert doc["keywords"] == ["sea-surface-temperature", "ocean"]
    assert [p["roles"] for p in doc["providers"]] == [
        ["producer", "licensor"],
        ["host", "processor"],
    ]
    assert doc["arcoforge:maintainers"] == [{"name": "Test Person", "github": "test-person"}]
    assert doc["arcoforge:citation"] == META_FULL["citation"]
    assert doc["arcoforge:provenance"]["inputs"] == len(files)
    assert doc["arcoforge:provenance"]["input_bytes"] == sum(Path(f).stat().st_size for f in files)
    assert doc["arcoforge:provenance"]["recipe_hash"] == load_recipe(tmp_path / id).fingerprint
    assert doc["arcoforge:status"] == "active"
    asset = doc["assets"][name]
    assert asset["href"] == f"../../{id}.{name}"  # relative: the catalog can move
    assert doc["assets"]["thumbnail"]["type"] == "image/png"
    assert (root / "collections" / id / "preview.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(doc["cube:variables"]) == ["anom", "sst"]
    assert doc["cube:dimensions"]["time"]["extent"][0] == _first_time(sources)

    checked = validate_catalog(catalog, stac_schemas)
    assert len(checked) == 2
    assert any("datacube" in s for s in checked[1].schemas)
    assert any("xarray-assets" in s for s in checked[1].schemas)

    assert compare(arcoforge.open_dataset(str(root), id), sources) == []
    assert compare(arcoforge.open_dataset(str(root / "catalog.json"), id), sources) == []
    read = intake.from_yaml_file(str(root / "intake.yaml"))[id].read()
    assert compare(read, sources) == []

    # both catalogs hold relative locations: a copy of the root opens on its own
    moved = Path(shutil.copytree(root, tmp_path / "moved"))
    shutil.rmtree(root)
    assert compare(arcoforge.open_dataset(str(moved), id), sources) == []
    assert compare(intake.from_yaml_file(str(moved / "intake.yaml"))[id].read(), sources) == []


def _first_time(ds: xr.Dataset) -> str:
    from arcoforge.catalog.extents import iso, to_datetime

    return str(iso(to_datetime(ds.time.values[0])))


def test_360_day_dates_and_updating_in_place(http_server: SourceServer, tmp_path: Path) -> None:
    root, result, _, _ = _run(http_server, tmp_path, "zarr")
    doc = CatalogRoot(str(root)).collection("sst-zarr")
    # 2001-02-25 .. 2001-03-04 in 360_day: 30 February is shown as 28 February
    interval = doc["extent"]["temporal"]["interval"][0]
    assert interval == ["2001-02-25T12:00:00Z", "2001-03-04T12:00:00Z"]
    assert doc["arcoforge:calendar"] == "360_day"
    assert doc["cube:variables"]["sst"]["arcoforge:chunks"] == [4, 12, 24]
    created = doc["arcoforge:created"]

    retract(str(root), "sst-zarr", reason="wrong units")
    again = register([result.zarr.url], root=str(root), preview=False)
    assert again["arcoforge:created"] == created and again["arcoforge:status"] == "retracted"
    assert CatalogRoot(str(root)).ids() == ["sst-zarr"]
    assert "thumbnail" in again["assets"]  # kept from the first registration


def test_retract_and_supersede_keep_entries_listed(
    http_server: SourceServer, tmp_path: Path, stac_schemas: Path
) -> None:
    root, *_ = _run(http_server, tmp_path, "json")
    _run(http_server, tmp_path, "parquet")
    catalog = CatalogRoot(str(root))
    assert catalog.ids() == ["sst-json", "sst-parquet"]

    doc = retract(str(root), "sst-json", superseded_by="sst-parquet")
    assert (
        doc["arcoforge:status"] == "superseded" and doc["arcoforge:superseded_by"] == "sst-parquet"
    )
    assert {"rel": "successor-version", "href": "../sst-parquet/collection.json"}.items() <= {
        k: v for link in doc["links"] if link["rel"] == "successor-version" for k, v in link.items()
    }.items()
    doc = retract(str(root), "sst-parquet", reason="inputs were reprocessed")
    assert doc["arcoforge:retracted_reason"] == "inputs were reprocessed"
    assert catalog.ids() == ["sst-json", "sst-parquet"]
    validate_catalog(catalog, stac_schemas)
    entries = intake.from_yaml_file(str(root / "intake.yaml"))
    assert entries.entries["sst-parquet"].metadata["status"] == "retracted"

    with pytest.raises(CatalogError, match="either a reason"):
        retract(str(root), "sst-json")
    with pytest.raises(CatalogError, match=r"'nope'.*sst-json, sst-parquet"):
        retract(str(root), "nope", reason="x")


def test_register_refuses_what_is_not_an_output(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"ending in \.zarr.*'data\.nc'"):
        register([str(tmp_path / "data.nc")])
    with pytest.raises(CatalogError, match="xarray can open"):
        register([str(tmp_path / "missing.zarr")])
    with pytest.raises(CatalogError, match="expected a STAC catalog"):
        CatalogRoot(str(tmp_path)).catalog()


def test_register_without_meta_uses_dataset_attrs(tmp_path: Path, stac_schemas: Path) -> None:
    ds = make_sst(days=3, nlat=6, nlon=12)
    ds.to_zarr(tmp_path / "plain.zarr", zarr_format=2, consolidated=True)
    doc = register([str(tmp_path / "plain.zarr")], preview=False)
    assert doc["id"] == "plain" and doc["title"] == ds.attrs["title"] and doc["license"] == "other"
    assert doc["assets"]["zarr"]["type"] == "application/vnd.zarr; version=2"
    validate_catalog(CatalogRoot(str(tmp_path)), stac_schemas)
    opened = arcoforge.open_dataset(str(tmp_path), "plain")
    assert compare(opened, xr.open_zarr(tmp_path / "plain.zarr")) == []
    assert (opened.sst.values == ds.sst.values).sum() == (ds.sst.notnull()).sum()
    written = json.loads((tmp_path / "catalog.json").read_text())
    assert [link["href"] for link in written["links"] if link["rel"] == "child"] == [
        "./collections/plain/collection.json"
    ]


def _rotated_pole(days: int = 3) -> xr.Dataset:
    """A small rotated-pole grid (as regional climate models write), 2-D lat/lon in 0–360°."""
    import numpy as np

    rlat, rlon = np.linspace(-4.0, 4.0, 9), np.linspace(-6.0, 6.0, 13)
    pole_lat, pole_lon = np.deg2rad(39.25), np.deg2rad(-162.0)
    la, lo = np.meshgrid(np.deg2rad(rlat), np.deg2rad(rlon), indexing="ij")
    # rotated-pole to geographic coordinates (CF's rotated_latitude_longitude)
    sin_lat = np.sin(la) * np.sin(pole_lat) + np.cos(la) * np.cos(lo) * np.cos(pole_lat)
    lat = np.rad2deg(np.arcsin(sin_lat))
    lon = (
        np.rad2deg(
            pole_lon
            + np.pi
            + np.arctan2(
                np.cos(la) * np.sin(lo),
                np.sin(pole_lat) * np.cos(la) * np.cos(lo) - np.cos(pole_lat) * np.sin(la),
            )
        )
        % 360.0
    )
    time = xr.date_range("2030-01-01", periods=days, freq="D", calendar="noleap", use_cftime=True)
    tas = 280.0 + lat[None] * 0.1 + np.arange(days)[:, None, None]
    return xr.Dataset(
        {"tas": (("time", "rlat", "rlon"), tas, {"units": "K", "long_name": "Air temperature"})},
        coords={
            "time": time,
            "rlat": ("rlat", rlat, {"standard_name": "grid_latitude", "units": "degrees"}),
            "rlon": ("rlon", rlon, {"standard_name": "grid_longitude", "units": "degrees"}),
            "lat": (("rlat", "rlon"), lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": (("rlat", "rlon"), lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={"title": "Rotated-pole air temperature"},
    )


def test_rotated_pole_grid_gets_its_extent_and_preview(tmp_path: Path, stac_schemas: Path) -> None:
    ds = _rotated_pole()
    ds.to_zarr(tmp_path / "rcm-tas.zarr", zarr_format=3)
    doc = register([str(tmp_path / "rcm-tas.zarr")])
    west, south, east, north = doc["extent"]["spatial"]["bbox"][0]
    lon = ((ds.lon.values + 180) % 360) - 180
    assert (south, north) == (float(ds.lat.min()), float(ds.lat.max()))
    assert (west, east) == (float(lon.min()), float(lon.max())) and -180 <= west < east <= 180
    assert doc["arcoforge:spatial_extent_known"] is True
    assert doc["cube:dimensions"]["rlat"]["type"] == "other"
    assert doc["cube:variables"]["lat"]["dimensions"] == ["rlat", "rlon"]
    assert doc["extent"]["temporal"]["interval"][0] == [
        "2030-01-01T00:00:00Z",
        "2030-01-03T00:00:00Z",
    ]
    assert (tmp_path / "collections" / "rcm-tas" / "preview.png").read_bytes()[:4] == b"\x89PNG"
    validate_catalog(CatalogRoot(str(tmp_path)), stac_schemas)


def test_data_without_lat_lon_covers_the_globe_marked_unknown(tmp_path: Path) -> None:
    import numpy as np

    ds = xr.Dataset({"flow": (("station",), np.arange(4.0), {"units": "m3 s-1"})})
    ds.to_zarr(tmp_path / "gauges.zarr", zarr_format=3)
    doc = register([str(tmp_path / "gauges.zarr")])
    assert doc["extent"]["spatial"]["bbox"] == [[-180.0, -90.0, 180.0, 90.0]]
    assert doc["arcoforge:spatial_extent_known"] is False
    assert "thumbnail" not in doc["assets"] and doc["extent"]["temporal"]["interval"] == [
        [None, None]
    ]


def test_a_run_that_changed_nothing_keeps_its_preview(
    http_server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arcoforge.catalog import registry

    root, _, _, _ = _run(http_server, tmp_path, "zarr")
    picture = root / "collections" / "sst-zarr" / "preview.png"
    assert picture.exists()
    drawn: list[str] = []
    real = registry.render_preview
    monkeypatch.setattr(registry, "render_preview", lambda ds: drawn.append("x") or real(ds))
    recipe = load_recipe(tmp_path / "sst-zarr")
    again = run_recipe(recipe, RunOptions(output=str(root), workers=1))
    assert again.up_to_date
    doc = register_run(recipe, again, str(root))
    assert drawn == [] and doc["assets"]["thumbnail"]["href"] == "./preview.png"
    picture.unlink()  # gone: drawn again, as for a run that changed the data
    register_run(recipe, again, str(root))
    assert drawn == ["x"] and picture.exists()
    rebuilt = run_recipe(recipe, RunOptions(output=str(root), workers=1, overwrite=True))
    register_run(recipe, rebuilt, str(root))
    assert drawn == ["x", "x"]
