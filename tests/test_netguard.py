"""The guard itself: nothing beyond loopback is reached, in this process or a child."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.netguard import sitecustomize as netguard


def _forget_refusals(log: str) -> None:
    """These tests make refusals on purpose: clear them so the per-test check passes."""
    Path(log).write_text("")


def test_dns_lookups_beyond_loopback_are_refused(_network_guard: str) -> None:
    try:
        with pytest.raises(netguard.NetworkGuardError, match=r"DNS lookup of 'example\.org'"):
            socket.getaddrinfo("example.org", 443)
        with pytest.raises(netguard.NetworkGuardError, match="DNS lookup"):
            urllib.request.urlopen("http://example.org/", timeout=1)
    finally:
        _forget_refusals(_network_guard)


def test_connections_beyond_loopback_are_refused(_network_guard: str) -> None:
    try:
        for address in ("10.0.0.1", "192.168.1.1", "169.254.169.254", "93.184.216.34"):
            with (
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s,
                pytest.raises(netguard.NetworkGuardError, match=address),
            ):
                s.connect((address, 80))
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s,
            pytest.raises(netguard.NetworkGuardError),
        ):
            s.sendto(b"x", ("8.8.8.8", 53))
    finally:
        _forget_refusals(_network_guard)


def test_loopback_is_allowed(http_server) -> None:  # type: ignore[no-untyped-def]
    (http_server.root / "hello.txt").write_text("hi")
    with urllib.request.urlopen(f"{http_server.url}/hello.txt", timeout=5) as r:
        assert r.read() == b"hi"
    assert socket.getaddrinfo("localhost", 80)


def test_subprocesses_are_guarded_and_logged(_network_guard: str) -> None:
    code = "import socket; socket.getaddrinfo('example.org', 80)"
    try:
        found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert found.returncode != 0
        assert "NetworkGuardError" in found.stderr
        assert "example.org" in Path(_network_guard).read_text()
    finally:
        _forget_refusals(_network_guard)
