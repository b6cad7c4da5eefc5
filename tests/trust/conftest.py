"""Fixtures of the credential and untrusted-mode tests: a login server, host names for
it through a stub resolver (never real DNS), and an auth file with known secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.sources import addresses
from tests.trust.loginserver import DATA, LOGIN, LoginServer

TOKEN = "tok-7f3a9c1e5b2d4860"
USER, PASSWORD = "alice", "pw-e41b7d93c6a85f20"


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """A stub resolver: the names in the returned dict resolve to their addresses, others
    fail as unknown names; no lookup leaves this process."""
    table = {DATA: "127.0.0.1", LOGIN: "127.0.0.1"}

    def stub(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host!r}")
        return [table[host]]

    addresses.set_resolver(stub)
    try:
        yield table
    finally:
        addresses.set_resolver(None)


@pytest.fixture
def login_server(tmp_path: Path, names: dict[str, str]) -> Iterator[LoginServer]:
    """The login server with three days of generated SST files."""
    root = tmp_path / "srv"
    root.mkdir()
    write_files(make_sst(days=3), root, steps=1, name="sst.{time:%Y%m%d}.nc")
    with LoginServer(root, TOKEN, USER, PASSWORD) as server:
        yield server


@pytest.fixture
def auth_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An auth file with a profile of each HTTP kind, and their secrets in the environment."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {LOGIN} login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    path = tmp_path / "config" / "auth.yaml"
    path.parent.mkdir()
    local = {"allow_http": True}  # the test server speaks plain http on loopback
    profiles = {
        "token": {"kind": "bearer", "token_env": "TEST_TOKEN", **local},
        "login": {
            "kind": "basic",
            "username_env": "TEST_USER",
            "password_env": "TEST_PASSWORD",
            **local,
        },
        "edl": {"kind": "netrc", "netrc_file": str(netrc), **local},
    }
    path.write_text(yaml.safe_dump({"profiles": profiles}))
    monkeypatch.setenv("ARCOFORGE_AUTH_FILE", str(path))
    monkeypatch.setenv("TEST_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_USER", USER)
    monkeypatch.setenv("TEST_PASSWORD", PASSWORD)
    return path
