"""HTTP GETs that follow redirects one hop at a time: credentials per host, addresses checked.

Used for inputs with an auth profile or in an untrusted run. Each hop gets only the
credential headers its host may see (see :class:`~arcoforge.sources.auth.HttpCredentials`);
the session's cookie jar keeps what a login host sets (NASA Earthdata's flow: the data
host redirects to the login host, which redirects back with a cookie). In an untrusted
run every hop's scheme and address is checked, and the session's resolver
(:func:`~arcoforge.sources.addresses.checked_resolver`) connects only to checked addresses.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from arcoforge.errors import SourceError, UntrustedRefusedError
from arcoforge.sources.addresses import AddressPolicy, checked_resolver, custom_resolver
from arcoforge.sources.auth import HttpCredentials, http_credentials, s3_options

MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Guard:
    """What shapes one input's HTTP requests: its auth profile and the address policy."""

    auth: str | None = None
    policy: AddressPolicy | None = None

    @property
    def active(self) -> bool:
        return self.auth is not None or self.policy is not None or custom_resolver()

    def fsspec_options(self, url: str, options: dict[str, Any]) -> dict[str, Any]:
        """The fsspec options to read ``url`` with: credentials added, untrusted limits set."""
        scheme = url.split("://", 1)[0].lower()
        if self.policy is not None:
            self.policy.check_url(url)  # again just before use: names can change
        if scheme in ("http", "https"):
            return self.client_options(options)
        if scheme == "s3":
            if self.policy is not None:
                self._check_endpoint(url, options)
                return {**options, "anon": True}
            if self.auth:
                return {**options, **s3_options(self.auth)}
        if scheme in ("gs", "gcs") and self.policy is not None:
            return {**options, "token": "anon"}
        return options

    def _check_endpoint(self, url: str, options: dict[str, Any]) -> None:
        from arcoforge.sources.stores import s3_endpoint

        assert self.policy is not None
        endpoint = s3_endpoint(options)
        if endpoint:
            self.policy.check_host(
                urlsplit(endpoint).hostname or "", urlsplit(endpoint).port or 443, url=url
            )

    def client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """fsspec HTTP options whose session resolves through the checked resolver."""
        if not self.active:
            return options
        return {**options, "get_client": _client_factory(self.policy)}


@functools.cache
def _client_factory(policy: AddressPolicy | None) -> Any:
    """fsspec's session maker for ``policy``: one function per policy, so fsspec reuses one
    filesystem (one session, one cookie jar: a login made once) for every input."""

    async def get_client(**kwargs: Any) -> Any:
        import aiohttp

        connector = aiohttp.TCPConnector(resolver=checked_resolver(policy))
        return aiohttp.ClientSession(connector=connector, **kwargs)

    return get_client


#: A trusted run's inputs without a profile: requests made as they always were.
NO_GUARD = Guard()


@contextlib.asynccontextmanager
async def guarded_get(session: Any, target: Any, guard: Guard, **kwargs: Any) -> AsyncIterator[Any]:
    """The final response of a GET of ``target`` (a URL, str or yarl), redirects followed
    under ``guard``."""
    import aiohttp

    url = str(target)
    base_headers = dict(kwargs.pop("headers", None) or {})
    creds: HttpCredentials | None = http_credentials(guard.auth, url) if guard.auth else None
    current, request = url, target
    for _ in range(MAX_REDIRECTS + 1):
        if guard.policy is not None:
            guard.policy.check_url(current, where=f"{url} (redirected to {current})")
        headers = {**base_headers, **(creds.headers_for(current) if creds else {})}
        try:
            response = await session.get(request, headers=headers, allow_redirects=False, **kwargs)
        except aiohttp.ClientConnectorError as e:
            refused = _refusal(e)
            if refused is not None:
                raise refused from None
            raise
        if response.status in _REDIRECTS and "Location" in response.headers:
            current = request = urljoin(current, response.headers["Location"])
            response.release()
            continue
        try:
            yield response
        finally:
            response.release()
        return
    raise SourceError(
        f"{url}: more than {MAX_REDIRECTS} redirects. Check the URL, and the credentials "
        "of its auth profile (a login that fails can redirect in a loop)."
    )


def _refusal(error: BaseException) -> UntrustedRefusedError | None:
    """The address refusal aiohttp wrapped as a connection error, if that is what it is."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, UntrustedRefusedError):
            return current
        seen.add(id(current))
        nested = getattr(current, "os_error", None)
        current = (
            nested
            if nested is not None and id(nested) not in seen
            else (current.__cause__ or current.__context__)
        )
    return None
