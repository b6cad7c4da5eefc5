"""``forge bot report``: post a test report on its pull request, as one comment edited in place.

The report comes from an untrusted job, so it is read as data only: parsed as JSON,
checked for shape, and every value escaped when rendered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arcoforge.bot.github import GitHub
from arcoforge.bot.markdown import MARKER, comment_markdown
from arcoforge.errors import GitHubError

LINT_STATUS = "forge/lint"
TEST_STATUS = "forge/test"
#: Labels the bot keeps: every checked pull request is a recipe; failing ones need work.
RECIPE_LABEL = "recipe"
NEEDS_WORK_LABEL = "needs-changes"
#: The account that owns the bot's comment when it runs with Actions' own token.
DEFAULT_BOT_LOGIN = "github-actions[bot]"


@dataclass(frozen=True)
class Posted:
    """What posting a report did."""

    comment_id: int
    action: str  # created, edited or unchanged
    lint_state: str | None
    test_state: str | None


def read_report(path: Path) -> dict[str, Any]:
    """A test report written by ``forge test --report-json``, checked for shape."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GitHubError(
            f"{path}: expected a test report as JSON (forge test --report-json). Got: {e}."
        ) from None
    if not isinstance(doc, dict) or doc.get("kind") != "arcoforge-test-report":
        found = repr(doc.get("kind")) if isinstance(doc, dict) else type(doc).__name__
        raise GitHubError(
            f"{path}: expected a JSON object with kind 'arcoforge-test-report' "
            f"(forge test --report-json). Got {found} instead."
        )
    for key, kind in (("checks", list), ("variables", dict), ("dims", dict)):
        if not isinstance(doc.get(key, kind()), kind):
            raise GitHubError(f"{path}: expected {key!r} to be a {kind.__name__}.")
    return doc


def states(doc: dict[str, Any]) -> tuple[str | None, str | None]:
    """The commit states of lint and of the test run (None for what did not run)."""
    lint = doc.get("lint")
    lint_state = (
        None if not isinstance(lint, dict) else ("success" if lint.get("ok") else "failure")
    )
    failed = doc.get("error") is not None or any(
        not c.get("ok") for c in doc.get("checks", []) if c.get("level") == "error"
    )
    if doc.get("ran") is False:
        return lint_state, None
    return lint_state, "failure" if failed else "success"


def post_report(
    gh: GitHub,
    repo: str,
    number: int,
    doc: dict[str, Any],
    *,
    sha: str | None = None,
    run_url: str | None = None,
    bot_login: str = DEFAULT_BOT_LOGIN,
) -> Posted:
    """Comment (once, edited in place), set statuses and labels for pull request ``number``.

    ``sha`` is the commit the report was made for; a report for a commit that is no
    longer the pull request's head is refused, so an old run cannot overwrite a new one.
    """
    pr = gh.pull_request(repo, number)
    if sha is not None and sha != pr.head_sha:
        raise GitHubError(
            f"{repo}#{number}: the report is for commit {sha[:12]}, but the pull request's head "
            f"is now {pr.head_sha[:12]}. A newer run will report; nothing was posted."
        )
    body = comment_markdown(doc, run_url=run_url)
    ours = [
        c for c in gh.comments(repo, number) if c.body.startswith(MARKER) and c.author == bot_login
    ]
    if not ours:
        comment_id, action = gh.create_comment(repo, number, body), "created"
    elif ours[0].body == body:
        comment_id, action = ours[0].id, "unchanged"
    else:
        comment_id, action = ours[0].id, "edited"
        gh.edit_comment(repo, comment_id, body)

    lint_state, test_state = states(doc)
    if lint_state is not None:
        words = "No lint errors." if lint_state == "success" else "The recipe has lint errors."
        gh.set_status(repo, pr.head_sha, LINT_STATUS, lint_state, words, run_url)
    if test_state is not None:
        words = "The test run passed." if test_state == "success" else "The test run failed."
        gh.set_status(repo, pr.head_sha, TEST_STATUS, test_state, words, run_url)

    passed = test_state != "failure" and lint_state != "failure"
    have = gh.labels(repo, number)
    wanted = {RECIPE_LABEL} | (set() if passed else {NEEDS_WORK_LABEL})
    if wanted - have:
        gh.add_labels(repo, number, sorted(wanted - have))
    if passed and NEEDS_WORK_LABEL in have:
        gh.remove_label(repo, number, NEEDS_WORK_LABEL)
    return Posted(comment_id, action, lint_state, test_state)
