"""Recipes whose end is "now": ``end: today`` and ``end: latest`` (probed over HTTP)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import SourceError, SourceNotFoundError
from arcoforge.lint import lint_paths
from arcoforge.recipe import load_recipe
from arcoforge.recipe.latest import MOST_PROBES, resolve_latest
from arcoforge.recipe.spec import today
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe


def _spec(url: str, start: str, end: str) -> dict:
    return {
        "sources": {
            "url": url + "/sst.{time:%Y%m%d}.nc",
            "concat": {"time": {"start": start, "end": end, "freq": "D"}},
        },
        "outputs": {"zarr": {"chunks": {"time": 3}}},
    }


def _days_ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).strftime("%Y-%m-%d")


def test_today_is_the_utc_date(tmp_path: Path) -> None:
    recipe = load_recipe(
        write_recipe(tmp_path / "sst", _spec("https://h.example", _days_ago(3), "today"))
    )
    keys = recipe.pattern.concat_dims[0].keys
    assert len(keys) == 4
    assert keys[-1] == dt.datetime.now(dt.UTC).replace(tzinfo=None).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


def test_latest_takes_the_newest_input_that_exists(
    http_server: SourceServer, tmp_path: Path
) -> None:
    start = today() - dt.timedelta(days=9)
    files = write_files(
        make_sst(start=start.strftime("%Y-%m-%d"), days=6, nlat=6, nlon=8), http_server.root
    )
    folder = write_recipe(tmp_path / "sst", _spec(http_server.url, _days_ago(9), "latest"))
    assert lint_paths([folder]).ok
    result = run_folder(folder, tmp_path / "out")
    assert result.inputs == 6
    sources = open_sources([str(f.path) for f in files], "time")
    assert compare(xr.open_zarr(result.zarr.url), sources) == []
    heads = [r for r in http_server.requests if r.method == "HEAD"]
    # newest first: today and the three days before it do not exist, the fifth does
    assert [r.path for r in heads[:5]] == [
        f"/sst.{(today() - dt.timedelta(days=n)):%Y%m%d}.nc" for n in range(5)
    ]


def test_latest_probes_at_most_64_inputs(http_server: SourceServer, tmp_path: Path) -> None:
    recipe = load_recipe(
        write_recipe(tmp_path / "sst", _spec(http_server.url, _days_ago(200), "latest"))
    )
    with pytest.raises(SourceNotFoundError, match="none exists"):
        resolve_latest(recipe)
    assert [r.method for r in http_server.requests] == ["HEAD"] * MOST_PROBES
    assert len({r.path for r in http_server.requests}) == MOST_PROBES


def test_latest_with_an_unreachable_server_names_the_url(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    recipe = load_recipe(write_recipe(tmp_path / "sst", _spec(url, _days_ago(3), "latest")))
    with pytest.raises(SourceError, match=rf"could not ask {url}/sst\.\d+\.nc"):
        resolve_latest(recipe)
