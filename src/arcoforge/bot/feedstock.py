"""``forge bot create-feedstock``: turn a merged recipe into a repository of its own.

Each step first looks at what GitHub already holds and does only what is missing, so
running it twice, or again after it failed halfway, finishes the job without duplicates:
the repository, its first commit (through the Git Data API: no git push), the
maintainers as collaborators, and one pull request that adds the feedstock to
``feedstocks.yaml`` and removes ``recipes/<id>/``.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

from arcoforge.bot.github import GitHub
from arcoforge.bot.index import INDEX_FILE, Entry, add_entry, parse_index
from arcoforge.errors import FeedstockError
from arcoforge.feedstock.render import FeedstockConfig, render

#: Permission the recipe's maintainers get on their feedstock.
MAINTAINER_PERMISSION = "maintain"


@dataclass
class Outcome:
    """What a run did, step by step (``created``, ``committed``, ``exists``, ...)."""

    feedstock: str
    steps: list[tuple[str, str]] = field(default_factory=list)
    pull_request: int | None = None

    def note(self, step: str, what: str) -> None:
        self.steps.append((step, what))


def create_feedstock(
    gh: GitHub,
    platform: str,
    org: str,
    recipe_id: str,
    checkout: Path,
    config: FeedstockConfig | None = None,
    *,
    server: str = "https://github.com",
) -> Outcome:
    """Create (or finish creating) the feedstock of ``recipes/<recipe_id>/``.

    ``platform`` is the staged-recipes repository (OWNER/NAME) and ``checkout`` a
    checkout of its main branch, from which the recipe is read.
    """
    recipe_dir = checkout / "recipes" / recipe_id
    if not (recipe_dir / "meta.yaml").is_file():
        raise FeedstockError(
            f"{recipe_dir}: expected the merged recipe {recipe_id!r} with a meta.yaml. Found "
            "none; give the id of a folder under recipes/ on the main branch."
        )
    rendered = render(recipe_dir, config)
    name = f"{recipe_id}-feedstock"
    full = f"{org}/{name}"
    outcome = Outcome(full)

    if gh.repository_exists(full):
        outcome.note("repository", "exists")
    else:
        gh.create_repository(org, name, f"The feedstock of the {recipe_id} dataset (ARCO Forge).")
        outcome.note("repository", "created")

    _first_commit(gh, full, rendered.files, recipe_id, outcome)
    _collaborators(gh, full, recipe_dir, outcome)
    _index_pull_request(gh, platform, recipe_id, full, f"{server}/{full}", outcome)
    return outcome


def _first_commit(
    gh: GitHub, full: str, files: dict[str, bytes], recipe_id: str, outcome: Outcome
) -> None:
    head = gh.branch_head(full, "main")
    # files already there are the maintainers' from now on: only missing ones are added
    present = gh.tree_blobs(full, head) if head else {}
    missing = {p: c for p, c in files.items() if p not in present}
    if not missing:
        outcome.note("files", "up to date")
        return
    version = importlib.metadata.version("arcoforge")
    message = (
        f"Feedstock of recipes/{recipe_id}, rendered from the feedstock template "
        f"(arcoforge {version})"
    )
    gh.commit_files(full, "main", message, missing)
    outcome.note("files", f"committed {len(missing)}")


def _collaborators(gh: GitHub, full: str, recipe_dir: Path, outcome: Outcome) -> None:
    from arcoforge.recipe.meta import Meta
    from arcoforge.recipe.model import validate_doc
    from arcoforge.recipe.yamlfile import read_yaml

    meta = validate_doc(Meta, read_yaml(recipe_dir / "meta.yaml"))
    for maintainer in meta.maintainers:
        if gh.is_collaborator(full, maintainer.github):
            outcome.note(f"collaborator {maintainer.github}", "exists")
        else:
            gh.add_collaborator(full, maintainer.github, MAINTAINER_PERMISSION)
            outcome.note(f"collaborator {maintainer.github}", "added")


def _index_pull_request(
    gh: GitHub, platform: str, recipe_id: str, full: str, url: str, outcome: Outcome
) -> None:
    branch = f"feedstock/{recipe_id}"
    existing = gh.open_pull_request(platform, branch)
    if existing is not None:
        outcome.pull_request = existing
        outcome.note("pull request", f"#{existing} exists")
        return
    main = gh.branch_head(platform, "main")
    if main is None:
        raise FeedstockError(f"{platform}: expected a main branch. Found none.")
    on_main = gh.tree_blobs(platform, main)
    prefix = f"recipes/{recipe_id}/"
    recipe_files = sorted(p for p in on_main if p.startswith(prefix))
    index_text = gh.read_file(platform, INDEX_FILE, "main")
    listed = index_text is not None and any(
        e.id == recipe_id for e in parse_index(index_text.decode(), f"{platform}/{INDEX_FILE}")
    )
    if listed and not recipe_files:  # an earlier run's pull request was merged
        outcome.note("pull request", "merged already")
        return
    index = add_entry(index_text.decode() if index_text else None, Entry(recipe_id, full))
    gh.commit_files(
        platform,
        branch,
        f"Removed recipe ({recipe_id}) after converting it into a feedstock",
        {INDEX_FILE: index.encode()},
        delete=recipe_files,
        base=main,
    )
    body = (
        f"The recipe `{recipe_id}` now lives in its feedstock, {url}.\n\n"
        f"This adds it to `{INDEX_FILE}` and removes `recipes/{recipe_id}/`. Its maintainers "
        "were added to the feedstock as collaborators."
    )
    number = gh.create_pull_request(
        platform, branch, "main", f"Move {recipe_id} to its feedstock", body
    )
    outcome.pull_request = number
    outcome.note("pull request", f"#{number} opened")
