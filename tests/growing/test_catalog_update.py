"""After `forge run --update`, the catalog entry has the new temporal extent and version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arcoforge.catalog import register_run
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.recipe import load_recipe
from tests.helpers import run_folder, write_recipe


def _recipe(root: Path, url: str, end: str, outputs: dict[str, Any] | None = None) -> Path:
    spec = {
        "sources": {
            "url": url + "/sst.{time:%Y%m%d}.nc",
            "concat": {"time": {"start": "2020-01-01", "end": end, "freq": "D"}},
        },
        "outputs": outputs or {"zarr": {"chunks": {"time": 2}}},
    }
    return write_recipe(root / end / "sst", spec)


def test_catalog_entry_follows_the_updates(http_server: SourceServer, tmp_path: Path) -> None:
    write_files(make_sst(days=6, nlat=6, nlon=8), http_server.root)
    out = tmp_path / "out"
    entries = []
    for end, update in (("2020-01-03", False), ("2020-01-06", True), ("2020-01-06", True)):
        folder = _recipe(tmp_path, http_server.url, end)
        result = run_folder(folder, out, update=update)
        register_run(load_recipe(folder), result, str(out), preview=False)
        entries.append(json.loads((out / "collections" / "sst" / "collection.json").read_text()))
    first, grown, again = entries
    assert again["extent"] == grown["extent"]
    assert first["extent"]["temporal"]["interval"][0][1].startswith("2020-01-03")
    assert grown["extent"]["temporal"]["interval"][0][1].startswith("2020-01-06")
    assert [e["arcoforge:dataset_version"] for e in entries] == [1, 2, 2]
    assert first["arcoforge:updated"] <= grown["arcoforge:updated"]
    assert grown["arcoforge:updated"] == again["arcoforge:updated"]  # the no-op changed nothing
    assert grown["arcoforge:created"] == first["arcoforge:created"]
    assert grown["arcoforge:sizes"]["time"] == 6


@pytest.mark.parametrize("fmt", ["json", "parquet", "icechunk"])
def test_catalog_entry_of_references_follows_the_updates(
    http_server: SourceServer, tmp_path: Path, fmt: str
) -> None:
    write_files(make_sst(days=6, nlat=6, nlon=8), http_server.root)
    out = tmp_path / "out"
    entries = []
    for end, update in (("2020-01-03", False), ("2020-01-06", True), ("2020-01-06", True)):
        folder = _recipe(tmp_path / fmt, http_server.url, end, {"references": {"format": fmt}})
        result = run_folder(folder, out, update=update)
        register_run(load_recipe(folder), result, str(out), preview=False)
        entries.append(json.loads((out / "collections" / "sst" / "collection.json").read_text()))
    first, grown, again = entries
    assert first["extent"]["temporal"]["interval"][0][1].startswith("2020-01-03")
    assert grown["extent"]["temporal"]["interval"][0][1].startswith("2020-01-06")
    assert again["extent"] == grown["extent"]
    assert [e["arcoforge:dataset_version"] for e in entries] == [1, 2, 2]
    assert first["arcoforge:updated"] <= grown["arcoforge:updated"]
    assert grown["arcoforge:updated"] == again["arcoforge:updated"]  # the no-op changed nothing
    assert grown["arcoforge:created"] == first["arcoforge:created"]
    assert grown["arcoforge:sizes"]["time"] == 6
