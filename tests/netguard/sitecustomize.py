"""A guard that refuses any connection or DNS lookup outside loopback.

The test suite installs it in its own process, and puts this folder on PYTHONPATH so
that every Python subprocess (Beam workers, spawned writers, fetchers) imports it at
start-up as ``sitecustomize``. A refused attempt raises ``NetworkGuardError`` and is
also appended to the file named by ``ARCOFORGE_NET_GUARD_LOG``, so an attempt made
in a subprocess, or swallowed by a broad ``except``, still fails the test.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

#: Names that resolve to loopback without asking a DNS server (/etc/hosts).
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
ENV_ON = "ARCOFORGE_NET_GUARD"
ENV_LOG = "ARCOFORGE_NET_GUARD_LOG"


class NetworkGuardError(RuntimeError):
    """A test tried to reach beyond loopback."""


def is_loopback(host: Any) -> bool:
    """Whether ``host`` (an address or a name) stays on this machine."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]").split("%", 1)[0].lower()
    if host in LOOPBACK_NAMES or host == "" or host in _hosts_file_names():
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified  # 0.0.0.0 binds, or means this host


def is_address(host: Any) -> bool:
    """Whether ``host`` is an IP address, which needs no DNS lookup."""
    if isinstance(host, bytes):
        host = host.decode()
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _hosts_file_names() -> frozenset[str]:
    """This machine's own names listed in /etc/hosts: resolved without a DNS server."""
    own = {socket.gethostname().lower()}
    try:
        with open("/etc/hosts") as f:
            listed = {name.lower() for line in f for name in line.split("#", 1)[0].split()[1:]}
    except OSError:
        return frozenset()
    return frozenset(own & listed)


def refuse(what: str) -> None:
    log = os.environ.get(ENV_LOG)
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}: {what}\n")
    raise NetworkGuardError(f"the test suite refused {what}: only loopback may be reached")


def install() -> None:
    """Patch sockets and name lookups in this process (idempotent)."""
    if getattr(socket, "_arcoforge_guarded", False):
        return
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not (is_loopback(host) or is_address(host)):  # an address alone asks no server
            refuse(f"a DNS lookup of {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    original_gethostbyname = socket.gethostbyname

    def gethostbyname(host: str) -> str:
        if not is_loopback(host):
            refuse(f"a DNS lookup of {host!r}")
        return original_gethostbyname(host)

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            refuse(f"a connection to {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return original_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        check(self, args[-1])
        return original_sendto(self, data, *args)

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]
    socket._arcoforge_guarded = True  # type: ignore[attr-defined]


if os.environ.get(ENV_ON) == "1":
    install()
