"""``forge bot create-feedstock`` against the stand-in: complete, idempotent, resumable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from arcoforge.bot.feedstock import create_feedstock
from arcoforge.bot.github import Github3Client
from arcoforge.cli import app
from arcoforge.feedstock.render import GENERATED_MARK
from tests.bot.standin import GitHubStandIn
from tests.helpers import META

PLATFORM = "forge-org/staged-recipes"
RECIPE = {
    "sources": {
        "url": "https://example.org/sst/{time:%Y%m%d}.nc",
        "concat": {"time": {"start": "2020-01-01", "end": "2020-01-31", "freq": "D"}},
    },
    "outputs": {"zarr": {"chunks": {"time": 30}}},
}


@pytest.fixture
def checkout(github: GitHubStandIn, tmp_path: Path) -> Path:
    """The platform's main branch, holding recipes/demo-sst/, on GitHub and checked out."""
    meta = {**META, "maintainers": [*META["maintainers"], {"name": "B", "github": "second"}]}
    files = {
        "recipes/demo-sst/meta.yaml": yaml.safe_dump(meta).encode(),
        "recipes/demo-sst/recipe.yaml": yaml.safe_dump(RECIPE, sort_keys=False).encode(),
        "recipes/other/meta.yaml": yaml.safe_dump(META).encode(),
    }
    github.repos[PLATFORM].commit_files("main", files, "Merge the demo-sst recipe")
    for path, content in files.items():
        (tmp_path / "main" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "main" / path).write_bytes(content)
    return tmp_path / "main"


def _state(github: GitHubStandIn) -> dict[str, object]:
    feedstock = github.repos["forge-org/demo-sst-feedstock"]
    platform = github.repos[PLATFORM]
    return {
        "feedstock_files": feedstock.files("main"),
        "feedstock_commits": len(feedstock.commits),
        "collaborators": dict(feedstock.permissions),
        "pulls": {n: (p.head_ref, p.title) for n, p in platform.pulls.items()},
        "branch_files": platform.files("feedstock/demo-sst"),
    }


def test_a_feedstock_is_created_completely(
    github: GitHubStandIn, client: Github3Client, checkout: Path
) -> None:
    outcome = create_feedstock(client, PLATFORM, "forge-org", "demo-sst", checkout)
    assert outcome.feedstock == "forge-org/demo-sst-feedstock" and outcome.pull_request == 1
    feedstock = github.repos["forge-org/demo-sst-feedstock"]
    files = feedstock.files("main")
    assert set(files) == {
        "README.md",
        ".github/workflows/run.yaml",
        ".gitignore",
        "forge-feedstock.yaml",
        "feedstock/meta.yaml",
        "feedstock/recipe.yaml",
    }
    assert (
        files["feedstock/recipe.yaml"] == (checkout / "recipes/demo-sst/recipe.yaml").read_bytes()
    )
    assert yaml.safe_load(files["feedstock/meta.yaml"])["id"] == "demo-sst"
    assert GENERATED_MARK in files["README.md"].decode()
    assert 'arcoforge.open_dataset("forge-output/demo-sst.zarr")' in files["README.md"].decode()
    assert len(feedstock.commits) == 1  # one commit, through the Git Data API
    assert feedstock.permissions["test-person"] == "maintain"
    assert feedstock.permissions["second"] == "maintain"

    pull = github.repos[PLATFORM].pulls[1]
    assert pull.head_ref == "feedstock/demo-sst" and pull.base_ref == "main"
    after = github.repos[PLATFORM].files("feedstock/demo-sst")
    assert not any(p.startswith("recipes/demo-sst/") for p in after)
    assert "recipes/other/meta.yaml" in after and "README.md" in after
    index = yaml.safe_load(after["feedstocks.yaml"])
    assert index["feedstocks"] == [{"id": "demo-sst", "repo": "forge-org/demo-sst-feedstock"}]


def test_running_twice_changes_nothing(
    github: GitHubStandIn, client: Github3Client, checkout: Path
) -> None:
    create_feedstock(client, PLATFORM, "forge-org", "demo-sst", checkout)
    before = _state(github)
    seen = len(github.requests)
    again = create_feedstock(client, PLATFORM, "forge-org", "demo-sst", checkout)
    assert _state(github) == before
    # the second run only read
    assert {r.method for r in github.requests[seen:]} == {"GET"}
    assert dict(again.steps) == {
        "repository": "exists",
        "files": "up to date",
        "collaborator test-person": "exists",
        "collaborator second": "exists",
        "pull request": "#1 exists",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", r"/forge-org/demo-sst-feedstock/git/commits$"),  # files sent, not committed
        ("PUT", r"/collaborators/second$"),  # one maintainer added, not the other
        ("POST", r"/staged-recipes/git/refs$"),  # commit made, branch not created
        ("POST", r"/staged-recipes/pulls$"),  # branch pushed, no pull request
    ],
)
def test_a_run_that_failed_halfway_is_finished_without_duplicates(
    github: GitHubStandIn, client: Github3Client, checkout: Path, method: str, path: str
) -> None:
    from arcoforge.errors import GitHubError

    github.fail_once(method, path)
    with pytest.raises(GitHubError, match="500"):
        create_feedstock(client, PLATFORM, "forge-org", "demo-sst", checkout)
    create_feedstock(client, PLATFORM, "forge-org", "demo-sst", checkout)
    state = _state(github)
    assert len(state["pulls"]) == 1 and len(github.calls("POST", r"/orgs/forge-org/repos$")) == 1
    assert state["feedstock_commits"] == 1
    assert set(state["collaborators"]) == {"github-actions[bot]", "test-person", "second"}
    assert "feedstocks.yaml" in state["branch_files"]
    # a third run finds everything done
    third = create_feedstock(client, PLATFORM, "forge-org", "demo-sst", checkout)
    assert ("pull request", "#1 exists") in third.steps and _state(github) == state


def test_the_command_line_with_the_request_log(
    github: GitHubStandIn, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    monkeypatch.setenv("GITHUB_API_URL", github.api)
    args = [
        "bot",
        "create-feedstock",
        "demo-sst",
        "missing-one",
        "--repo",
        PLATFORM,
        "--org",
        "forge-org",
        "--checkout",
        str(checkout),
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1  # missing-one has no folder; demo-sst was still made
    assert "demo-sst-feedstock: repository created" in first.output
    assert "missing-one" in first.output and "recipes/missing-one" in first.output
    second = CliRunner().invoke(app, args[:3] + args[4:])
    assert second.exit_code == 0, second.output
    assert "repository exists; files up to date" in second.output
    writes = [(r.method, r.path) for r in github.requests if r.method != "GET"]
    assert writes.count(("POST", "/orgs/forge-org/repos")) == 1
    assert writes.count(("POST", "/repos/forge-org/staged-recipes/pulls")) == 1
