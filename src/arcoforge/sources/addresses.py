"""Which network addresses an untrusted run may reach, checked after name resolution.

An untrusted run (``forge run --untrusted``, ``forge test``) reads only public
addresses: loopback, private, link-local (cloud metadata services included),
shared, multicast and reserved ranges are refused, for the names a recipe gives
and for every redirect. The HTTP client is pinned to the addresses checked (its
resolver is :class:`CheckedResolver`); clients that resolve names themselves
(obstore, s3fs, gcsfs) have the name checked just before use.

Loopback can be allowed from Python only (:func:`allow_loopback`), never from the
command line or the environment, so the test suite can run against its local servers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from arcoforge.errors import UntrustedRefusedError

#: Schemes an untrusted run may read (plain http only where loopback is allowed, for tests).
UNTRUSTED_SCHEMES = frozenset({"https", "ftp", "s3", "gs", "gcs"})

#: Cloud metadata services, named for a clearer message (all also fall in refused ranges).
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not "private" to Python

#: A resolver: (host, port) -> addresses. Replaced only by tests, through set_resolver.
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """What an untrusted run may reach; picklable, so workers apply the same policy."""

    #: loopback addresses and plain http allowed: set only through allow_loopback()
    loopback: bool = False

    @property
    def schemes(self) -> frozenset[str]:
        return UNTRUSTED_SCHEMES | {"http"} if self.loopback else UNTRUSTED_SCHEMES

    def check_address(self, address: str, *, url: str) -> None:
        """Refuse ``address`` (an IP) unless it is public (or loopback, where allowed)."""
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback and self.loopback:
            return
        why = _why_refused(ip)
        if why:
            raise UntrustedRefusedError(
                f"{url}: an untrusted run reads only public addresses. Got {ip}, {why}. "
                "Give the public URL of the archive; runs of trusted recipes (without "
                "--untrusted) may read any address."
            )

    def check_url(self, url: str, *, where: str = "input") -> list[str]:
        """Refuse ``url``'s scheme, or its host's addresses; returns the addresses checked."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            allowed = ", ".join(f"{s}://" for s in sorted(self.schemes))
            raise UntrustedRefusedError(
                f"{where}: an untrusted run reads only {allowed} sources. Got {url!r}. "
                "Local files and plain http are read only by trusted runs."
            )
        host = parts.hostname or ""
        if not host:
            raise UntrustedRefusedError(f"{where}: URL {url!r} has no host name.")
        if scheme in ("s3", "gs", "gcs"):
            return []  # a bucket name: the endpoint it resolves to is checked apart
        return self.check_host(host, parts.port or _PORTS.get(scheme, 443), url=url)

    def check_host(self, host: str, port: int, *, url: str) -> list[str]:
        """Resolve ``host`` and check every address it has; returns them."""
        if _is_ip(host):
            self.check_address(host, url=url)
            return [host.strip("[]")]
        try:
            found = resolve(host, port)
        except OSError as e:
            raise UntrustedRefusedError(
                f"{url}: the host name {host!r} does not resolve ({e}). Check the URL."
            ) from None
        for address in found:
            self.check_address(address, url=url)
        return found


_PORTS = {"https": 443, "http": 80, "ftp": 21}


def _why_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip in _METADATA:
        return "a cloud metadata service"
    if ip.is_loopback:
        return "a loopback address (this machine)"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "an address that is not public"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


_LOCK = threading.Lock()
_loopback_allowed = False
_resolver: Resolver | None = None


def untrusted_policy() -> AddressPolicy:
    """The policy of an untrusted run started now (public addresses only, unless relaxed)."""
    return AddressPolicy(loopback=_loopback_allowed)


@contextlib.contextmanager
def allow_loopback() -> Iterator[None]:
    """Let untrusted runs started inside reach loopback and plain http (for tests only).

    Deliberately reachable from Python alone: no option or variable sets it.
    """
    global _loopback_allowed
    with _LOCK:
        saved, _loopback_allowed = _loopback_allowed, True
    try:
        yield
    finally:
        _loopback_allowed = saved


def set_resolver(resolver: Resolver | None) -> None:
    """Resolve names with ``resolver`` in this process (tests: names for loopback servers)."""
    global _resolver
    _resolver = resolver


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host``, through the resolver set by tests or the system's."""
    if _resolver is not None:
        return list(_resolver(host, port))
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def custom_resolver() -> bool:
    """Whether tests replaced the resolver (the HTTP client then needs :class:`CheckedResolver`)."""
    return _resolver is not None


def checked_resolver(policy: AddressPolicy | None) -> Any:
    """An aiohttp resolver that connects only to addresses ``policy`` allows (None: any)."""
    from aiohttp.abc import AbstractResolver

    class CheckedResolver(AbstractResolver):
        """Resolves through :func:`resolve`, then refuses what the policy refuses."""

        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[Any]:
            import asyncio

            found = await asyncio.to_thread(resolve, host, port)
            results = []
            for address in found:
                if policy is not None:
                    policy.check_address(address, url=f"{host}:{port}")
                fam = socket.AF_INET6 if ":" in address else socket.AF_INET
                results.append(
                    {
                        "hostname": host,
                        "host": address,
                        "port": port,
                        "family": fam,
                        "proto": 0,
                        "flags": socket.AI_NUMERICHOST,
                    }
                )
            if not results:
                raise OSError(f"{host} has no address")
            return results

        async def close(self) -> None:
            return None

    return CheckedResolver()
