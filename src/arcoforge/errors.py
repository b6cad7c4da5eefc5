"""The errors a person can cause, each with a message that says what to fix.

Every message names the file, field or URL involved, what was expected and what
was found. The CLI prints these without a traceback. Each class has a ``kind``,
the stable name ``forge ... --json`` reports it by (docs/running.md lists them),
and the exit status the CLI ends with: 1 for what a person can fix, 2 for bugs.
"""

from __future__ import annotations

import os
import traceback
from typing import ClassVar

from arcoforge.redact import redact


class ForgeError(Exception):
    """Root of every error ARCO Forge raises on purpose."""

    kind: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str = "", *, where: str | None = None):
        # Messages name URLs; none may carry a credential wherever it is shown or stored.
        super().__init__(redact(message))
        #: where the error arose: a stage, or the file and line of its cause
        self.where = where

    def to_json(self) -> dict[str, str | None]:
        """The error as ``--json`` prints it: kind, message, where."""
        return {"kind": self.kind, "message": str(self), "where": self.where or origin(self)}


class UsageError(ForgeError, ValueError):
    """A command-line option or argument is not valid."""

    kind = "usage"


class RecipeError(ForgeError, ValueError):
    """A recipe folder, meta.yaml, recipe.yaml or recipe.py is invalid."""

    kind = "recipe"


class UnsafeUrlError(RecipeError):
    """A URL or id from a recipe is not allowed (scheme, traversal, credentials)."""

    kind = "unsafe-url"


class SourceError(ForgeError, OSError):
    """An input could not be fetched or read."""

    kind = "source"


class SourceNotFoundError(SourceError, FileNotFoundError):
    """An input does not exist at its URL."""

    kind = "source-not-found"


class SourceAccessError(SourceError, PermissionError):
    """The server refused access to an input."""

    kind = "source-access"


class UnresolvableHostError(SourceError):
    """The host name of an input's URL does not resolve to an address."""

    kind = "unresolvable-host"


class InputFormatError(SourceError):
    """An input is not a NetCDF file ARCO Forge can read."""

    kind = "input-format"


class SourceChangedError(SourceError):
    """Inputs changed at their source since an output was made from them."""

    kind = "source-changed"


class CredentialsError(SourceError, PermissionError):
    """A recipe's `sources.auth` profile is missing, malformed or lacks its secret."""

    kind = "credentials"


class UntrustedRefusedError(SourceError, PermissionError):
    """An untrusted run (`--untrusted`, `forge test`) refused a source, address or setting."""

    kind = "untrusted-refused"


class IncompatibleInputsError(ForgeError, ValueError):
    """Inputs that cannot be combined into one dataset."""

    kind = "incompatible-inputs"


class UnrepresentableError(IncompatibleInputsError):
    """Inputs a virtual dataset cannot point into faithfully (a copy can)."""

    kind = "unrepresentable"


class PlanError(ForgeError, ValueError):
    """The target cannot be planned as asked (chunks, memory budget)."""

    kind = "plan"


class TargetError(ForgeError, OSError):
    """The output location cannot be written as asked."""

    kind = "target"


class TargetExistsError(TargetError, FileExistsError):
    """A different dataset already exists where the output would go."""

    kind = "target-exists"


class UpdateRefusedError(ForgeError, ValueError):
    """An update cannot only append: it would overlap, go back in time or change the schema."""

    kind = "update-refused"


class LeaseHeldError(TargetError):
    """Another run is writing the same output now."""

    kind = "lease-held"


class PipelineError(ForgeError, RuntimeError):
    """The pipeline did not finish for a reason a person can act on (run it again)."""

    kind = "pipeline"


class PartlyPublishedError(PipelineError):
    """Some outputs of a run were published, and publishing another failed."""

    kind = "partly-published"


class InternalError(ForgeError, RuntimeError):
    """An unexpected failure: a bug in ARCO Forge, not in the recipe or its inputs."""

    kind = "internal"
    exit_code = 2


class CatalogError(ForgeError, ValueError):
    """A catalog, a catalog entry or an output to register is missing or invalid."""

    kind = "catalog"


class CatalogValidationError(CatalogError):
    """Objects of a STAC catalog do not validate against their schemas."""

    kind = "catalog-validation"


class LintSetupError(ForgeError, ValueError):
    """Lint cannot start as asked: a git base that does not exist, no repository."""

    kind = "lint-setup"


class TestRunError(ForgeError, RuntimeError):
    """A test run (``forge test``) went over its limits of bytes fetched or seconds."""

    __test__ = False  # not a pytest test class, whatever its name
    kind = "test-limits"


class GitRepositoryError(ForgeError, OSError):
    """A recipe repository could not be cloned, or holds no recipe where expected."""

    kind = "git-repository"


class GitHubError(ForgeError, RuntimeError):
    """GitHub refused or failed a request of the bot (token, permission, missing object)."""

    kind = "github"


class FeedstockError(ForgeError, ValueError):
    """A feedstock cannot be rendered or created as asked (template, files, names)."""

    kind = "feedstock"


def error_from_name(name: str, message: str, where: str | None = None) -> ForgeError:
    """Rebuild an error that a worker reported by class name."""
    cls = _BY_NAME.get(name, InternalError)
    return cls(message, where=where)


def origin(error: BaseException) -> str | None:
    """``file:line in function`` of the innermost frame of ``error``'s deepest cause."""
    seen: set[int] = set()
    found: BaseException | None = error
    deepest = error
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        if found.__traceback__ is not None:
            deepest = found
        # as Python's own traceback: ``raise ... from None`` ends the chain there
        found = found.__cause__ or (None if found.__suppress_context__ else found.__context__)
    frames = traceback.extract_tb(deepest.__traceback__)
    if not frames:
        return None
    last = frames[-1]
    return f"{_short(last.filename)}:{last.lineno} in {last.name}"


def _short(filename: str) -> str:
    """A file name from ``site-packages`` or the package on, so it reads the same anywhere."""
    parts = filename.split(os.sep)
    for anchor in ("site-packages", "src"):
        if anchor in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(anchor) :])
    return filename


_BY_NAME: dict[str, type[ForgeError]] = {
    cls.__name__: cls
    for cls in (
        ForgeError,
        UsageError,
        RecipeError,
        UnsafeUrlError,
        SourceError,
        SourceNotFoundError,
        SourceAccessError,
        UnresolvableHostError,
        InputFormatError,
        SourceChangedError,
        CredentialsError,
        UntrustedRefusedError,
        IncompatibleInputsError,
        UnrepresentableError,
        PlanError,
        TargetError,
        TargetExistsError,
        UpdateRefusedError,
        LeaseHeldError,
        PipelineError,
        PartlyPublishedError,
        InternalError,
        CatalogError,
        CatalogValidationError,
        LintSetupError,
        TestRunError,
        GitRepositoryError,
        GitHubError,
        FeedstockError,
    )
}

#: Every kind ``--json`` may report, with what it means (rendered in docs/running.md).
KINDS: dict[str, str] = {
    **{cls.kind: (cls.__doc__ or "").strip() for cls in _BY_NAME.values() if cls is not ForgeError},
    "interrupted": "The run was interrupted (Ctrl-C); run it again to finish.",
}
