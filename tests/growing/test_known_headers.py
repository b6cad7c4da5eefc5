"""A run over a dataset made before (an update, a re-run, a resumed run) reads the
headers of new inputs only (and of one recorded input, as a check); the others are asked
for their identity by HEAD, their kept headers reused. ``--overwrite`` reads them all."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import SourceChangedError
from arcoforge.pipeline.known import KNOWN
from arcoforge.verify import compare, open_sources
from tests.helpers import run_folder, write_recipe

OLD, NEW = 200, 2


def _recipe(root: Path, url: str, days: int) -> Path:
    end = (pd.Timestamp("2020-01-01") + pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d")
    spec = {
        "sources": {
            "url": url + "/sst.{time:%Y%m%d}.nc",
            "concat": {"time": {"start": "2020-01-01", "end": end, "freq": "D"}},
        },
        # whole chunks of the recorded inputs: the update's tasks read only the new ones
        "outputs": {"zarr": {"chunks": {"time": 10}}},
    }
    return write_recipe(root / str(days) / "sst", spec)


def _requests(server: SourceServer, method: str) -> Counter[str]:
    return Counter(r.path.rsplit("/", 1)[-1] for r in server.requests if r.method == method)


@pytest.fixture
def grown_once(http_server: SourceServer, tmp_path: Path) -> tuple[list[Path], Path]:
    """200 daily inputs made into a dataset, then 2 more served: their paths, the output."""
    files = write_files(make_sst(days=OLD + NEW, nlat=4, nlon=6, seed=8), http_server.root)
    paths = [f.path for f in files]
    out = tmp_path / "out"
    run_folder(_recipe(tmp_path, http_server.url, OLD), out)
    return paths, out


@pytest.mark.parametrize("kept", [True, False], ids=["headers-kept", "headers-lost"])
def test_an_update_reads_the_headers_of_new_inputs_only(
    http_server: SourceServer, grown_once: tuple[list[Path], Path], tmp_path: Path, kept: bool
) -> None:
    paths, out = grown_once
    headers = out / ".forge" / KNOWN / "sst.pkl"
    assert headers.exists()
    if not kept:  # as an update finds it elsewhere (another machine, a cleared folder)
        headers.unlink()
    http_server.requests.clear()
    result = run_folder(_recipe(tmp_path, http_server.url, OLD + NEW), out, update=True)
    assert result.appended == NEW
    got = xr.open_zarr(result.zarr.url)
    assert compare(got, open_sources([str(p) for p in paths], "time")) == []
    gets, heads = _requests(http_server, "GET"), _requests(http_server, "HEAD")
    old = {p.name for p in paths[:OLD]}
    read_old = {name for name in gets if name in old}
    new = {p.name for p in paths[OLD:]}
    assert new <= set(gets)
    if kept:
        # the header of the last recorded input is read (the schema check); every other
        # recorded input gets one HEAD, no GET (here 10 GETs in all, not 408)
        assert read_old == {paths[OLD - 1].name}
        assert sum(gets.values()) <= 4 + 4 * NEW
        assert all(heads[n] == 1 for n in old - read_old)
    else:  # every header is read again: two GETs (its edges) each
        assert read_old == old
        assert sum(gets[n] for n in old) >= 2 * OLD


def test_a_changed_input_is_read_and_refused(
    http_server: SourceServer, grown_once: tuple[list[Path], Path], tmp_path: Path
) -> None:
    paths, out = grown_once
    again = make_sst(days=OLD + NEW, nlat=4, nlon=6, seed=9).isel(time=[50])
    write_files(again, http_server.root)
    with pytest.raises(SourceChangedError, match=paths[50].name):
        run_folder(_recipe(tmp_path, http_server.url, OLD + NEW), out, update=True)


@pytest.mark.parametrize("overwrite", [False, True], ids=["re-run", "overwrite"])
def test_a_re_run_asks_recorded_inputs_for_their_identity_only(
    http_server: SourceServer,
    grown_once: tuple[list[Path], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    overwrite: bool,
) -> None:
    from arcoforge.running import orchestrate

    paths, out = grown_once
    http_server.requests.clear()
    pipelines = []
    monkeypatch.setattr(orchestrate, "_execute", lambda *a: pipelines.append(orchestrate._execute))
    if overwrite:
        monkeypatch.undo()
    result = run_folder(_recipe(tmp_path, http_server.url, OLD), out, overwrite=overwrite)
    assert result.up_to_date is not overwrite
    assert not pipelines  # a dataset found up to date is found so without a pipeline
    gets, heads = _requests(http_server, "GET"), _requests(http_server, "HEAD")
    if overwrite:  # rebuilt from what the sources hold now: every header read again
        assert all(gets[p.name] >= 2 for p in paths[:OLD])
    else:  # one header read as a check, the rest one HEAD each
        assert {n for n in gets} == {paths[OLD - 1].name}
        assert all(heads[p.name] == 1 for p in paths[: OLD - 1])


def test_a_re_run_still_finds_a_changed_input(
    http_server: SourceServer, grown_once: tuple[list[Path], Path], tmp_path: Path
) -> None:
    paths, out = grown_once
    write_files(make_sst(days=OLD + NEW, nlat=4, nlon=6, seed=9).isel(time=[50]), http_server.root)
    with pytest.raises(SourceChangedError, match=paths[50].name):
        run_folder(_recipe(tmp_path, http_server.url, OLD), out)


@pytest.mark.parametrize("cut", [False, True], ids=["kept", "cut-short"])
def test_a_run_resumed_before_planning_asks_inputs_for_their_identity_only(
    http_server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: bool
) -> None:
    """Headers read by a run that stopped before planning stand for unchanged inputs."""
    from arcoforge.pipeline import copy_stages

    days = 12
    files = write_files(make_sst(days=days, nlat=4, nlon=6, seed=3), http_server.root)
    recipe, out = _recipe(tmp_path, http_server.url, days), tmp_path / "out"

    def stopped(*args: object) -> None:
        raise KeyboardInterrupt  # as a run stopped after its headers, before its plan

    monkeypatch.setattr(copy_stages, "plan_writes", stopped)
    with pytest.raises(KeyboardInterrupt):
        run_folder(recipe, out)
    monkeypatch.undo()
    kept = sorted((out / ".forge" / "sst" / "headers").iterdir())
    assert len(kept) == 1  # the batch's headers, kept in one file
    if cut:
        kept[0].write_bytes(kept[0].read_bytes()[:10])  # as a store without atomic writes may
    http_server.requests.clear()
    result = run_folder(recipe, out)
    edges = Counter(
        r.path.rsplit("/", 1)[-1]
        for r in http_server.requests
        if r.method == "GET" and (r.range or "").startswith("bytes=-")
    )
    # headers cut short are read again: their inputs' edges are fetched, and only theirs
    assert sum(edges.values()) == (days if cut else 0)
    # a kept header is asked for by HEAD; one that does not read is no header at all
    heads = Counter() if cut else Counter({f.path.name: 1 for f in files})
    assert _requests(http_server, "HEAD") == heads
    got = xr.open_zarr(result.zarr.url)
    assert compare(got, open_sources([str(f.path) for f in files], "time")) == []
