"""``forge catalog`` and the registration after ``forge run``, as a person meets them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from arcoforge.demo.dataset import make_sst, write_files
from tests.helpers import META, write_recipe
from tests.test_cli import forge


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root after `forge run` of a 360_day recipe, registered by the run itself."""
    files = write_files(make_sst(days=6, nlat=12, nlon=24, calendar="360_day"), tmp_path / "src")
    recipe = write_recipe(
        tmp_path / "sst-360",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {"chunks": {"time": 3}}, "references": {"format": "json"}},
        },
        meta={**META, "tags": ["ocean"]},
    )
    out = tmp_path / "out"
    done = forge("run", str(recipe), "-o", str(out), "--workers", "1", "--json")
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("command", ["register", "ls", "show", "validate", "html", "retract"])
def test_help_has_examples(command: str) -> None:
    done = forge("catalog", command, "--help")
    assert done.returncode == 0 and "Example" in done.stdout


def test_run_registers_and_catalog_commands_read_it(
    root: Path, tmp_path: Path, stac_schemas: Path
) -> None:
    done = forge("catalog", "ls", str(root), "--json")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["id"] == "sst-360" and row["status"] == "active"
    assert row["dims"] == {"time": 6, "lat": 12, "lon": 24} and row["kinds"] == ["zarr", "json"]
    assert row["start"] == "2020-01-01T12:00:00Z" and row["variables"] == ["anom", "sst"]

    table = forge("catalog", "ls", str(root))
    assert "1 dataset in" in table.stdout and "sst-360  active" in table.stdout
    assert "time 6, lat 12, lon 24 · 13.69 kiB · 2020-01-01 – 2020-01-06" in table.stdout

    show = forge("catalog", "show", "sst-360", "--root", str(root))
    assert show.returncode == 0, show.stderr
    assert "360_day calendar" in show.stdout and "│ sst  │ Daily sea surface" in show.stdout
    assert f'arcoforge.open_dataset("{root}", "sst-360")' in show.stdout
    assert f'intake.from_yaml_file("{root}/intake.yaml")["sst-360"].read()' in show.stdout

    valid = forge("catalog", "validate", str(root), "--schemas", str(stac_schemas))
    assert valid.returncode == 0, valid.stderr
    assert "2 objects valid" in valid.stdout
    assert "(STAC collection 1.1.0, datacube v2.2.0, xarray-assets v1.0.0)" in valid.stdout

    site = forge("catalog", "html", str(root), "--out", str(tmp_path / "site"))
    assert site.returncode == 0 and (tmp_path / "site" / "datasets" / "sst-360.html").exists()

    retracted = forge("catalog", "retract", "sst-360", "--reason", "bad mask", "--root", str(root))
    assert retracted.returncode == 0 and "retracted" in retracted.stdout
    shown = forge("catalog", "show", "sst-360", "--root", str(root), "--json")
    assert json.loads(shown.stdout)["arcoforge:retracted_reason"] == "bad mask"

    # registering again, with a changed meta.yaml: updated in place, still retracted
    recipe = tmp_path / "sst-360"
    (recipe / "meta.yaml").write_text(yaml.safe_dump({**META, "title": "Renamed SST"}))
    again = forge("catalog", "register", str(root / "sst-360.zarr"), "--recipe", str(recipe))
    assert again.returncode == 0, again.stderr
    assert "registered sst-360 (zarr, json" in again.stdout
    doc = json.loads(forge("catalog", "show", "sst-360", "--root", str(root), "--json").stdout)
    assert doc["title"] == "Renamed SST" and doc["arcoforge:status"] == "retracted"
    assert sorted(doc["assets"]) == ["json", "thumbnail", "zarr"]


def test_no_catalog_opt_out(tmp_path: Path) -> None:
    files = write_files(make_sst(days=2, nlat=4, nlon=8), tmp_path / "src")
    recipe = write_recipe(
        tmp_path / "quiet",
        {
            "sources": {"urls": [f.path.as_uri() for f in files], "concat_dim": "time"},
            "outputs": {"zarr": {}},
        },
    )
    done = forge("run", str(recipe), "-o", str(tmp_path / "out"), "--workers", "1", "--no-catalog")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "quiet.zarr").exists()
    assert not (tmp_path / "out" / "catalog.json").exists()
    assert not (tmp_path / "out" / "intake.yaml").exists()


def test_errors_are_one_clear_paragraph(tmp_path: Path, stac_schemas: Path) -> None:
    done = forge("catalog", "ls", str(tmp_path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "expected a STAC catalog" in done.stderr and "forge catalog register" in done.stderr

    done = forge("catalog", "register", str(tmp_path / "x.nc"))
    assert done.returncode == 1 and ".zarr, .json, .parquet or .icechunk" in done.stderr

    done = forge("catalog", "validate", str(tmp_path), "--schemas", str(tmp_path / "none"))
    assert done.returncode == 1 and "expected a folder of JSON schemas" in done.stderr


def test_validate_never_reaches_the_network(root: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no-schemas"
    empty.mkdir()
    done = forge("catalog", "validate", str(root), "--schemas", str(empty))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "datacube/v2.2.0/schema.json: expected it in" in done.stderr
    assert "never reaches the network" in done.stderr


def test_invalid_collection_is_reported(root: Path, stac_schemas: Path) -> None:
    path = root / "collections" / "sst-360" / "collection.json"
    doc = json.loads(path.read_text())
    doc["cube:dimensions"]["time"]["extent"] = "2020"
    path.write_text(json.dumps(doc))
    done = forge("catalog", "validate", str(root), "--schemas", str(stac_schemas))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "collections/sst-360/collection.json" in done.stderr and "datacube" in done.stderr
