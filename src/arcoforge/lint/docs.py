"""docs/lints.md, made from the rule registry so the docs and the rules cannot drift."""

from __future__ import annotations

from arcoforge.lint.registry import RULES

HEADER = """\
<!-- Generated from the lint rules' registry (src/arcoforge/lint/rules/).
     Regenerate with: forge lint --rules-doc > docs/lints.md -->
# Lint rules

`forge lint PATH...` checks every recipe folder under each path without running any of
its code (`recipe.py` is parsed, never imported). Each finding has a stable code, a level
and a message that says what to do. **Errors** fail the check (exit 1); **hints** are
advice and never change the exit code.

```sh
forge lint recipes/                                   # every recipe folder under recipes/
forge lint recipes/my-sst --format json               # machine-readable
forge lint recipes/ --changed-from origin/main --format markdown   # what the PR check posts
```

With `--changed-from BASE`, only the recipe folders with files changed since the merge
base of `BASE` are linted, and every changed file outside `recipes/` is reported (FG012).

In a pull request, the check posts the `--format markdown` rendering as a comment:
**Lint failed** lists the errors (❌) to fix before the recipe can be merged, grouped by
file with their lines; hints (💡) are suggestions that never block it. Fix, push, and the
check runs again on the new commit. Legacy Pangeo Forge recipes fail with FG015: run
`forge migrate FOLDER` for a first draft in the new format.

Ids are checked against every folder under the repository's `recipes/` and against
`feedstocks.yaml` at its root: a list, under `feedstocks:`, of the recipes that have
moved to a repository of their own, each `{id: ..., repo: ...}`.

| code | level | rule |
|---|---|---|
"""


def rules_markdown() -> str:
    """The text of docs/lints.md: an index of every rule, then each rule's documentation."""
    from arcoforge.lint import rules  # noqa: F401 - registers every rule

    codes = sorted(RULES)
    parts = [HEADER]
    parts += [f"| [{c}](#{c.lower()}) | {RULES[c].level} | {RULES[c].summary} |\n" for c in codes]
    for c in codes:
        rule = RULES[c]
        parts.append(f"\n## {c}\n\n**{rule.level}**: {rule.summary}.\n\n{rule.docstring}\n")
    return "".join(parts)
