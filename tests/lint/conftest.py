"""Fixtures for lint: recipe folders on disk, and a git repository to lint changes in."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import META

#: A recipe.yaml with a template over daily dates, no file fetched to lint it.
SPEC: dict[str, Any] = {
    "sources": {
        "url": "https://data.example.org/sst/{time:%Y}/sst.{time:%Y%m%d}.nc",
        "concat": {"time": {"start": "2020-01-01", "end": "2020-01-10", "freq": "D"}},
        "items_per_file": {"time": 1},
    },
    "outputs": {"zarr": {"chunks": {"time": 30, "lat": 180, "lon": 360}}},
}


def write(
    folder: Path,
    meta: dict[str, Any] | None = None,
    spec: Any = None,
    files: dict[str, str] | None = None,
) -> Path:
    """A recipe folder with meta.yaml (META by default), recipe.yaml and any other files."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_text = yaml.safe_dump(META if meta is None else meta, sort_keys=False)
    (folder / "meta.yaml").write_text(meta_text)
    if spec is not None:
        text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
        (folder / "recipe.yaml").write_text(text)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return folder


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (no network: local commits and diffs only)."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one valid recipe under recipes/ and an empty feedstocks.yaml."""
    root = tmp_path / "staged"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.org")
    git(root, "config", "user.name", "Test")
    write(root / "recipes" / "first-sst", spec=SPEC)
    (root / "feedstocks.yaml").write_text("feedstocks: []\n")
    (root / "README.md").write_text("staged recipes\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first recipe")
    return root
