"""Where inputs lie: one obstore store per scheme and host, and the errors of reading them.

Imports nothing heavy (obstore itself is imported where a store is made), so that the
process fetching headers (:mod:`arcoforge.sources.fastheaders.prefetch`) starts quickly.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from arcoforge.errors import (
    InputFormatError,
    SourceAccessError,
    SourceError,
    SourceNotFoundError,
    UnrepresentableError,
)
from arcoforge.sources.hosts import check_resolves

if TYPE_CHECKING:
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import ClientConfig, GCSConfig, S3Config

    from arcoforge.sources.retry import RetryPolicy


class source_errors:
    """Turn object-store and parser errors into errors that name the input."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: Any, tb: Any) -> None:
        if error is None or isinstance(error, SourceError):
            return
        from obstore.exceptions import (
            NotFoundError,
            PermissionDeniedError,
            UnauthenticatedError,
        )

        cause = _first_line(error)
        chain = _chain(error)
        if _no_range(chain):
            raise UnrepresentableError(
                f"{self.url}: the server does not answer Range requests (asked for part of "
                "the file, it sends all of it), and the readers of a virtual dataset fetch "
                "inputs by byte range. Make a copy instead (outputs: zarr), which downloads "
                "whole files, or serve the inputs from a server that supports Range."
            ) from error
        # By type: obstore's errors (and h5py, which re-raises what a file object's read
        # raised) keep theirs; a message can hold "404" in a duration or a file name.
        if any(isinstance(e, NotFoundError | FileNotFoundError) for e in chain):
            raise SourceNotFoundError(f"{self.url}: not found (404).") from error
        if any(isinstance(e, PermissionDeniedError | UnauthenticatedError) for e in chain):
            raise SourceAccessError(
                f"{self.url}: access refused ({cause}). Check the credentials in the "
                "environment or storage_options."
            ) from error
        if isinstance(error, PermissionError | MemoryError):
            return  # about this machine, not the input
        if isinstance(error, OSError | ValueError | KeyError | TypeError):
            raise InputFormatError(
                f"{self.url}: could not read its header as a virtual dataset: {cause}"
            ) from error
        return


def _no_range(chain: list[BaseException]) -> bool:
    """Whether obstore refused an answer because the server ignored a Range request."""
    from obstore.exceptions import NotSupportedError

    return any(
        isinstance(e, NotSupportedError) or "Range request not supported" in str(e) for e in chain
    )


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the errors it was raised from or while handling, innermost last."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in found):
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


_REGISTRY_LOCK = threading.Lock()
_REGISTRIES: dict[tuple[str, str, str], ObjectStoreRegistry[Any]] = {}


def registry_for(
    url: str, storage_options: dict[str, Any], retry: RetryPolicy, auth: str | None = None
) -> ObjectStoreRegistry[Any]:
    """A registry that resolves ``url``; one per store prefix, options and auth profile
    name, per process."""
    from obspec_utils.registry import ObjectStoreRegistry

    prefix = store_prefix(url)
    key = (prefix, repr(sorted(storage_options.items())), auth or "")
    with _REGISTRY_LOCK:
        registry = _REGISTRIES.get(key)
        if registry is None:
            store = _store(prefix, storage_options, retry, auth)
            registry = ObjectStoreRegistry({prefix: store})
            _REGISTRIES[key] = registry
        return registry


def store_prefix(url: str) -> str:
    """The part of ``url`` that names its store: ``scheme://host/`` or ``file:///``."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return "file:///"
    return f"{parts.scheme}://{parts.netloc}/"


def _store(prefix: str, options: dict[str, Any], retry: RetryPolicy, auth: str | None) -> Any:
    from obstore.store import GCSStore, HTTPStore, LocalStore, S3Store

    scheme, _, host = prefix.partition("://")
    host = host.rstrip("/")
    client: ClientConfig = {
        "timeout": f"{retry.timeout:g}s",
        "connect_timeout": f"{retry.timeout:g}s",
    }
    retries: Any = {
        "max_retries": max(0, retry.attempts - 1),
        "retry_timeout": dt.timedelta(seconds=retry.timeout * retry.attempts),
        "backoff": {
            "init_backoff": dt.timedelta(seconds=retry.base_delay),
            "max_backoff": dt.timedelta(seconds=retry.max_delay),
            "base": 2,
        },
    }
    if scheme == "file":
        return LocalStore()
    if scheme in ("http", "https"):
        check_resolves(prefix)  # a name that does not resolve fails now, not after retries
        client["allow_http"] = scheme == "http"
        if auth:
            from arcoforge.sources.auth import obstore_headers

            # read here, in the process that makes requests; kept in the store alone
            client["default_headers"] = obstore_headers(auth, prefix)
        return HTTPStore.from_url(prefix, client_options=client, retry_config=retries)
    if scheme == "s3":
        config, endpoint = _s3_config(options)
        if endpoint.startswith("http://"):
            client["allow_http"] = True
        return S3Store(host, config=config, client_options=client, retry_config=retries)
    if scheme in ("gs", "gcs"):
        anon: GCSConfig = {"skip_signature": True} if options.get("token") == "anon" else {}
        return GCSStore(host, config=anon, client_options=client, retry_config=retries)
    raise SourceError(
        f"{prefix}: virtual datasets read inputs over http(s), s3, gs or file URLs; "
        f"got {scheme!r}. Use the zarr output for these inputs."
    )


def s3_endpoint(options: dict[str, Any]) -> str:
    """The S3 endpoint from s3fs-style ``storage_options`` or the environment ('' for AWS)."""

    client_kwargs = options.get("client_kwargs") or {}
    return str(
        options.get("endpoint_url")
        or client_kwargs.get("endpoint_url")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or ""
    )


def _s3_config(options: dict[str, Any]) -> tuple[S3Config, str]:
    """obstore's S3 settings from s3fs-style ``storage_options`` and the environment."""

    client_kwargs = options.get("client_kwargs") or {}
    endpoint = s3_endpoint(options)
    config: S3Config = {}
    if endpoint:
        config["endpoint"] = endpoint
    region = client_kwargs.get("region_name") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        config["region"] = region
    if options.get("anon"):
        config["skip_signature"] = True
    if options.get("requester_pays"):
        config["request_payer"] = True
    if options.get("key") and options.get("secret"):
        config["access_key_id"] = options["key"]
        config["secret_access_key"] = options["secret"]
        if options.get("token"):
            config["session_token"] = options["token"]
    return config, endpoint


def range_reader(
    url: str, options: dict[str, Any], retry: RetryPolicy, auth: str | None = None
) -> Callable[[int, int], bytes]:
    """A function that reads ``length`` bytes at ``offset`` of ``url``."""

    def read(offset: int, length: int) -> bytes:
        import obstore

        store, path = registry_for(url, options, retry, auth).resolve(url)
        return bytes(obstore.get_range(store, path, start=offset, length=length))

    return read
