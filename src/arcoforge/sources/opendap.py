"""OPeNDAP sources: a remote dataset read by slices through pydap into a local netCDF4 file.

A DAP server serves values, not a file's bytes, so an OPeNDAP input is copied into the
cache as a netCDF4 file holding the values as stored (packed integers stay packed, with
their attributes), each variable read in slices along its first dimension of at most
:data:`SLICE_BYTES`. Every request is retried like any fetch and keeps to the per-host
limit (see :mod:`arcoforge.sources.hosts`).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from arcoforge.errors import (
    InputFormatError,
    SourceAccessError,
    SourceError,
    SourceNotFoundError,
)
from arcoforge.sources.hosts import check_resolves, host_slot, pause_host, retry_after, too_long
from arcoforge.sources.retry import MAX_RETRY_AFTER, RetryPolicy

#: The most bytes one request asks for: a slice of a variable along its first dimension.
SLICE_BYTES = 16 << 20
#: The DAP protocol version asked for (DAP2 is what THREDDS, Hyrax and pydap all serve).
PROTOCOL = "dap2"
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def fetch_opendap(url: str, dest: str, retry: RetryPolicy) -> None:
    """Write the OPeNDAP dataset at ``url`` as a netCDF4 file at ``dest`` (a local path)."""
    import h5netcdf.legacyapi as nc
    import requests

    try:
        from pydap.client import open_url
    except ImportError:
        raise SourceError(
            f"{url}: reading OPeNDAP sources needs the 'opendap' extra: "
            "pip install 'arcoforge[opendap]'."
        ) from None

    check_resolves(url)
    session = requests.Session()
    remote = _attempts(
        url,
        retry,
        lambda: open_url(url, session=session, protocol=PROTOCOL, timeout=retry.timeout),
    )
    names = list(remote.keys())
    with nc.Dataset(dest, "w") as out:
        for name in names:
            for dim, n in zip(_dims(remote[name]), remote[name].shape, strict=True):
                if dim not in out.dimensions:
                    out.createDimension(dim, n)
        out.attrs.update(_attrs(remote.attributes))
        for name in names:
            _copy_variable(url, remote[name], out, retry)


def _copy_variable(url: str, var: Any, out: Any, retry: RetryPolicy) -> None:
    """Create ``var`` in ``out`` and fill it by slices along its first dimension."""
    dtype = np.dtype(var.dtype).newbyteorder("=")
    if dtype.kind not in "biuf":
        raise InputFormatError(
            f"{url}: variable {var.name!r} holds {dtype} values; OPeNDAP inputs are read "
            "for numeric variables only. Drop it on the server side (a constraint), or "
            "read the files another way."
        )
    attrs = _attrs(var.attributes)
    fill = attrs.pop("_FillValue", None)
    target = out.createVariable(var.name, dtype, _dims(var), fill_value=fill)
    target.attrs.update(attrs)
    shape = tuple(var.shape)
    if not shape:
        target[...] = _attempts(url, retry, lambda: np.asarray(var[...].data))
        return
    row = dtype.itemsize * math.prod(shape[1:])
    step = max(1, SLICE_BYTES // max(1, row))
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        # the whole of every other dimension: the form every DAP server answers alike
        key = (slice(start, stop), *(slice(None),) * (len(shape) - 1))
        values = _attempts(url, retry, functools.partial(_values, var, key))
        target[key] = values.astype(dtype, copy=False)


def _dims(var: Any) -> tuple[str, ...]:
    return tuple(getattr(var, "dims", None) or var.dimensions)


def _attrs(found: dict[str, Any]) -> dict[str, Any]:
    """Attributes as netCDF takes them; pydap's own bookkeeping (nested dicts) left out."""
    out: dict[str, Any] = {}
    for key, value in found.items():
        if isinstance(value, dict):  # e.g. the 'dimensions' pydap adds to global attributes
            continue
        if isinstance(value, list | tuple):
            value = np.asarray(value)
        out[str(key)] = value
    return out


def _values(var: Any, key: tuple[slice, ...]) -> np.ndarray:
    """The values of ``var`` at ``key``, fetched (one request)."""
    return np.asarray(var[key].data)


def _attempts[T](url: str, retry: RetryPolicy, call: Callable[[], T]) -> T:
    """``call()`` (one request), retried like any fetch, within the host's limit."""
    import requests

    last: BaseException | None = None
    wait: float | None = None
    for attempt in range(retry.attempts):
        if attempt and wait is None:
            time.sleep(retry.delay(attempt - 1))
        wait = None
        try:
            with host_slot(url, retry.per_host):
                return call()
        except requests.HTTPError as e:
            response = _response(e)
            status = response.status_code if response is not None else 0
            if status == 404:
                raise SourceNotFoundError(
                    f"{url}: not found (404). Check the URL and the range of keys that fills it in."
                ) from None
            if status in (401, 403):
                raise SourceAccessError(
                    f"{url}: the server refused access (HTTP {status}). If it needs "
                    "credentials, provide them through the environment of this machine."
                ) from None
            if status and status not in _RETRY_STATUS:
                raise SourceError(f"{url}: the OPeNDAP server answered HTTP {status}.") from None
            wait = _asked_wait(url, status, response.headers if response is not None else None)
            last = e
        except (requests.ConnectionError, requests.Timeout, requests.RequestException) as e:
            last = e
    raise SourceError(
        f"{url}: could not read it from the OPeNDAP server in {retry.attempts} attempts; the "
        f"last one failed: {type(last).__name__}: {last}."
    )


def _response(error: BaseException) -> Any:
    """The HTTP response behind ``error`` (pydap raises its own error from requests')."""
    found: BaseException | None = error
    while found is not None:
        response = getattr(found, "response", None)
        if response is not None:
            return response
        found = found.__cause__ or found.__context__
    return None


def _asked_wait(url: str, status: int, headers: Any) -> float | None:
    """Honour ``Retry-After`` on 429 and 503 for every request to the host."""
    if status not in (429, 503):
        return None
    seconds = retry_after(headers)
    if seconds is None:
        return None
    if too_long(seconds):
        raise SourceError(
            f"{url}: the server is busy (HTTP {status}) and asked to wait {seconds:g} s "
            f"(Retry-After); this run waits at most {MAX_RETRY_AFTER:g} s. Run again later."
        )
    pause_host(url, seconds)
    return seconds
