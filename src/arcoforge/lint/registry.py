"""The lint registry: every rule's stable code, level, summary and documentation."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Literal

Level = Literal["error", "hint"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found by a rule: where it is and what to do about it."""

    code: str
    level: Level
    path: str
    message: str
    line: int | None = None

    def where(self) -> str:
        """``path:line``, or the path alone when the line is unknown."""
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True, slots=True)
class Rule:
    """A lint rule: a stable code, a level, a one-line summary and its documentation."""

    code: str
    level: Level
    summary: str
    docstring: str

    def finding(self, path: str, message: str, line: int | None = None) -> Finding:
        """A finding of this rule at ``path`` (and ``line``)."""
        return Finding(self.code, self.level, path, message, line)


#: Every rule by code. Codes never change meaning: a retired rule's code is not reused.
RULES: dict[str, Rule] = {}


def define(code: str, level: Level, summary: str, docstring: str) -> Rule:
    """Register and return a rule; ``docstring`` is its section of docs/lints.md."""
    if code in RULES:
        raise ValueError(f"lint rule {code} is defined twice")
    RULES[code] = defined = Rule(code, level, summary, inspect.cleandoc(docstring))
    return defined
