"""FTP sources through fsspec, against a real FTP server (pyftpdlib) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.errors import SourceNotFoundError
from arcoforge.sources.cache import InputCache
from arcoforge.sources.retry import RetryPolicy
from tests.helpers import run_folder, write_recipe

FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, timeout=10.0)


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An anonymous, read-only FTP server on 127.0.0.1 serving ``tmp_path / "ftp"``."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    root = tmp_path / "ftp"
    (root / "pub").mkdir(parents=True)
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(str(root))
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
    handler.masquerade_address = "127.0.0.1"
    server = FTPServer(("127.0.0.1", 0), handler)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    thread.start()
    try:
        yield f"ftp://127.0.0.1:{port}", root
    finally:
        server.close_all()
        thread.join(timeout=10)


def test_an_ftp_source_is_cached_with_its_checksum(ftp_server, tmp_path: Path) -> None:
    base, root = ftp_server
    files = write_files(make_sst(days=2), root / "pub", steps=1)
    url = f"{base}/pub/{files[0].path.name}"
    cached = InputCache(str(tmp_path / "cache")).fetch(url, retry=FAST)
    data = files[0].path.read_bytes()
    assert cached.size == len(data)
    assert cached.sha256 == hashlib.sha256(data).hexdigest()
    assert Path(cached.path).read_bytes() == data


def test_a_missing_ftp_source_is_not_found(ftp_server, tmp_path: Path) -> None:
    base, _ = ftp_server
    with pytest.raises(SourceNotFoundError, match=r"pub/nope\.nc: not found"):
        InputCache(str(tmp_path / "cache")).fetch(f"{base}/pub/nope.nc", retry=FAST)


def test_a_recipe_over_ftp_makes_a_copy_equal_to_its_sources(ftp_server, tmp_path: Path) -> None:
    base, root = ftp_server
    files = write_files(make_sst(days=3), root / "pub", steps=1)
    recipe = write_recipe(
        tmp_path / "recipe",
        {
            "sources": {
                "urls": [f"{base}/pub/{f.path.name}" for f in files],
                "concat_dim": "time",
            },
            "outputs": {"zarr": {"chunks": {"time": 3}}},
        },
    )
    result = run_folder(recipe, tmp_path / "out")
    out = xr.open_zarr(result.zarr.url)
    sources = xr.open_mfdataset([f.path for f in files], engine="h5netcdf", combine="by_coords")
    xr.testing.assert_equal(out.load(), sources.load())
