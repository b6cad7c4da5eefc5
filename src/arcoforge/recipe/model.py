"""The pydantic base of every schema a person writes, and how its errors read."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from arcoforge.errors import RecipeError
from arcoforge.recipe.yamlfile import Loc, YamlDoc


class StrictModel(BaseModel):
    """A frozen model that refuses unknown fields and suggests the one meant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_unknown(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        known = set(cls.model_fields)
        unknown = [key for key in data if key not in known]
        if not unknown:
            return handler(data)
        errors: list[InitErrorDetails] = []
        meant: set[str] = set()
        for key in unknown:
            hint = difflib.get_close_matches(str(key), sorted(known), n=1)
            meant.update(hint)
            did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
            message = (
                f"unknown field {key!r}; expected one of {', '.join(sorted(known))}.{did_you_mean}"
            )
            # The key travels in the context so the error can point at its line.
            custom = PydanticCustomError(
                UNKNOWN_FIELD, "{message}", {"message": message, "key": key}
            )
            errors.append({"type": custom, "loc": (), "input": data})
        # The known fields are validated too, so every problem is reported in one pass.
        try:
            handler({k: v for k, v in data.items() if k in known})
        except ValidationError as e:
            # A field missing because it was misspelt is already reported as unknown.
            errors += [
                _again(err)
                for err in e.errors()
                if not (
                    err["type"] == "missing" and len(err["loc"]) == 1 and err["loc"][0] in meant
                )
            ]
        raise ValidationError.from_exception_data(cls.__name__, errors)


def _again(err: ErrorDetails) -> InitErrorDetails:
    """An error of a nested validation, to be raised again with the same type and text."""
    ctx = {**err.get("ctx", {}), "text": err["msg"]}
    custom = PydanticCustomError(err["type"], "{text}", ctx)
    return {"type": custom, "loc": err["loc"], "input": err["input"]}


#: The error type of an unknown field; its context holds the field's ``key``.
UNKNOWN_FIELD = "unknown_field"
#: The error type of a URL template whose fields are not the combine dimensions.
URL_FIELDS = "url_fields"


def validate_doc[M: BaseModel](model: type[M], doc: YamlDoc) -> M:
    """Validate ``doc`` against ``model``; errors name the file, line and field."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        raise RecipeError(format_errors(e, doc)) from None


def format_errors(error: ValidationError, doc: YamlDoc, prefix: Loc = ()) -> str:
    """One line per problem: ``file:line: field: what was expected, what was found``.

    ``prefix`` is put before every field path, for data validated on its own.
    """
    lines = []
    for problem in describe_errors(error, doc, prefix):
        where = f"{doc.path}:{problem.line}" if problem.line else str(doc.path)
        lines.append(f"{where}: {problem.field}: {problem.message}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation error of a YAML document, with its field path and line."""

    loc: Loc
    type: str
    line: int | None
    field: str
    message: str


def describe_errors(error: ValidationError, doc: YamlDoc, prefix: Loc = ()) -> list[Problem]:
    """Every problem of ``error`` with the line of its field in ``doc``."""
    problems = []
    for err in error.errors():
        loc = _data_loc(err["loc"])
        if err["type"] == UNKNOWN_FIELD:
            loc = (*loc, err["ctx"]["key"])
        field = ".".join(str(p) for p in (*prefix, *loc)) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        # Our own errors (a message in their context) already say what was found.
        own = "message" in err.get("ctx", {})
        if err["type"] not in ("value_error", "assertion_error") and not own and "input" in err:
            shown = _short(err["input"])
            if shown is not None:
                msg = f"{msg}. Got {shown} instead"
        if err["type"] == "missing":
            msg = "required field is missing"
        problems.append(Problem(loc, err["type"], doc.line_of(loc), field, msg))
    return problems


def _data_loc(loc: tuple[str | int, ...]) -> Loc:
    """``loc`` without the union-member tags pydantic adds (ours start with ``~``)."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p[:1] == "~" or "[" in p)))


def _short(value: Any) -> str | None:
    if isinstance(value, dict | list) and len(repr(value)) > 60:
        return None
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
