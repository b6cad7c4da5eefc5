"""Recipe repositories: shallow clones of local git repositories, and ``forge register``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from arcoforge.bot.repos import clone, find_recipe, resolve_recipe
from arcoforge.cli import app
from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import GitRepositoryError
from tests.bot.standin import GitHubStandIn
from tests.helpers import META, write_recipe

PLATFORM = "forge-org/staged-recipes"


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
            "PATH": "/usr/bin:/bin",
        },
    )
    return done.stdout.strip()


@pytest.fixture
def recipe_repo(tmp_path: Path, http_server: SourceServer) -> Path:
    """A git repository holding a feedstock-style recipe in feedstock/, on two commits."""
    write_files(make_sst(days=3), http_server.root, steps=1, name="sst.{time:%Y%m%d}.nc")
    repo = tmp_path / "sst-feedstock"
    spec = {
        "sources": {
            "url": http_server.url + "/sst.{time:%Y%m%d}.nc",
            "concat": {"time": {"start": "2020-01-01", "end": "2020-01-03", "freq": "D"}},
        },
        "outputs": {"zarr": {"chunks": {"time": 2}}},
    }
    write_recipe(repo / "feedstock", spec, meta={**META, "id": "sst-repo"})
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    _git(repo, "tag", "v1")
    (repo / "feedstock" / "meta.yaml").write_text(
        yaml.safe_dump({**META, "id": "sst-repo", "title": "Second title"})
    )
    _git(repo, "commit", "-qam", "second")
    return repo


def test_clone_is_shallow_and_follows_the_ref(
    recipe_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_REPO_CACHE", str(tmp_path / "cache"))
    url = recipe_repo.as_uri()
    head = clone(url)
    assert _git(head, "rev-list", "--count", "HEAD") == "1"  # shallow: one commit
    assert "Second title" in (head / "feedstock" / "meta.yaml").read_text()
    first = _git(recipe_repo, "rev-parse", "v1")
    for ref in ("v1", first):
        again = clone(url, ref=ref)
        assert again == head  # one cache folder per URL
        assert _git(again, "rev-parse", "HEAD") == first
        assert "Second title" not in (again / "feedstock" / "meta.yaml").read_text()
    assert resolve_recipe(url, ref="main") == (head / "feedstock").resolve()


def test_clone_errors_name_the_url_and_ref(recipe_repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(GitRepositoryError, match="no-such-branch"):
        clone(recipe_repo.as_uri(), ref="no-such-branch", cache=cache)
    with pytest.raises(GitRepositoryError, match="expected a branch, tag or commit"):
        clone(recipe_repo.as_uri(), ref="--upload-pack=evil", cache=cache)
    with pytest.raises(GitRepositoryError, match="expected a git URL"):
        clone("ext::sh -c touch% /tmp/pwned", cache=cache)
    with pytest.raises(GitRepositoryError, match="with it"):
        resolve_recipe(str(recipe_repo), ref="main")


def test_find_recipe_places(tmp_path: Path) -> None:
    write_recipe(tmp_path / "a" / "recipes" / "only", {"outputs": {"zarr": {}}})
    assert find_recipe(tmp_path / "a") == tmp_path / "a" / "recipes" / "only"
    write_recipe(tmp_path / "a" / "recipes" / "second", {"outputs": {"zarr": {}}})
    with pytest.raises(GitRepositoryError, match="recipes/only, recipes/second"):
        find_recipe(tmp_path / "a")


def test_forge_test_and_run_accept_a_git_url(
    recipe_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xarray as xr

    monkeypatch.setenv("FORGE_REPO_CACHE", str(tmp_path / "cache"))
    url = recipe_repo.as_uri()
    tested = CliRunner().invoke(app, ["test", url, "--ref", "v1", "--prune", "1"])
    assert tested.exit_code == 0, tested.output
    assert "sst-repo: 1 inputs" in tested.output
    ran = CliRunner().invoke(
        app, ["run", url, "--ref", "v1", "--output", str(tmp_path / "out"), "--workers", "1"]
    )
    assert ran.exit_code == 0, ran.output
    out = xr.open_zarr(tmp_path / "out" / "sst-repo.zarr")
    assert out.sizes["time"] == 3


def test_register_opens_one_pull_request_from_a_fork(
    recipe_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_REPO_CACHE", str(tmp_path / "cache"))
    with GitHubStandIn() as github:
        github.orgs.add("forge-org")
        platform = github.add_repo(PLATFORM, maintainer="maintain")
        platform.commit_files("main", {"feedstocks.yaml": b"feedstocks: []\n"}, "init")
        github.tokens.add("alice-token")
        github.token_user["alice-token"] = "alice"
        monkeypatch.setenv("GITHUB_API_URL", github.api)
        monkeypatch.setenv("GITHUB_TOKEN", "alice-token")
        url = recipe_repo.as_uri()
        args = ["register", url, "--repo", PLATFORM, "--prune", "1"]
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 0, first.output
        assert "pull request opened" in first.output
        second = CliRunner().invoke(app, args)
        assert second.exit_code == 0 and "already open: forge-org/staged-recipes#1" in second.output

        assert list(platform.pulls) == [1]
        pull = platform.pulls[1]
        assert pull.head_repo == "alice/staged-recipes" and pull.author == "alice"
        index = yaml.safe_load(
            github.repos["alice/staged-recipes"].files(pull.head_ref)["feedstocks.yaml"]
        )
        assert index == {"feedstocks": [{"id": "sst-repo", "repo": url}]}
        assert platform.files("main")["feedstocks.yaml"] == b"feedstocks: []\n"
        assert len(github.calls("POST", r"/forks$")) == 2  # the fork is found again, not remade


def test_register_refuses_a_failing_recipe(
    recipe_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_REPO_CACHE", str(tmp_path / "cache"))
    meta = recipe_repo / "feedstock" / "meta.yaml"
    meta.write_text(meta.read_text().replace("CC0-1.0", "not-a-license"))
    _git(recipe_repo, "commit", "-qam", "break it")
    with GitHubStandIn() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.api)
        monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
        done = CliRunner().invoke(app, ["register", recipe_repo.as_uri(), "--repo", PLATFORM])
        assert done.exit_code == 1 and "did not pass its checks" in done.output
        assert "license" in done.output and "Traceback" not in done.output
        assert github.requests == []  # nothing is proposed for a failing recipe


def test_index_changes_lists_the_added_repositories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "platform"
    repo.mkdir()
    (repo / "feedstocks.yaml").write_text("feedstocks:\n  - id: a\n    repo: org/a-feedstock\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    with (repo / "feedstocks.yaml").open("a") as f:
        f.write("  - id: b\n    repo: https://git.example.org/b.git\n  - id: c\n    repo: me/c\n")
    monkeypatch.chdir(repo)
    done = CliRunner().invoke(app, ["bot", "index-changes", "--base", "HEAD"])
    assert done.exit_code == 0, done.output
    assert done.output.split() == ["https://git.example.org/b.git", "https://github.com/me/c"]


def test_forge_lint_accepts_a_git_url(
    recipe_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_REPO_CACHE", str(tmp_path / "cache"))
    done = CliRunner().invoke(app, ["lint", recipe_repo.as_uri(), "--ref", "v1"])
    assert done.exit_code == 0, done.output
    meta = recipe_repo / "feedstock" / "meta.yaml"
    meta.write_text(meta.read_text().replace("CC0-1.0", "not-a-license"))
    _git(recipe_repo, "commit", "-qam", "break it")
    broken = CliRunner().invoke(app, ["lint", recipe_repo.as_uri()])
    assert broken.exit_code == 1 and "not-a-license" in broken.output


def test_forge_test_finds_the_recipe_a_pull_request_brings(
    recipe_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("FORGE_REPO_CACHE", str(tmp_path / "cache"))
    platform = tmp_path / "platform"
    (platform / "recipes").mkdir(parents=True)
    (platform / "feedstocks.yaml").write_text("feedstocks: []\n")
    _git(platform, "init", "-q", "-b", "main")
    _git(platform, "add", "-A")
    _git(platform, "commit", "-qm", "base")
    _git(platform, "checkout", "-qb", "pr")
    spec = yaml.safe_load((recipe_repo / "feedstock" / "recipe.yaml").read_text())
    write_recipe(platform / "recipes" / "one", spec)
    monkeypatch.chdir(platform)
    report = tmp_path / "report.json"
    args = ["test", "--changed-from", "main", "--prune", "1", "--report-json", str(report)]

    one = CliRunner().invoke(app, args)
    assert one.exit_code == 0, one.output
    assert json.loads(report.read_text())["recipe"] == "one"

    write_recipe(platform / "recipes" / "two", spec)
    two = CliRunner().invoke(app, args)
    assert two.exit_code == 1
    doc = json.loads(report.read_text())  # a failing report, for the bot to post
    assert doc["ok"] is False and "Found 2: one, two" in doc["error"]

    for name in ("one", "two"):
        for f in (platform / "recipes" / name).iterdir():
            f.unlink()
        (platform / "recipes" / name).rmdir()
    (platform / "feedstocks.yaml").write_text(
        f"feedstocks:\n  - id: sst-repo\n    repo: {recipe_repo.as_uri()}\n"
    )
    registered = CliRunner().invoke(app, args)
    assert registered.exit_code == 0, registered.output
    assert json.loads(report.read_text())["recipe"] == "sst-repo"

    (platform / "feedstocks.yaml").write_text("feedstocks: []\n")
    nothing = CliRunner().invoke(app, args)
    assert nothing.exit_code == 1
    assert "Found neither" in json.loads(report.read_text())["error"]
