"""Fixtures: a real HTTP server for generated NetCDF files, and quiet logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from arcoforge.demo.server import SourceServer


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
