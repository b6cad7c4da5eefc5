"""Recipe repositories: a git URL (and a ref) cloned shallowly into a cache, its recipe found.

A recipe repository is a feedstock made from ``feedstock-template/`` (recipe at its
root or in ``feedstock/``), or any repository with a recipe folder in it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from arcoforge.errors import GitRepositoryError

#: Where a repository's recipe may be, in order; then a single folder under recipes/.
RECIPE_PLACES = (".", "feedstock", "recipe")
_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^-].*$")  # git@github.com:o/r.git
_REF = re.compile(r"^[A-Za-z0-9._/-]+$")


def is_git_url(source: str) -> bool:
    """Whether ``source`` names a git repository rather than a local folder."""
    return source.startswith(_SCHEMES) or bool(_SCP.match(source))


def cache_root() -> Path:
    """Where cloned repositories are kept: ``$FORGE_REPO_CACHE`` or the user's cache folder."""
    if os.environ.get("FORGE_REPO_CACHE"):
        return Path(os.environ["FORGE_REPO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "arcoforge" / "repos"


def resolve_recipe(source: str | Path, *, ref: str | None = None) -> Path:
    """The recipe folder that ``source`` (a folder or a git URL) holds, cloned when a URL."""
    text = str(source)
    if not is_git_url(text):
        if ref is not None:
            raise GitRepositoryError(
                f"--ref {ref}: expected a git URL with it. Got the folder {text!r}; check out "
                "the ref there, or pass the repository's URL."
            )
        return Path(source)
    return find_recipe(clone(text, ref=ref), source=text)


def clone(url: str, *, ref: str | None = None, cache: Path | None = None) -> Path:
    """A shallow checkout of ``ref`` (branch, tag or commit; default HEAD) of ``url``."""
    if not is_git_url(url):
        raise GitRepositoryError(
            f"{url!r}: expected a git URL (https://, ssh://, git@host:path or file://)."
        )
    if ref is not None and (not _REF.match(ref) or ref.startswith("-") or ".." in ref):
        raise GitRepositoryError(f"--ref {ref!r}: expected a branch, tag or commit name.")
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    folder = (cache or cache_root()) / key
    if not (folder / ".git").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        _git(folder, "init", "--quiet")
        _git(folder, "remote", "add", "origin", "--", url)
    _git(
        folder, "fetch", "--quiet", "--depth", "1", "origin", "--", ref or "HEAD", url=url, ref=ref
    )
    _git(folder, "checkout", "--quiet", "--force", "--detach", "FETCH_HEAD")
    _git(folder, "clean", "--quiet", "-fdx")
    return folder


def head_commit(folder: Path) -> str:
    """The commit checked out in ``folder``."""
    return _git(folder, "rev-parse", "HEAD").strip()


def find_recipe(root: Path, *, source: str = "") -> Path:
    """The recipe folder in a checked-out repository (see :data:`RECIPE_PLACES`)."""
    for place in RECIPE_PLACES:
        if (root / place / "meta.yaml").is_file():
            return (root / place).resolve()
    staged = sorted(p.parent for p in (root / "recipes").glob("*/meta.yaml"))
    if len(staged) == 1:
        return staged[0]
    found = ", ".join(str(p.relative_to(root)) for p in staged) or "none"
    raise GitRepositoryError(
        f"{source or root}: expected one recipe: meta.yaml at the repository's root, in "
        f"feedstock/ or recipe/, or a single folder under recipes/. Found recipes: {found}."
    )


def _git(folder: Path, *args: str, url: str = "", ref: str | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, env=env, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitRepositoryError(f"git {args[0]}: could not run ({e}). Is git installed?") from None
    if done.returncode != 0:
        what = f"{url} at {ref or 'HEAD'}" if url else str(folder)
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        raise GitRepositoryError(
            f"{what}: git {args[0]} failed: {message}. Check the URL and the ref (a branch, tag "
            "or commit that exists there) and that you can read the repository."
        )
    return done.stdout
