"""Lint reports as text (the terminal), JSON (machines) and Markdown (the PR comment)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Literal

from arcoforge.lint.engine import LintReport
from arcoforge.lint.registry import RULES, Finding

Format = Literal["text", "json", "markdown"]
#: Where each rule's documentation is, for links from the Markdown comment.
DOCS_URL = "docs/lints.md"


def render(report: LintReport, fmt: Format) -> str:
    """``report`` in ``fmt``: "text", "json" or "markdown"."""
    if fmt == "text":
        return _text(report)
    if fmt == "json":
        return _json(report)
    if fmt == "markdown":
        return _markdown(report)
    raise ValueError(f"expected a format of text, json or markdown. Got {fmt!r} instead.")


def _summary(report: LintReport) -> str:
    errors, hints = len(report.errors), len(report.hints)
    folders = len(report.folders)
    return (
        f"{folders} recipe folder{'s' * (folders != 1)} checked: "
        f"{errors} error{'s' * (errors != 1)}, {hints} hint{'s' * (hints != 1)}"
    )


def _text(report: LintReport) -> str:
    lines = [f"{f.where()}: {f.code} {f.level}: {f.message}" for f in report.findings]
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def _json(report: LintReport) -> str:
    doc = {
        "ok": report.ok,
        "folders": report.folders,
        "errors": len(report.errors),
        "hints": len(report.hints),
        "findings": [
            {
                "code": f.code,
                "level": f.level,
                "path": f.path,
                "line": f.line,
                "message": f.message,
                "summary": RULES[f.code].summary,
            }
            for f in report.findings
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _markdown(report: LintReport) -> str:
    if not report.findings:
        head = "**Lint passed** with no errors and no hints."
    elif report.ok:
        head = "**Lint passed**, with hints worth a look (hints never fail the check)."
    else:
        head = "**Lint failed**: fix the errors below, push, and the check runs again."
    lines = [head, "", _summary(report) + "."]
    by_path: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_path[f.path].append(f)
    for path, findings in by_path.items():
        lines += ["", f"`{_code_span(path)}`", ""]
        for f in sorted(findings, key=lambda f: (f.level != "error", f.line or 0)):
            icon = "❌" if f.level == "error" else "💡"
            at = f"line {f.line}: " if f.line else ""
            lines.append(f"- {icon} **{f.code}** {at}{_escape(f.message)}")
    codes = sorted({f.code for f in report.findings})
    if codes:
        lines += ["", "Rules: " + ", ".join(f"{c} ({RULES[c].summary})" for c in codes) + "."]
        lines.append(f"Each rule is explained in {DOCS_URL}.")
    return "\n".join(lines) + "\n"


def _code_span(text: str) -> str:
    return text.replace("`", "'")


def _escape(text: str) -> str:
    """Keep a message from opening HTML or mentions in a GitHub comment."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("@", "@\u200b")
