"""``feedstocks.yaml``: the platform's index of feedstocks (recipes in repositories of their own).

Entries are appended as text, so the file's comments and order survive each edit.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from arcoforge.errors import FeedstockError

INDEX_FILE = "feedstocks.yaml"

HEADER = """\
# Recipes that live in a feedstock repository of their own.
# Each entry is {id: <recipe id>, repo: <owner>/<name>}; `forge lint` refuses a new
# recipe whose id is listed here (FG005). See docs/lints.md.
feedstocks:
"""


@dataclass(frozen=True)
class Entry:
    """One feedstock: its recipe id and its repository (OWNER/NAME, or a git URL)."""

    id: str
    repo: str


def parse_index(text: str, where: str = INDEX_FILE) -> list[Entry]:
    """The entries of a ``feedstocks.yaml``."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise FeedstockError(f"{where}: expected YAML. {e}") from None
    items = doc.get("feedstocks") if isinstance(doc, dict) else None
    if items is None:
        return []
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("id"), str) and isinstance(i.get("repo"), str)
        for i in items
    ):
        raise FeedstockError(f"{where}: expected `feedstocks:` as a list of {{id, repo}} entries.")
    return [Entry(i["id"], i["repo"]) for i in items]


def add_entry(text: str | None, entry: Entry) -> str:
    """``text`` with ``entry`` appended; unchanged when its id is already listed.

    The list is expected last in the file (as in :data:`HEADER`); the result is parsed
    again to make sure the entry landed in it.
    """
    text = text or HEADER
    for found in parse_index(text):
        if found.id == entry.id:
            if found.repo != entry.repo:
                raise FeedstockError(
                    f"{INDEX_FILE}: id {entry.id!r} already lists {found.repo}, not "
                    f"{entry.repo}. Choose another id."
                )
            return text
    text = text.replace("feedstocks: []", "feedstocks:")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or "feedstocks" not in doc:
        text = text.rstrip("\n") + "\nfeedstocks:\n"
    updated = text.rstrip("\n") + f"\n  - id: {entry.id}\n    repo: {entry.repo}\n"
    if entry not in parse_index(updated):
        raise FeedstockError(
            f"{INDEX_FILE}: could not append {entry.id!r}: keep `feedstocks:` as the file's "
            "last key, a list of {id, repo} entries."
        )
    return updated


def added_entries(old: str | None, new: str) -> list[Entry]:
    """Entries of ``new`` that ``old`` does not list (what a pull request adds)."""
    before = {e.id for e in parse_index(old)} if old else set()
    return [e for e in parse_index(new) if e.id not in before]


def clone_url(entry: Entry, server: str = "https://github.com") -> str:
    """A URL git can clone for an entry: OWNER/NAME means a repository on GitHub."""
    if "://" in entry.repo or "@" in entry.repo:
        return entry.repo
    return f"{server}/{entry.repo}"
