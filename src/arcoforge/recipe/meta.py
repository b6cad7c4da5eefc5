"""``meta.yaml``: who made a dataset, who maintains its recipe, and under which license."""

from __future__ import annotations

import difflib
import re
from enum import StrEnum
from typing import Annotated

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from pydantic import AfterValidator, BeforeValidator, Field, HttpUrl

from arcoforge.recipe.model import StrictModel
from arcoforge.recipe.urls import validate_id


class ProviderRole(StrEnum):
    """The provider roles of the STAC specification."""

    LICENSOR = "licensor"
    PRODUCER = "producer"
    PROCESSOR = "processor"
    HOST = "host"


_GITHUB = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_ORCID = re.compile(r"^(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9+-]*$")


def _license(value: str) -> str:
    if value == "other":
        return value
    if value.lower() in ("proprietary", "various"):
        raise ValueError(
            f"expected an SPDX license expression or 'other'. Got {value!r}, which STAC "
            "deprecates: use 'other' and link the terms in the description."
        )
    try:
        return str(canonicalize_license_expression(value))
    except InvalidLicenseExpression:
        hint = _license_hint(value)
        raise ValueError(
            f"expected an SPDX license expression such as 'CC-BY-4.0' or 'CC0-1.0', or 'other'. "
            f"Got {value!r} instead.{hint}"
        ) from None


def _license_hint(value: str) -> str:
    try:
        from packaging.licenses._spdx import LICENSES
    except ImportError:  # a private table; suggestions are a nicety
        return ""
    ids = [entry["id"] for entry in LICENSES.values() if not entry["deprecated"]]
    by_lower = {i.lower(): i for i in ids}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=3, cutoff=0.6)
    prefixed = [i for i in ids if i.lower().startswith(value.lower() + "-")][:3]
    found = list(dict.fromkeys([*prefixed, *(by_lower[c] for c in close)]))[:3]
    return f" Did you mean {' or '.join(repr(f) for f in found)}?" if found else ""


def _github(value: str) -> str:
    handle = value.removeprefix("@")
    if not _GITHUB.match(handle):
        raise ValueError(f"expected a GitHub user name such as 'octocat'. Got {value!r} instead.")
    return handle


def _orcid(value: str) -> str:
    match = _ORCID.match(value.strip())
    if not match:
        raise ValueError(
            f"expected an ORCID iD such as '0000-0002-1825-0097'. Got {value!r} instead."
        )
    orcid = match.group(1)
    digits = orcid.replace("-", "")
    total = 0
    for ch in digits[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    if digits[-1] != ("X" if check == 10 else str(check)):
        raise ValueError(f"ORCID iD {orcid!r} has a wrong check digit; copy it from orcid.org.")
    return orcid


def _tag(value: str) -> str:
    if not _TAG.match(value):
        raise ValueError(
            f"expected a lowercase tag of letters, digits and '-' (e.g. 'sea-surface-temperature')."
            f" Got {value!r} instead."
        )
    return value


def _slug(value: str) -> str:
    return validate_id(value, where="id")


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


NonEmpty = Annotated[str, BeforeValidator(_stripped), Field(min_length=1)]


class Provider(StrictModel):
    """An organisation that produced, licensed, processed or hosts the data (STAC Provider)."""

    name: NonEmpty
    roles: list[ProviderRole] = Field(min_length=1)
    url: HttpUrl | None = None
    description: str | None = None


class Maintainer(StrictModel):
    """A person who looks after the recipe."""

    name: NonEmpty
    github: Annotated[str, AfterValidator(_github)]
    orcid: Annotated[str, AfterValidator(_orcid)] | None = None


class Meta(StrictModel):
    """The contents of ``meta.yaml``."""

    id: Annotated[str, AfterValidator(_slug)] | None = None
    title: Annotated[NonEmpty, Field(max_length=200)]
    description: NonEmpty
    license: Annotated[str, AfterValidator(_license)]
    providers: list[Provider] = Field(min_length=1)
    maintainers: list[Maintainer] = Field(min_length=1)
    tags: list[Annotated[str, AfterValidator(_tag)]] = Field(default_factory=list)
    #: how to cite the dataset (free text or a DOI), shown in the catalog
    citation: NonEmpty | None = None
