"""Registrations running at once into one root lose no entry, on local disk and on S3."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import fsspec
import pytest
import yaml

from arcoforge.catalog.store import CatalogRoot
from arcoforge.demo.dataset import make_sst

N = 8

# the moto server and fsspec's event loop run in threads of this process; the children
# use neither before making their own
pytestmark = pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")


def _register(url: str, root: str) -> str:
    from arcoforge.catalog import register

    return str(register([url], root=root, preview=False)["id"])


def _race(urls: list[str], root: str) -> list[str]:
    # processes, not threads: each registration is its own writer, as separate runs are;
    # forked, so that each does not import the stack again
    with multiprocessing.get_context("fork").Pool(N) as pool:
        return pool.starmap(_register, [(u, root) for u in urls])


def _check(root: CatalogRoot, ids: list[str]) -> None:
    assert sorted(root.ids()) == sorted(ids)
    for id in ids:
        assert root.collection(id)["id"] == id
    intake_doc = yaml.safe_load(root.read_bytes("intake.yaml") or b"")
    assert sorted(intake_doc["entries"]) == sorted(ids)


def test_concurrent_registrations_on_local_disk(tmp_path: Path) -> None:
    ds = make_sst(days=2, nlat=4, nlon=8)
    urls = []
    for i in range(N):
        path = tmp_path / f"sst-{i}.zarr"
        ds.to_zarr(path, zarr_format=3, consolidated=False)
        urls.append(str(path))
    ids = _race(urls, str(tmp_path))
    assert sorted(ids) == [f"sst-{i}" for i in range(N)]
    _check(CatalogRoot(str(tmp_path)), ids)


def test_concurrent_registrations_on_s3(s3_bucket: str) -> None:
    ds = make_sst(days=2, nlat=4, nlon=8)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    urls = []
    for i in range(N):
        url = f"s3://{s3_bucket}/arco/sst-{i}.zarr"
        ds.to_zarr(url, zarr_format=3, consolidated=False)
        urls.append(url)
    root = f"s3://{s3_bucket}/arco"
    ids = _race(urls, root)
    catalog = CatalogRoot(root)
    catalog.location.fs.invalidate_cache()
    _check(catalog, ids)
    doc = json.loads(fs.cat_file(f"{s3_bucket}/arco/collections/sst-3/collection.json"))
    assert doc["assets"]["zarr"]["href"] == "../../sst-3.zarr"
