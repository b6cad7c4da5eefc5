"""OPeNDAP sources read by slices through pydap, against pydap's own server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import unquote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.errors import RecipeError, SourceNotFoundError
from arcoforge.recipe import load_recipe
from arcoforge.recipe.pattern import FileType
from arcoforge.sources import opendap
from arcoforge.sources.cache import InputCache
from arcoforge.sources.retry import RetryPolicy
from tests.helpers import run_folder, write_recipe

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, timeout=10.0)


@dataclass
class DapServer:
    """pydap's server for a folder, with the paths it was asked for and a fault switch."""

    url: str
    root: Path
    paths: list[str] = field(default_factory=list)
    #: statuses to answer, in turn, before serving normally
    errors: list[int] = field(default_factory=list)


class _Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def dap_dataset(path: Path) -> Any:
    """A generated file as a pydap dataset: its stored values, dims and attributes."""
    from pydap.model import BaseType, DatasetType

    with xr.open_dataset(path, engine="h5netcdf", decode_cf=False) as src:
        dataset = DatasetType(path.name, attributes=dict(src.attrs))
        for name, var in src.variables.items():
            dataset[str(name)] = BaseType(
                str(name), data=var.values, dims=var.dims, attributes=dict(var.attrs)
            )
    return dataset


@pytest.fixture
def dap_server(tmp_path: Path) -> Iterator[DapServer]:
    """pydap's DAP server (its handler and responses) for the files in a folder.

    Each file is served from its values through pydap's BaseHandler: pydap's own netCDF
    handler cannot serve a slice of a variable (it reshapes every slice to the whole).
    """
    from pydap.handlers.lib import BaseHandler

    root = tmp_path / "dap"
    root.mkdir()
    state = DapServer("", root)

    def app(environ: dict[str, Any], start: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        state.paths.append(path + "?" + unquote(environ.get("QUERY_STRING", "")))
        if state.errors:
            status = state.errors.pop(0)
            start(f"{status} Error", [("Content-Type", "text/plain")])
            return [b"busy"]
        name, _, _ = path.lstrip("/").rpartition(".")  # sst.nc.dods -> sst.nc
        file = root / name
        if not name or not file.is_file():
            start("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        handler = BaseHandler(dap_dataset(file))
        return handler(environ, start)  # type: ignore[no-any-return]

    server = make_server("127.0.0.1", 0, app, server_class=_Threaded, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _stored(path: Path) -> xr.Dataset:
    return xr.open_dataset(path, engine="h5netcdf", decode_cf=False).load()


def test_an_opendap_dataset_is_read_by_slices_into_the_cache(
    dap_server: DapServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_files(make_sst(days=3), dap_server.root, steps=3)
    # rows of 36 x 72 float32 (10 KiB): at most two per request
    monkeypatch.setattr(opendap, "SLICE_BYTES", 2 * 36 * 72 * 4)
    url = f"{dap_server.url}/{files[0].path.name}"
    cached = InputCache(str(tmp_path / "c")).fetch(url, file_type=FileType.OPENDAP, retry=FAST)
    assert cached.file_type is FileType.NETCDF4 and cached.url == url
    copy, source = _stored(Path(cached.path)), _stored(files[0].path)
    xr.testing.assert_identical(copy[["sst", "anom"]], source[["sst", "anom"]])
    sst = [p for p in dap_server.paths if ".dods?sst" in p]
    assert sst == [f"/{files[0].path.name}.dods?sst[0:1:1][0:1:35][0:1:71]", sst[1]]
    assert sst[1].endswith("?sst[2:1:2][0:1:35][0:1:71]")


def test_server_errors_are_retried(dap_server: DapServer, tmp_path: Path) -> None:
    files = write_files(make_sst(days=1), dap_server.root, steps=1)
    dap_server.errors += [503, 500]
    url = f"{dap_server.url}/{files[0].path.name}"
    cached = InputCache(str(tmp_path / "c")).fetch(url, file_type=FileType.OPENDAP, retry=FAST)
    xr.testing.assert_equal(_stored(Path(cached.path)).sst, _stored(files[0].path).sst)


def test_a_missing_opendap_dataset_is_not_found(dap_server: DapServer, tmp_path: Path) -> None:
    url = f"{dap_server.url}/nope.nc"
    with pytest.raises(SourceNotFoundError, match=r"nope\.nc: not found"):
        InputCache(str(tmp_path / "c")).fetch(url, file_type=FileType.OPENDAP, retry=FAST)


def test_a_recipe_over_opendap_makes_a_copy_equal_to_its_sources(
    dap_server: DapServer, tmp_path: Path
) -> None:
    files = write_files(make_sst(days=4), dap_server.root, steps=2)
    spec = {
        "sources": {
            "urls": [f"{dap_server.url}/{f.path.name}" for f in files],
            "concat_dim": "time",
            "file_type": "opendap",
        },
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    result = run_folder(write_recipe(tmp_path / "recipe", spec), tmp_path / "out")
    out = xr.open_zarr(result.zarr.url).load()
    sources = xr.open_mfdataset([f.path for f in files], engine="h5netcdf").load()
    xr.testing.assert_equal(out, sources)


def test_references_to_opendap_sources_are_refused(tmp_path: Path) -> None:
    spec = {
        "sources": {
            "urls": ["https://thredds.example.org/dodsC/sst.nc"],
            "concat_dim": "time",
            "file_type": "opendap",
        },
        "outputs": {"references": {"format": "json"}},
    }
    with pytest.raises(RecipeError, match="no byte ranges to point at") as info:
        load_recipe(write_recipe(tmp_path / "recipe", spec))
    assert "Drop `references`" in str(info.value)
