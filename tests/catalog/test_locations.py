"""The catalog read where it is published: object storage (moto S3) and a web server."""

from __future__ import annotations

from pathlib import Path

import intake
import xarray as xr

import arcoforge
from arcoforge.catalog import register, register_run
from arcoforge.catalog.store import CatalogRoot
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, run_recipe
from arcoforge.verify import compare, open_sources
from tests.helpers import write_recipe


def _references_run(server: SourceServer, tmp_path: Path, output: str) -> xr.Dataset:
    """Run a recipe writing JSON references to ``output`` and register it there."""
    files = write_files(make_sst(days=4, nlat=6, nlon=12), server.root, name="in{i:03d}.nc")
    urls = [f"{server.url}/{f.path.name}" for f in files]
    folder = write_recipe(
        tmp_path / "sst-refs",
        {"sources": {"urls": urls, "concat_dim": "time"}, "outputs": {"references": {}}},
    )
    recipe = load_recipe(folder)
    result = run_recipe(recipe, RunOptions(output=output, workers=1))
    register_run(recipe, result, output)
    return open_sources([str(f.path) for f in files], "time")


def test_catalog_on_s3(http_server: SourceServer, tmp_path: Path, s3_bucket: str) -> None:
    root = f"s3://{s3_bucket}/arco"
    sources = _references_run(http_server, tmp_path, root)
    copy = make_sst(days=3, nlat=6, nlon=12)
    copy.to_zarr(f"{root}/sst-copy.zarr", zarr_format=3)
    register([f"{root}/sst-copy.zarr"], root=root)

    catalog = CatalogRoot(f"{root}/catalog.json")
    assert catalog.ids() == ["sst-copy", "sst-refs"]
    assert catalog.collection("sst-refs")["assets"]["json"]["href"] == "../../sst-refs.json"
    assert compare(arcoforge.open_dataset(root, "sst-refs"), sources) == []
    opened = arcoforge.open_dataset(f"{root}/catalog.json", "sst-copy")
    assert compare(opened, xr.open_zarr(f"{root}/sst-copy.zarr")) == []
    read = intake.from_yaml_file(f"{root}/intake.yaml")["sst-refs"].read()
    assert compare(read, sources) == []


def test_catalog_from_a_web_server(http_server: SourceServer, tmp_path: Path) -> None:
    local = tmp_path / "root"
    sources = _references_run(http_server, tmp_path, str(local))
    copy = make_sst(days=3, nlat=6, nlon=12)
    copy.to_zarr(local / "sst-copy.zarr", zarr_format=3)
    register([str(local / "sst-copy.zarr")])
    # the whole root published as it is, by a web server
    with SourceServer(local) as web:
        catalog = CatalogRoot(f"{web.url}/catalog.json")
        assert catalog.ids() == ["sst-copy", "sst-refs"]
        assert catalog.asset_url("sst-refs", "../../sst-refs.json") == f"{web.url}/sst-refs.json"
        assert compare(arcoforge.open_dataset(f"{web.url}/catalog.json", "sst-refs"), sources) == []
        opened = arcoforge.open_dataset(web.url, "sst-copy")
        assert compare(opened, xr.open_zarr(local / "sst-copy.zarr")) == []
        read = intake.from_yaml_file(f"{web.url}/intake.yaml")["sst-copy"].read()
        assert compare(read, xr.open_zarr(local / "sst-copy.zarr")) == []
