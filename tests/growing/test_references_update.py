"""`forge run --update` on virtual datasets (Kerchunk JSON and Parquet, Icechunk): grown
over HTTP twice (the second a no-op), equal to a single full run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import icechunk
import pytest

import arcoforge
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import UpdateRefusedError
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions
from arcoforge.verify import PROVENANCE_PREFIX, compare, open_sources
from tests.helpers import run_folder, write_recipe
from tests.targets.harness import Faults, InjectedFailure, run_stages, seen, which

SUFFIX = {"json": ".json", "parquet": ".parquet", "icechunk": ".icechunk"}


def _recipe(root: Path, url: str, end: str, fmt: str) -> Path:
    spec = {
        "sources": {
            "url": url + "/sst.{time:%Y%m%d}.nc",
            "concat": {"time": {"start": "2020-01-01", "end": end, "freq": "D"}},
        },
        "outputs": {"references": {"format": fmt}},
    }
    return write_recipe(root / end / "sst", spec)


@pytest.mark.parametrize("fmt", ["json", "parquet", "icechunk"])
def test_references_grown_twice_equal_one_full_run(
    http_server: SourceServer, tmp_path: Path, fmt: str
) -> None:
    files = write_files(make_sst(days=8, nlat=6, nlon=8, seed=5), http_server.root)
    out = tmp_path / "out"
    run_folder(_recipe(tmp_path / "a", http_server.url, "2020-01-03", fmt), out)
    for end, appended in (("2020-01-06", 3), ("2020-01-08", 2), ("2020-01-08", 0)):
        grown = run_folder(_recipe(tmp_path / "b", http_server.url, end, fmt), out, update=True)
        assert grown.appended == appended and grown.to_json()["appended"] == appended
        assert grown.up_to_date == (appended == 0)
    url = str(out / f"sst{SUFFIX[fmt]}")
    full = run_folder(_recipe(tmp_path / "c", http_server.url, "2020-01-08", fmt), tmp_path / "f")
    got = arcoforge.open_dataset(url).load()
    want = arcoforge.open_dataset(full.references.url).load()
    want.attrs = {k: v for k, v in want.attrs.items() if not k.startswith(PROVENANCE_PREFIX)}
    assert compare(got, want) == []
    assert compare(got, open_sources([str(f.path) for f in files], "time")) == []
    if fmt == "icechunk":  # one commit per update that appended, naming what it added
        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(url))
        messages = [c.message for c in repo.ancestry(branch="main")]
        assert messages[0] == "sst: appended 2 inputs: " + ", ".join(
            f"{http_server.url}/sst.2020010{d}.nc" for d in (7, 8)
        )
        assert messages[1].startswith("sst: appended 3 inputs: ")
        assert len(messages) == 4  # the initial snapshot, the first run, two updates


def test_references_update_refuses_a_schema_change(
    http_server: SourceServer, tmp_path: Path
) -> None:
    write_files(make_sst(days=3, nlat=6, nlon=8), http_server.root)
    out = tmp_path / "out"
    run_folder(_recipe(tmp_path / "a", http_server.url, "2020-01-03", "json"), out)
    later = make_sst(start="2020-01-04", days=1, nlat=6, nlon=8).drop_vars("anom")
    write_files(later, http_server.root)
    refused = r"Different variables: .*sst\.20200104\.nc lacks 'anom'"
    with pytest.raises(UpdateRefusedError, match=refused):
        run_folder(_recipe(tmp_path / "b", http_server.url, "2020-01-04", "json"), out, update=True)


@pytest.mark.parametrize("fmt", ["json", "parquet", "icechunk"])
def test_references_update_killed_at_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    files = write_files(make_sst(days=5, nlat=6, nlon=8, seed=2), tmp_path / "src")
    uris = [f.path.as_uri() for f in files]

    def recipe(n: int) -> Any:
        spec = {
            "sources": {"urls": uris[:n], "concat_dim": "time"},
            "outputs": {"references": {"format": fmt}},
        }
        return load_recipe(write_recipe(tmp_path / f"r{n}" / "sst", spec))

    output = str(tmp_path / "out")
    url = f"{output}/sst{SUFFIX[fmt]}"
    paths = [str(f.path) for f in files]
    versions = {"old": open_sources(paths[:3], "time"), "new": open_sources(paths, "time")}
    options = RunOptions(output=output, update=True)
    run_stages(recipe(3), RunOptions(output=output))
    start = tmp_path / "start"
    shutil.copytree(output, start)
    with Faults().installed(monkeypatch) as counted:
        run_stages(recipe(5), options)
    assert which(seen(url), versions) == "new"
    assert counted.seen
    for step in range(1, len(counted.seen) + 1):
        shutil.rmtree(output)
        shutil.copytree(start, output)
        faults = Faults(fail_at=step)
        with faults.installed(monkeypatch), pytest.raises(Exception) as failed:
            run_stages(recipe(5), options)
        assert isinstance(failed.value.__cause__ or failed.value, InjectedFailure)
        now = which(seen(url), versions)
        assert now in ("old", "new"), f"step {step} ({faults.seen[-1]}): reader saw {now}"
        [result] = run_stages(recipe(5), options)  # run again: it finishes
        assert result["appended"] == (0 if now == "new" else 2)
        assert which(seen(url), versions) == "new"
