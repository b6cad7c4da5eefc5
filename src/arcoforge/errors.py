"""The errors a person can cause, each with a message that says what to fix.

Every message names the file, field or URL involved, what was expected and what
was found. The CLI prints these without a traceback.
"""

from __future__ import annotations


class ForgeError(Exception):
    """Root of every error ARCO Forge raises on purpose."""


class RecipeError(ForgeError, ValueError):
    """A recipe folder, meta.yaml, recipe.yaml or recipe.py is invalid."""


class UnsafeUrlError(RecipeError):
    """A URL or id from a recipe is not allowed (scheme, traversal, credentials)."""


class SourceError(ForgeError, OSError):
    """An input could not be fetched or read."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """An input does not exist at its URL."""


class SourceAccessError(SourceError, PermissionError):
    """The server refused access to an input."""


class InputFormatError(SourceError):
    """An input is not a NetCDF file ARCO Forge can read."""


class IncompatibleInputsError(ForgeError, ValueError):
    """Inputs that cannot be combined into one dataset."""


class UnrepresentableError(IncompatibleInputsError):
    """Inputs a virtual dataset cannot point into faithfully (a copy can)."""


class PlanError(ForgeError, ValueError):
    """The target cannot be planned as asked (chunks, memory budget)."""


class TargetError(ForgeError, OSError):
    """The output location cannot be written as asked."""


class TargetExistsError(TargetError, FileExistsError):
    """A different dataset already exists where the output would go."""


class PipelineError(ForgeError, RuntimeError):
    """The pipeline failed for a reason that is not one of the above."""


def error_from_name(name: str, message: str) -> ForgeError:
    """Rebuild an error that a worker reported by class name."""
    cls = _BY_NAME.get(name, PipelineError)
    return cls(message)


_BY_NAME: dict[str, type[ForgeError]] = {
    cls.__name__: cls
    for cls in (
        ForgeError,
        RecipeError,
        UnsafeUrlError,
        SourceError,
        SourceNotFoundError,
        SourceAccessError,
        InputFormatError,
        IncompatibleInputsError,
        PlanError,
        TargetError,
        TargetExistsError,
        PipelineError,
    )
}
