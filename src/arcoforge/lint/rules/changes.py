"""FG012: a pull request changes recipe folders only; the changed files come from git."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

from arcoforge.errors import LintSetupError
from arcoforge.lint.registry import Finding, define

RECIPES_DIR = "recipes"

OUTSIDE_RECIPES = define(
    "FG012",
    "error",
    "The change touches files outside recipes/",
    """
    A recipe pull request adds or changes folders under `recipes/` and nothing else, so
    it can be checked and merged on its own and the platform's code only changes through
    reviewed maintenance pull requests. With `--changed-from BASE`, lint asks git which
    files differ from the merge base of `BASE` and the working tree (committed, staged,
    unstaged and new files) and reports each one outside `recipes/`. Move platform
    changes to a pull request of their own.
    """,
)


def changed_files(repo: Path, base: str) -> list[str]:
    """Paths (relative to ``repo``, with ``/``) that differ from ``base``'s merge base."""
    merge_base = _git(repo, "merge-base", base, "HEAD").strip()
    changed = _git(repo, "diff", "--name-only", "--no-renames", "-z", merge_base, "--")
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "-z")
    names = {n for n in (changed + untracked).split("\0") if n}
    return sorted(names)


def check_outside_recipes(changed: list[str]) -> Iterator[Finding]:
    """FG012: one finding per changed file outside ``recipes/``."""
    for name in changed:
        if not name.startswith(f"{RECIPES_DIR}/"):
            yield OUTSIDE_RECIPES.finding(
                name,
                f"this change touches {name}, outside {RECIPES_DIR}/. A recipe pull request "
                f"changes only {RECIPES_DIR}/<id>/; propose other changes separately.",
            )


def repo_root(start: Path) -> Path | None:
    """The root of the git work tree holding ``start``, or None outside one."""
    try:
        out = _git(start if start.is_dir() else start.parent, "rev-parse", "--show-toplevel")
    except LintSetupError:
        return None
    return Path(out.strip())


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LintSetupError(f"--changed-from: could not run git in {repo}: {e}.") from e
    if done.returncode != 0:
        raise LintSetupError(
            f"--changed-from: `git {' '.join(args)}` failed in {repo}: "
            f"{done.stderr.strip() or 'no message'}. Expected a git repository and a base "
            "revision it knows (e.g. origin/main; fetch it first in a shallow clone)."
        )
    return done.stdout
