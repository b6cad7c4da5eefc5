"""Fixtures of the bot's tests: the GitHub stand-in and a client logged in to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from arcoforge.bot.github import Github3Client
from tests.bot.standin import GitHubStandIn


@pytest.fixture(autouse=True)
def _local_sources() -> Iterator[None]:
    """``forge test`` runs untrusted; these tests' sources are served on loopback."""
    from arcoforge.sources.addresses import allow_loopback

    with allow_loopback():
        yield


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """A GitHub stand-in on 127.0.0.1 with an organisation and its staged-recipes repository."""
    with GitHubStandIn() as server:
        server.orgs.add("forge-org")
        repo = server.add_repo("forge-org/staged-recipes", maintainer="maintain", owner1="admin")
        repo.commit_files("main", {"README.md": b"# Staged recipes\n"}, "Initial commit")
        yield server


@pytest.fixture
def client(github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch) -> Github3Client:
    """The real github3.py client, pointed at the stand-in, with the token from the env."""
    from arcoforge.bot.github import connect

    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    return connect(github.api)
