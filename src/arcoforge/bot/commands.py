"""Commands in pull-request comments: ``/forge lint`` and ``/forge test``.

The handler holds the bot's token, so it never checks out or runs the pull request's
code: it checks the commenter's permission and dispatches the untrusted workflow
(``recipes-pr.yaml``) for the pull request's head, which runs with no secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from arcoforge.bot.github import GitHub
from arcoforge.bot.report import LINT_STATUS, TEST_STATUS

#: The workflow that lints and tests recipe pull requests, with no secrets.
UNTRUSTED_WORKFLOW = "recipes-pr.yaml"
#: Roles that may ask the bot to run the checks again.
ALLOWED = frozenset({"admin", "maintain", "write"})

# The command must open a line, so quoting someone else's command does not trigger it.
_COMMAND = re.compile(r"^[ \t]*/forge[ \t]+(?P<verb>lint|test)\b[ \t]*$", re.I | re.M)


class Command(StrEnum):
    """What a comment may ask for."""

    LINT = "lint"
    TEST = "test"


@dataclass(frozen=True)
class Handled:
    """What handling a comment did."""

    command: Command | None
    dispatched: bool
    reply: int | None = None


def parse_command(body: str) -> Command | None:
    """The command in a comment's body, if a line of it is one; quoted lines do not count."""
    match = _COMMAND.search(body)
    return Command(match["verb"].lower()) if match else None


def refusal(user: str, command: Command) -> str:
    """The polite answer to someone who may not run commands."""
    return (
        f"Hi &#64;{user}, thanks for asking! Only people with write access to this "
        f"repository can ask me to `/forge {command}`. The checks run by themselves on every "
        "push to the pull request; a maintainer can run them again for you."
    )


def handle_comment(
    gh: GitHub,
    repo: str,
    number: int,
    comment_id: int,
    author: str,
    body: str,
    *,
    ref: str = "main",
) -> Handled:
    """Answer one comment: dispatch the checks for a permitted command, refuse others.

    ``ref`` is the branch whose copy of the untrusted workflow runs (the default
    branch, never the pull request's own).
    """
    command = parse_command(body)
    if command is None or author.endswith("[bot]"):
        return Handled(None, dispatched=False)
    if gh.permission(repo, author) not in ALLOWED:
        reply = gh.create_comment(repo, number, refusal(author, command))
        return Handled(command, dispatched=False, reply=reply)
    pr = gh.pull_request(repo, number)
    gh.react(repo, comment_id, "rocket")
    gh.dispatch_workflow(
        repo,
        UNTRUSTED_WORKFLOW,
        ref,
        {"pr": str(number), "sha": pr.head_sha, "task": str(command)},
    )
    contexts = [LINT_STATUS] if command is Command.LINT else [LINT_STATUS, TEST_STATUS]
    for context in contexts:
        gh.set_status(repo, pr.head_sha, context, "pending", f"Asked by {author}.", None)
    return Handled(command, dispatched=True)
