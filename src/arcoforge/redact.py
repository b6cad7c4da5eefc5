"""Redaction of secrets from any text shown or stored: URLs' user info, tokens, headers.

Every :class:`~arcoforge.errors.ForgeError` message passes through :func:`redact`, so a
URL printed in an error, the run state or ``--json`` never carries a credential. The
secrets a process resolved from an auth profile are registered here and blanked too.
"""

from __future__ import annotations

import re
import threading

MASK = "***"

#: Query parameters that carry credentials in signed or tokenised URLs.
_SECRET_PARAMS = (
    r"token|access_token|id_token|refresh_token|auth|authorization|api_?key|apikey|key|"
    r"password|passwd|pwd|secret|sig|signature|code|x-amz-signature|x-amz-credential|"
    r"x-amz-security-token|x-goog-signature|x-goog-credential"
)
_PARAM = re.compile(rf"([?&;](?:{_SECRET_PARAMS})=)[^&#\s'\"]+", re.IGNORECASE)
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"\\]+@")
_HEADER = re.compile(
    r"((?:authorization|proxy-authorization|cookie|set-cookie|x-api-key)\s*[:=]\s*['\"]?)"
    r"[^'\"\n,}]+",
    re.IGNORECASE,
)
_SCHEME_VALUE = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)

_LOCK = threading.Lock()
_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Blank ``value`` wherever this process redacts text from now on."""
    if value and len(value) >= 4:  # shorter values would blank ordinary words
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with credentials in URLs, headers and registered secrets replaced by ***."""
    if not text:
        return text
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(rf"\g<1>{MASK}@", text)
    text = _PARAM.sub(rf"\g<1>{MASK}", text)
    text = _HEADER.sub(rf"\g<1>{MASK}", text)
    return _SCHEME_VALUE.sub(rf"\g<1> {MASK}", text)
