"""Comment commands: parsed strictly, answered only for people with write access."""

from __future__ import annotations

import pytest

from arcoforge.bot.commands import Command, handle_comment, parse_command
from arcoforge.bot.github import Github3Client
from tests.bot.standin import GitHubStandIn, Pull

REPO = "forge-org/staged-recipes"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/forge lint", Command.LINT),
        ("/forge test", Command.TEST),
        ("/FORGE Test  ", Command.TEST),
        ("Thanks!\n/forge test\n", Command.TEST),
        ("  /forge lint", Command.LINT),
        ("> /forge test", None),  # quoted from someone else
        ("please /forge test", None),
        ("/forge testing", None),
        ("/forge run", None),
        ("/forge test now", None),
        ("`/forge test`", None),
    ],
)
def test_parse_command(body: str, expected: Command | None) -> None:
    assert parse_command(body) == expected


@pytest.fixture
def pull(github: GitHubStandIn) -> Pull:
    return github.add_pull(
        REPO, 3, author="contributor", files={"recipes/x/meta.yaml": b"title: x\n"}
    )


@pytest.mark.parametrize("user", ["maintainer", "owner1"])
def test_a_maintainer_gets_the_untrusted_workflow_dispatched(
    github: GitHubStandIn, client: Github3Client, pull: Pull, user: str
) -> None:
    cid = github.add_comment(REPO, 3, user, "/forge test")
    handled = handle_comment(client, REPO, 3, cid, user, "/forge test")
    assert handled.dispatched and handled.command is Command.TEST
    assert github.repos[REPO].dispatches == [
        {
            "workflow": "recipes-pr.yaml",
            "ref": "main",
            "inputs": {"pr": "3", "sha": pull.head_sha, "task": "test"},
        }
    ]
    assert github.comments[cid]["reactions"] == ["rocket"]
    states = [(s["context"], s["state"]) for s in github.repos[REPO].statuses[pull.head_sha]]
    assert states == [("forge/lint", "pending"), ("forge/test", "pending")]
    # the permission was asked of GitHub, for this user
    assert github.calls("GET", rf"/collaborators/{user}/permission$")


@pytest.mark.parametrize("user", ["contributor", "stranger"])
def test_others_get_a_polite_refusal_and_nothing_runs(
    github: GitHubStandIn, client: Github3Client, pull: Pull, user: str
) -> None:
    if user == "contributor":
        github.repos[REPO].permissions["contributor"] = "read"
    cid = github.add_comment(REPO, 3, user, "/forge lint")
    handled = handle_comment(client, REPO, 3, cid, user, "/forge lint")
    assert not handled.dispatched and handled.reply is not None
    assert github.repos[REPO].dispatches == [] and github.repos[REPO].statuses == {}
    reply = github.comments[handled.reply]["body"]
    assert "Only people with write access" in reply and "`/forge lint`" in reply
    assert "@" not in reply  # names the commenter without notifying anyone again


def test_comments_without_commands_and_from_bots_are_ignored(
    github: GitHubStandIn, client: Github3Client, pull: Pull
) -> None:
    assert handle_comment(client, REPO, 3, 1, "maintainer", "looks good").command is None
    assert handle_comment(client, REPO, 3, 1, "github-actions[bot]", "/forge test").command is None
    assert github.requests == []


def test_the_command_line_reads_the_comment_from_the_environment(
    github: GitHubStandIn, pull: Pull, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from arcoforge.cli import app

    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    monkeypatch.setenv("GITHUB_API_URL", github.api)
    monkeypatch.setenv("COMMENT_BODY", "Fixed the URL.\n/forge lint")
    cid = github.add_comment(REPO, 3, "maintainer", "Fixed the URL.\n/forge lint")
    args = ["bot", "command", "--repo", REPO, "--pr", "3", "--comment-id", str(cid)]
    done = CliRunner().invoke(app, [*args, "--author", "maintainer"])
    assert done.exit_code == 0, done.output
    assert "dispatched recipes-pr.yaml" in done.output
    assert github.repos[REPO].dispatches[0]["inputs"]["task"] == "lint"
    refused = CliRunner().invoke(app, [*args, "--author", "stranger"])
    assert refused.exit_code == 0 and "refused" in refused.output
    assert len(github.repos[REPO].dispatches) == 1
