"""Checks made before a run reads anything: credentials usable, untrusted limits kept.

A trusted run with ``sources.auth`` checks its profile first (a missing variable fails
before any input is fetched) and refuses a virtual dataset where the profile's login
cannot be carried by the header reader. An untrusted run refuses credentials, local
files, plain http and non-public addresses for every input, before the first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from arcoforge.errors import CredentialsError, UntrustedRefusedError
from arcoforge.recipe.pattern import FilePattern
from arcoforge.sources.auth import ProfileKind, load_profile, references_refusal

if TYPE_CHECKING:
    from arcoforge.pipeline.context import RunContext
    from arcoforge.recipe.validated import Recipe

#: storage_options keys that carry credentials, which an untrusted run never uses.
_CREDENTIAL_KEYS = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "username",
        "profile",
        "headers",
        "auth",
        "client_kwargs",
        "credentials",
        "session_token",
        "access_key_id",
        "secret_access_key",
    }
)


def source_options(pattern: FilePattern, *, untrusted: bool) -> dict[str, Any]:
    """The options inputs are read with: anonymous in untrusted runs, requester-pays for
    an s3 profile. Never a secret: those are read where requests are made."""
    options = dict(pattern.storage_options)
    if untrusted:
        return {"anon": True, "token": "anon"} if _object_store(pattern) else options
    profile = load_profile(pattern.auth) if pattern.auth else None
    if profile is not None and profile.kind is ProfileKind.S3 and profile.requester_pays:
        options["requester_pays"] = True
    return options


def _object_store(pattern: FilePattern) -> bool:
    _, url = next(iter(pattern.items()))
    return url.split("://", 1)[0].lower() in ("s3", "gs", "gcs")


def check_sources(recipe: Recipe, ctx: RunContext, inputs: list[tuple[Any, str]]) -> None:
    """Refuse, before any request, what this run may not do with these inputs."""
    if ctx.policy is not None:
        _check_untrusted(recipe, ctx, inputs)
        return
    if recipe.pattern.auth:
        load_profile(recipe.pattern.auth)
        why = references_refusal(recipe.pattern.auth) if ctx.references is not None else None
        if why:
            raise CredentialsError(why)


def _check_untrusted(recipe: Recipe, ctx: RunContext, inputs: list[tuple[Any, str]]) -> None:
    assert ctx.policy is not None
    if recipe.preprocess is not None:
        folder = recipe.path or "."
        raise UntrustedRefusedError(
            f"{folder}/recipe.py: an untrusted run does not run `preprocess` (recipe code "
            "applied to every input). Run the recipe on a trusted machine (`forge run` "
            "without --untrusted), or fix the inputs with recipe.yaml settings."
        )
    if recipe.pattern.auth:
        raise UntrustedRefusedError(
            f"sources.auth: an untrusted run uses no credentials. Got the profile "
            f"{recipe.pattern.auth!r}. Test a recipe that needs a login on a trusted machine "
            "(`forge run` without --untrusted)."
        )
    used = sorted(_CREDENTIAL_KEYS & set(recipe.pattern.storage_options))
    if used:
        raise UntrustedRefusedError(
            f"sources.storage_options: an untrusted run reads anonymously. Got {used[0]!r}. "
            "Drop it from the recipe."
        )
    checked: dict[tuple[str, str], None] = {}
    for _, url in inputs:
        parts = urlsplit(url)
        key = (parts.scheme.lower(), parts.netloc.lower())
        if key in checked:
            continue  # one resolution per host: the workers check again before use
        ctx.policy.check_url(url)
        checked[key] = None
        if key[0] == "s3":
            from arcoforge.sources.stores import s3_endpoint

            endpoint = s3_endpoint(ctx.source_options)
            if endpoint:
                ends = urlsplit(endpoint)
                ctx.policy.check_host(ends.hostname or "", ends.port or 443, url=url)
