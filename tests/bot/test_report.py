"""``forge bot report`` through github3.py against the stand-in: one comment, statuses, labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arcoforge.bot.github import Github3Client
from arcoforge.bot.markdown import MARKER
from arcoforge.bot.report import post_report
from arcoforge.cli import app
from arcoforge.errors import GitHubError
from tests.bot.standin import GitHubStandIn

REPO = "forge-org/staged-recipes"


def _report(ok: bool) -> dict[str, Any]:
    checks = [
        {"name": "zarr: dims", "ok": True, "level": "error", "message": "time=2, lat=36"},
        {"name": "zarr: time increasing", "ok": ok, "level": "error", "message": "2 values"},
    ]
    return {
        "kind": "arcoforge-test-report",
        "version": 1,
        "recipe": "demo-sst",
        "ok": ok,
        "error": None,
        "prune": 2,
        "inputs": 2,
        "dims": {"time": 2, "lat": 36},
        "variables": {
            "sst": {
                "dims": ["time", "lat"],
                "dtype": "float32",
                "chunks": [2, 36],
                "chunk_bytes": 288,
            }
        },
        "nbytes": 576,
        "bytes_fetched": 1234,
        "time_range": ["2020-01-01T00:00:00", "2020-01-02T00:00:00"],
        "outputs": [{"kind": "zarr", "open": 'xr.open_zarr("forge-output/demo-sst.zarr")'}],
        "checks": checks,
        "timings": {"run": 1.5, "total": 2.0},
        "lint": {"ok": True, "findings": []},
    }


@pytest.fixture
def pull(github: GitHubStandIn) -> Any:
    return github.add_pull(
        REPO, 7, author="contributor", files={"recipes/demo-sst/meta.yaml": b"title: x\n"}
    )


def test_one_comment_edited_in_place(
    github: GitHubStandIn, client: Github3Client, pull: Any
) -> None:
    github.add_comment(REPO, 7, "contributor", f"{MARKER} a contributor's copy of the marker")
    first = post_report(client, REPO, 7, _report(ok=False), sha=pull.head_sha)
    assert first.action == "created" and first.test_state == "failure"
    again = post_report(client, REPO, 7, _report(ok=False), sha=pull.head_sha)
    assert again.action == "unchanged" and again.comment_id == first.comment_id
    fixed = post_report(client, REPO, 7, _report(ok=True), sha=pull.head_sha)
    assert fixed.action == "edited" and fixed.comment_id == first.comment_id

    ours = [c for c in github.issue_comments(REPO, 7) if c["user"] == "github-actions[bot]"]
    assert len(ours) == 1 and ours[0]["body"].startswith(MARKER)
    assert "✅ All checks passed." in ours[0]["body"]
    # the contributor's comment carrying the marker was left alone
    theirs = [c for c in github.issue_comments(REPO, 7) if c["user"] == "contributor"]
    assert theirs[0]["body"].endswith("a contributor's copy of the marker")
    assert len(github.calls("POST", r"/issues/7/comments$")) == 1
    assert len(github.calls("PATCH", r"/issues/comments/\d+$")) == 1

    statuses = github.repos[REPO].statuses[pull.head_sha]
    assert [(s["context"], s["state"]) for s in statuses][-2:] == [
        ("forge/lint", "success"),
        ("forge/test", "success"),
    ]
    assert ("forge/test", "failure") in [(s["context"], s["state"]) for s in statuses]
    # needs-changes came with the failure and went with the fix
    assert github.repos[REPO].pulls[7].labels == ["recipe"]
    assert len(github.calls("DELETE", r"/labels/needs-changes$")) == 1


def test_a_report_for_an_old_commit_is_refused(
    github: GitHubStandIn, client: Github3Client, pull: Any
) -> None:
    with pytest.raises(GitHubError, match="head is now"):
        post_report(client, REPO, 7, _report(ok=True), sha="0" * 40)
    assert github.issue_comments(REPO, 7) == [] and github.repos[REPO].statuses == {}


def test_the_command_line_posts_a_report_with_the_token_from_the_environment(
    github: GitHubStandIn, pull: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report(ok=True)))
    monkeypatch.setenv("GITHUB_API_URL", github.api)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    args = ["bot", "report", "--repo", REPO, "--pr", "7", "--report", str(path)]
    missing = CliRunner().invoke(app, args)
    assert missing.exit_code == 1 and "GITHUB_TOKEN" in missing.output
    assert "Traceback" not in missing.output

    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    done = CliRunner().invoke(app, [*args, "--run-url", "https://github.com/o/r/actions/runs/1"])
    assert done.exit_code == 0, done.output
    assert "created" in done.output
    body = github.issue_comments(REPO, 7)[0]["body"]
    assert (
        "[https:&#47;&#47;github.com/o/r/actions/runs/1](https://github.com/o/r/actions/runs/1)"
        in body
    )
    assert {r.status for r in github.requests} <= {200, 201, 204}

    path.write_text("[1, 2]")
    wrong = CliRunner().invoke(app, args)
    assert wrong.exit_code == 1 and "arcoforge-test-report" in wrong.output


def test_a_bad_token_is_a_clear_error(
    github: GitHubStandIn, pull: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arcoforge.bot.github import connect

    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    with pytest.raises(GitHubError, match=r"401.*valid token"):
        connect(github.api).pull_request(REPO, 7)
