"""Credentials for sources behind logins: named profiles, resolved at run time, never stored.

A recipe names a profile (``sources.auth: earthdata``); the profile lives in the user's
own file (``~/.config/arcoforge/auth.yaml``, or the file named by ``ARCOFORGE_AUTH_FILE``)
and says where the secret is: ``~/.netrc``, or environment variables it names. Only the
profile's name travels with a run; each process that fetches reads the secret itself,
registers it for redaction and puts it in request headers, nowhere else.
"""

from __future__ import annotations

import netrc
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from arcoforge.errors import CredentialsError
from arcoforge.redact import register_secret

AUTH_FILE_ENV = "ARCOFORGE_AUTH_FILE"
#: A profile that needs no file: credentials per host from ~/.netrc (or $NETRC).
BUILTIN_NETRC = "netrc"


class ProfileKind(StrEnum):
    """How a profile authenticates."""

    NETRC = "netrc"
    BEARER = "bearer"
    BASIC = "basic"
    S3 = "s3"


class AuthProfile(BaseModel):
    """One profile of the auth file: where its secret is, never the secret itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ProfileKind
    #: bearer: the variable holding the token
    token_env: str | None = None
    #: basic: the variables holding the user name and the password
    username_env: str | None = None
    password_env: str | None = None
    #: netrc: the file [default: $NETRC or ~/.netrc]
    netrc_file: str | None = None
    #: s3: ask for requester-pays access, and optional variables holding the keys
    requester_pays: bool = True
    key_env: str | None = None
    secret_env: str | None = None
    session_token_env: str | None = None
    #: send credentials over plain http too (local servers); https only otherwise
    allow_http: bool = False


class AuthFile(BaseModel):
    """The auth file: ``profiles: {name: profile}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profiles: dict[str, AuthProfile] = Field(default_factory=dict)


_REQUIRED = {
    ProfileKind.BEARER: ("token_env",),
    ProfileKind.BASIC: ("username_env", "password_env"),
}


def auth_file() -> Path:
    """Where profiles are read from: $ARCOFORGE_AUTH_FILE or the user's config folder."""
    named = os.environ.get(AUTH_FILE_ENV)
    if named:
        return Path(named).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "arcoforge" / "auth.yaml"


def load_profile(name: str) -> AuthProfile:
    """The profile called ``name``, checked; raises CredentialsError saying what to fix."""
    path = auth_file()
    profiles: dict[str, AuthProfile] = {}
    if path.is_file():
        try:
            doc = yaml.safe_load(path.read_text()) or {}
            profiles = AuthFile.model_validate(doc).profiles
        except (yaml.YAMLError, ValidationError) as e:
            first = str(e).splitlines()
            why = first[0] if len(first) < 3 else f"{first[1]}: {first[2].strip()}"
            raise CredentialsError(
                f"{path}: expected `profiles:` mapping names to profiles such as "
                f"`{{kind: bearer, token_env: MY_TOKEN}}`. Got an invalid file ({why})."
            ) from None
    if name not in profiles:
        if name == BUILTIN_NETRC:
            return AuthProfile(kind=ProfileKind.NETRC)
        known = ", ".join(sorted(profiles)) or "none"
        raise CredentialsError(
            f"sources.auth: expected the name of a profile in {path} (profiles there: {known}). "
            f"Got {name!r}. Add it, e.g. `profiles: {{{name}: {{kind: bearer, token_env: "
            "MY_TOKEN}}`; see docs/credentials.md."
        )
    profile = profiles[name]
    for field in _REQUIRED.get(profile.kind, ()):
        if not getattr(profile, field):
            raise CredentialsError(
                f"{path}: profile {name!r} of kind {profile.kind.value} needs `{field}`, "
                "the name of the environment variable holding the secret."
            )
    return profile


def _env(name: str, profile: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise CredentialsError(
            f"profile {profile!r}: expected the environment variable {name} to hold its "
            "secret. It is not set: export it in the environment of the run."
        )
    register_secret(value)
    return value


@dataclass(frozen=True)
class HttpCredentials:
    """Headers that authenticate a profile's HTTP requests, host by host."""

    name: str
    profile: AuthProfile
    #: the host the recipe's URL names: bearer and basic secrets go to it alone
    origin: str

    def headers_for(self, url: str) -> dict[str, str]:
        """The credential headers for one request (a redirect hop included), or none."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" and not self.profile.allow_http:
            return {}  # never a secret in clear text
        kind = self.profile.kind
        if kind is ProfileKind.BEARER and host == self.origin:
            assert self.profile.token_env is not None
            return {"Authorization": f"Bearer {_env(self.profile.token_env, self.name)}"}
        if kind is ProfileKind.BASIC and host == self.origin:
            assert self.profile.username_env and self.profile.password_env
            user = _env(self.profile.username_env, self.name)
            return _basic(user, _env(self.profile.password_env, self.name))
        if kind is ProfileKind.NETRC:
            found = self._netrc().authenticators(host)
            if found:
                login, _, password = found
                register_secret(password or "")
                return _basic(login or "", password or "")
        return {}

    def _netrc(self) -> netrc.netrc:
        path = self.profile.netrc_file or os.environ.get("NETRC") or "~/.netrc"
        path = os.path.expanduser(path)
        try:
            return netrc.netrc(path)
        except FileNotFoundError:
            raise CredentialsError(
                f"profile {self.name!r}: expected a netrc file at {path} with a line such as "
                "`machine urs.earthdata.nasa.gov login NAME password SECRET`. Found none."
            ) from None
        except netrc.NetrcParseError as e:
            raise CredentialsError(
                f"profile {self.name!r}: {path} line {e.lineno}: not a valid netrc file ({e.msg})."
            ) from None


def _basic(user: str, password: str) -> dict[str, str]:
    import base64

    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    register_secret(token)
    return {"Authorization": f"Basic {token}"}


def http_credentials(name: str, url: str) -> HttpCredentials:
    """The credentials of profile ``name`` for requests starting at ``url``."""
    profile = load_profile(name)
    if profile.kind is ProfileKind.S3:
        raise CredentialsError(
            f"{url}: profile {name!r} is an s3 profile; HTTP sources need a netrc, bearer "
            "or basic profile."
        )
    return HttpCredentials(name, profile, (urlsplit(url).hostname or "").lower())


def s3_options(name: str) -> dict[str, Any]:
    """s3fs options for profile ``name``: requester pays, and keys from the variables named."""
    profile = load_profile(name)
    if profile.kind is not ProfileKind.S3:
        raise CredentialsError(
            f"sources.auth: profile {name!r} is a {profile.kind.value} profile; s3:// sources "
            "need a profile of kind s3."
        )
    options: dict[str, Any] = {}
    if profile.requester_pays:
        options["requester_pays"] = True
    if profile.key_env or profile.secret_env:
        options["key"] = _env(profile.key_env or "", name)
        options["secret"] = _env(profile.secret_env or "", name)
    if profile.session_token_env:
        options["token"] = _env(profile.session_token_env, name)
    return options


def references_refusal(name: str) -> str | None:
    """Why a virtual dataset cannot be made with profile ``name`` (None: it can)."""
    kind = load_profile(name).kind
    if kind is ProfileKind.NETRC:
        return (
            f"sources.auth: {name!r} is a netrc profile, whose logins (such as NASA Earthdata's "
            "redirect to a login host and back with a cookie) the header reader of virtual "
            "datasets cannot follow: it sends each range request on its own, without cookies. "
            "Drop `references` from the outputs (copies work with this profile), or read the "
            "archive through an s3 profile if it offers one."
        )
    return None


def obstore_headers(name: str | None, url: str) -> dict[str, str]:
    """Default headers for obstore's HTTP store: a bearer or basic profile's, or none."""
    if not name:
        return {}
    creds = http_credentials(name, url)
    if creds.profile.kind is ProfileKind.NETRC:
        raise CredentialsError(references_refusal(name) or "")
    return creds.headers_for(url)
