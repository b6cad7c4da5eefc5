"""The bot's Markdown: a test report and the one comment it keeps on a pull request.

Everything rendered here may come from a contributor (recipe ids, messages, URLs), so
every value is escaped: no HTML, no mentions, no links, no breaking out of tables or code.
"""

from __future__ import annotations

import html
import re
from typing import Any

#: The hidden line by which the bot finds its own comment on a pull request.
MARKER = "<!-- arcoforge-bot:checks -->"

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_MAX = 600
#: The only link the bot writes: the privileged workflow's own run, from GitHub's context.
_RUN_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/[A-Za-z0-9._/-]+$")


def md(value: object, limit: int = _MAX) -> str:
    """``value`` as inert Markdown text on one line: escaped, no mentions, at most ``limit``."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = html.escape(text, quote=False)  # no tags, no entities of the contributor's own
    text = _SPECIAL.sub(r"\\\1", text)
    # "&#64;" shows an @ without notifying anyone; "://" broken so nothing autolinks
    return text.replace("@", "&#64;").replace("://", ":&#47;&#47;")


def code(value: object, limit: int = 200) -> str:
    """``value`` as inline code that cannot close early."""
    text = " ".join(str(value).split())[:limit].replace("`", "'")
    return f"`{text}`"


def _mb(nbytes: Any) -> str:
    if not isinstance(nbytes, int | float):
        return "?"
    return f"{nbytes / 1e6:.3g} MB"


def lint_markdown(lint: dict[str, Any] | None) -> str:
    """The lint part: one line per finding, errors first."""
    if lint is None:
        return "_Lint did not run._"
    findings = lint.get("findings") or []
    if not findings:
        return "✅ No lint findings."
    lines = []
    order = sorted(findings, key=lambda f: (f.get("level") != "error", str(f.get("path"))))
    for f in order[:100]:
        icon = "❌" if f.get("level") == "error" else "ℹ️"
        where = str(f.get("path", ""))
        if f.get("line"):
            where += f":{f['line']}"
        lines.append(
            f"- {icon} {code(f.get('code', ''))} {code(where)}: {md(f.get('message', ''))}"
        )
    if len(findings) > 100:
        lines.append(f"- … and {len(findings) - 100} more")
    return "\n".join(lines)


def test_report_markdown(doc: dict[str, Any]) -> str:
    """A test report (its JSON form) as Markdown."""
    icon = "✅" if doc.get("ok") else "❌"
    lines = [
        f"{icon} **{md(doc.get('recipe', '?'))}**: test run on the first "
        f"{md(doc.get('prune', '?'))} inputs of each concat dim"
    ]
    if doc.get("error"):
        lines += ["", f"The run failed: {md(doc['error'], 1500)}"]
    dims = doc.get("dims") or {}
    if dims:
        lines += ["", "| dims | " + " | ".join(md(k) for k in dims) + " |"]
        lines += ["|---" * (len(dims) + 1) + "|"]
        lines += ["| size | " + " | ".join(md(v) for v in dims.values()) + " |"]
    variables = doc.get("variables") or {}
    if variables:
        lines += [
            "",
            "| variable | dims | dtype | chunk shape | chunk size |",
            "|---|---|---|---|---|",
        ]
        for name, v in list(variables.items())[:60]:
            chunks = "×".join(str(c) for c in v.get("chunks") or []) or "-"
            lines.append(
                f"| {md(name)} | {md(', '.join(map(str, v.get('dims', []))))} | "
                f"{md(v.get('dtype', '?'))} | {md(chunks)} | {_mb(v.get('chunk_bytes'))} |"
            )
    facts = []
    if doc.get("inputs"):
        facts.append(f"inputs: {md(doc['inputs'])}")
    if doc.get("nbytes"):
        facts.append(f"size: {_mb(doc['nbytes'])}")
    facts.append(f"fetched: {_mb(doc.get('bytes_fetched', 0))}")
    if doc.get("time_range"):
        facts.append("time: " + " to ".join(md(t) for t in doc["time_range"]))
    timings = doc.get("timings") or {}
    if timings:
        facts.append("seconds: " + ", ".join(f"{md(k)} {md(v)}" for k, v in timings.items()))
    lines += ["", " · ".join(facts)]
    checks = doc.get("checks") or []
    if checks:
        lines += ["", "**Checks**", ""]
        for c in checks:
            mark = "✅" if c.get("ok") else ("❌" if c.get("level") == "error" else "ℹ️")
            lines.append(f"- {mark} {md(c.get('name', ''))}: {md(c.get('message', ''))}")
    opens = [o for o in doc.get("outputs") or [] if o.get("open")]
    if opens:
        codes = [str(o["open"]).replace("`", "'")[:300] for o in opens]
        imports = [
            line
            for line, used in (("import arcoforge", "arcoforge."), ("import xarray as xr", "xr."))
            if any(used in c for c in codes)
        ]
        assigned = [f"ds = {c}" for c in codes]
        lines += ["", "Once merged and run, open it with:", "", "```python", *imports, ""]
        lines += [*assigned, "```"]
    return "\n".join(lines)


def comment_markdown(report: dict[str, Any], *, run_url: str | None = None) -> str:
    """The bot's comment for a pull request, from a test report's JSON form."""
    ok = bool(report.get("ok"))
    lint = report.get("lint")
    lint_ok = lint is None or bool(lint.get("ok", True))
    ran = report.get("ran") is not False
    test_ok = report.get("error") is None and all(
        c.get("ok") for c in report.get("checks") or [] if c.get("level") == "error"
    )
    head = "✅ All checks passed." if ok else "❌ Some checks need changes."
    parts = [
        MARKER,
        "## ARCO Forge recipe checks",
        "",
        head,
        "",
        "| check | result |",
        "|---|---|",
        f"| forge/lint | {'✅ passed' if lint_ok else '❌ errors'} |",
        f"| forge/test | {('✅ passed' if test_ok else '❌ failed') if ran else 'not run'} |",
        "",
        "### Lint",
        "",
        lint_markdown(lint),
        "",
        "### Test run",
        "",
        test_report_markdown(report) if ran else "_Not run: only lint was asked for._",
        "",
        "Comment `/forge lint` or `/forge test` to run the checks again "
        "(maintainers and collaborators with write access).",
    ]
    if run_url and _RUN_URL.match(run_url):
        parts += ["", f"<sub>Made by workflow run [{md(run_url)}]({run_url}).</sub>"]
    return "\n".join(parts) + "\n"
