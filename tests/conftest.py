"""Fixtures: a real HTTP server for generated NetCDF files, quiet logging, and a guard
that fails any test reaching beyond loopback."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from arcoforge.demo.server import SourceServer
from tests.netguard import sitecustomize as netguard

_GUARD_DIR = str(Path(netguard.__file__).parent)


@pytest.fixture(autouse=True, scope="session")
def _network_guard() -> Iterator[str]:
    """Refuse connections and DNS lookups outside loopback, here and in subprocesses."""
    fd, log = tempfile.mkstemp(prefix="arcoforge-netguard-", suffix=".log")
    os.close(fd)
    saved = {k: os.environ.get(k) for k in (netguard.ENV_ON, netguard.ENV_LOG, "PYTHONPATH")}
    os.environ[netguard.ENV_ON] = "1"
    os.environ[netguard.ENV_LOG] = log
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = f"{_GUARD_DIR}{os.pathsep}{path}" if path else _GUARD_DIR
    netguard.install()
    try:
        yield log
    finally:
        os.remove(log)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(autouse=True)
def _no_traffic_beyond_loopback(_network_guard: str) -> Iterator[None]:
    """Fail the test if it, or any process it started, tried to reach beyond loopback."""
    start = os.path.getsize(_network_guard)
    yield
    with open(_network_guard) as f:
        f.seek(start)
        refused = f.read().strip()
    if refused:
        pytest.fail(f"tried to reach beyond loopback:\n{refused}", pytrace=False)


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs() -> None:
    logging.getLogger("apache_beam").setLevel(logging.ERROR)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[SourceServer]:
    """An aiohttp server on 127.0.0.1 serving ``tmp_path / "srv"``, with fault switches."""
    root = tmp_path / "srv"
    root.mkdir()
    with SourceServer(root) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (writes atomic, see tests/s3server.py); s3fs reaches
    it through AWS_ENDPOINT_URL."""
    import os

    from tests.s3server import S3Server

    server = S3Server()
    server.start()
    url = server.url
    saved = {k: os.environ.get(k) for k in _S3_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=url,
    )
    try:
        yield url
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


@pytest.fixture
def s3_bucket(s3_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the moto server."""
    import re

    import fsspec

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") or "bucket"
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir(name)
    fsspec.filesystem("s3").invalidate_cache()
    return name
