"""Recipe lint: rules with stable codes, run over recipe folders without running their code.

``lint_paths`` checks folders and returns a :class:`LintReport` of :class:`Finding`;
``render`` prints it as text, JSON or Markdown; ``RULES`` documents every rule.
"""

from __future__ import annotations

from arcoforge.lint import rules as _rules  # noqa: F401 - registers every rule
from arcoforge.lint.engine import LintReport, lint_paths
from arcoforge.lint.registry import RULES, Finding, Level, Rule
from arcoforge.lint.render import render

__all__ = ["RULES", "Finding", "Level", "LintReport", "Rule", "lint_paths", "render"]
