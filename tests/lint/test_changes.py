"""--changed-from: lint learns the changed files from git and lints only those recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcoforge.errors import LintSetupError
from arcoforge.lint import lint_paths
from tests.helpers import META
from tests.lint.conftest import SPEC, git, write


def test_only_changed_recipes_and_files_outside_recipes(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "contribution")
    # An existing recipe turned bad on main would not block this pull request...
    broken = {**META, "license": "nope"}
    write(repo / "recipes" / "new-sst", meta=broken, spec=SPEC)
    (repo / "README.md").write_text("changed\n")
    (repo / "tools.py").write_text("x = 1\n")  # untracked, new
    git(repo, "add", "recipes", "README.md")
    git(repo, "commit", "-qm", "add a recipe")
    report = lint_paths([repo / "recipes"], changed_from="main", repo=repo)
    assert report.folders == ["recipes/new-sst"]
    assert [(f.code, f.path) for f in report.findings] == [
        ("FG012", "README.md"),
        ("FG012", "tools.py"),
        ("FG006", "recipes/new-sst/meta.yaml"),
    ]
    assert "outside recipes/" in report.findings[0].message


def test_a_clean_pull_request(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "contribution")
    write(repo / "recipes" / "new-sst", spec=SPEC)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add a recipe")
    # A change on main after the branch point is not the pull request's.
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("main moved on\n")
    git(repo, "commit", "-qam", "main moves")
    git(repo, "checkout", "-q", "contribution")
    report = lint_paths([repo / "recipes"], changed_from="main", repo=repo)
    assert report.ok and report.findings == []
    assert report.folders == ["recipes/new-sst"]


def test_the_repository_is_found_with_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo / "recipes" / "first-copy", meta={**META, "id": "first-sst"}, spec=SPEC)
    monkeypatch.chdir(repo)
    report = lint_paths([Path("recipes/first-copy")], changed_from="HEAD")
    assert [(f.code, f.path) for f in report.findings] == [
        ("FG005", "recipes/first-copy/meta.yaml")
    ]


def test_a_base_git_does_not_know(repo: Path) -> None:
    with pytest.raises(LintSetupError, match="--changed-from: `git merge-base nope HEAD` failed"):
        lint_paths([repo / "recipes"], changed_from="nope", repo=repo)


def test_changed_from_outside_a_repository(tmp_path: Path) -> None:
    folder = write(tmp_path / "sst", spec=SPEC)
    with pytest.raises(LintSetupError, match="inside a git repository"):
        lint_paths([folder], changed_from="main")
