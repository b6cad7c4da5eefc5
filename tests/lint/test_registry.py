"""The registry: stable, documented codes, and docs/lints.md made from it."""

from __future__ import annotations

import re
from pathlib import Path

from arcoforge.lint import RULES
from arcoforge.lint.docs import rules_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lints.md"


def test_codes_are_stable() -> None:
    # A code keeps its meaning forever: changing this list means renumbering, which breaks
    # links and waivers people have written. Add new codes at the end.
    assert {code: rule.level for code, rule in RULES.items()} == {
        "FG001": "error",
        "FG002": "error",
        "FG003": "error",
        "FG004": "error",
        "FG005": "error",
        "FG006": "error",
        "FG007": "error",
        "FG008": "error",
        "FG009": "error",
        "FG010": "error",
        "FG011": "hint",
        "FG012": "error",
        "FG013": "hint",
        "FG014": "hint",
        "FG015": "error",
        "FG016": "hint",
        "FG017": "error",
        "FG018": "hint",
    }


def test_every_rule_is_documented() -> None:
    for code, rule in RULES.items():
        assert re.fullmatch(r"FG\d{3}", code) and rule.code == code
        assert rule.summary and not rule.summary.endswith(".")
        assert len(rule.docstring.split()) >= 25, f"{code} says too little"


def test_docs_lints_md_is_up_to_date() -> None:
    assert DOCS.read_text() == rules_markdown(), (
        "docs/lints.md is stale: regenerate it with `forge lint --rules-doc > docs/lints.md`"
    )
    for code in RULES:
        assert f"\n## {code}\n" in DOCS.read_text()
