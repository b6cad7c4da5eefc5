"""``forge register URL``: propose a recipe repository for the platform's index of feedstocks.

The repository is cloned, linted and test-run here first; then, with the user's own
``GITHUB_TOKEN``, a pull request adds it to ``feedstocks.yaml`` (from a branch of the
platform, or of the user's fork when they cannot write to it). The bot checks that
pull request like any recipe pull request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from arcoforge.bot.github import GitHub
from arcoforge.bot.index import INDEX_FILE, Entry, add_entry
from arcoforge.bot.repos import clone, find_recipe, head_commit
from arcoforge.bot.testrun import TestLimits, TestReport, run_test
from arcoforge.errors import FeedstockError

_GITHUB_URL = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")
WRITERS = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True)
class Registered:
    """What registering did: the recipe, the commit checked, the pull request."""

    recipe: str
    commit: str
    pull_request: int
    created: bool
    report: TestReport


def index_repo(url: str) -> str:
    """How ``feedstocks.yaml`` names a repository: OWNER/NAME on GitHub, else its URL."""
    match = _GITHUB_URL.match(url)
    return f"{match[1]}/{match[2]}" if match else url


def register(
    gh: GitHub,
    platform: str,
    url: str,
    *,
    ref: str | None = None,
    limits: TestLimits | None = None,
    test: bool = True,
) -> Registered:
    """Validate the recipe repository at ``url`` and open (or find) its pull request."""
    checkout = clone(url, ref=ref)
    folder = find_recipe(checkout, source=url)
    commit = head_commit(checkout)
    report = run_test(folder, limits or TestLimits(), run=test)
    if not report.ok:
        problems = report.error or "; ".join(
            f"{c.name}: {c.message}" for c in report.checks if not c.ok and c.level == "error"
        )
        if report.lint is not None and not report.lint["ok"]:
            errors = [f for f in report.lint["findings"] if f["level"] == "error"]
            problems = "; ".join(
                [
                    *(f"{f['code']} {f['message']}" for f in errors),
                    *([problems] if problems else []),
                ]
            )
        raise FeedstockError(
            f"{url}: the recipe in {folder.relative_to(checkout) or '.'} did not pass its checks "
            f"({problems}). Fix it, then run `forge test {url}` until it passes."
        )
    recipe_id = report.recipe
    branch = f"register/{recipe_id}"
    user = gh.whoami()
    writes = gh.permission(platform, user) in WRITERS
    head_repo = platform if writes else gh.fork(platform)
    head_owner = head_repo.split("/")[0]

    found = gh.open_pull_request(platform, branch, head_owner)
    if found is not None:
        return Registered(recipe_id, commit, found, False, report)
    main = gh.branch_head(platform, "main")
    if main is None:
        raise FeedstockError(f"{platform}: expected a main branch. Found none.")
    text = gh.read_file(platform, INDEX_FILE, "main")
    index = add_entry(text.decode() if text else None, Entry(recipe_id, index_repo(url)))
    gh.commit_files(
        head_repo,
        branch,
        f"Register the {recipe_id} recipe repository",
        {INDEX_FILE: index.encode()},
        base=main,
    )
    body = (
        f"Adds the recipe repository {url} (recipe `{recipe_id}`, commit `{commit[:12]}`) to "
        f"`{INDEX_FILE}`. `forge register` linted and test-ran it before opening this."
    )
    number = gh.create_pull_request(
        platform, branch, "main", f"Register {recipe_id}", body, head_owner=head_owner
    )
    return Registered(recipe_id, commit, number, True, report)
