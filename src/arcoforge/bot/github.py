"""The bot's view of GitHub: a small interface, and its implementation with github3.py.

Only this module imports github3, so swapping the client later costs one module. The
token comes from the environment (``GITHUB_TOKEN``), never from arguments or files.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from arcoforge.errors import GitHubError

#: GitHub's public API; ``GITHUB_API_URL`` (set in every Actions job) points elsewhere.
PUBLIC_API = "https://api.github.com"


@dataclass(frozen=True)
class PullRequest:
    """What the bot needs of a pull request."""

    number: int
    head_sha: str
    head_ref: str
    head_repo: str
    base_ref: str
    author: str
    state: str


@dataclass(frozen=True)
class Comment:
    """An issue or pull-request comment."""

    id: int
    author: str
    body: str


class GitHub(Protocol):
    """The calls the bot makes, in its own words. ``repo`` is always ``OWNER/NAME``."""

    def pull_request(self, repo: str, number: int) -> PullRequest: ...
    def comments(self, repo: str, number: int) -> list[Comment]: ...
    def create_comment(self, repo: str, number: int, body: str) -> int: ...
    def edit_comment(self, repo: str, comment_id: int, body: str) -> None: ...
    def react(self, repo: str, comment_id: int, content: str) -> None: ...
    def set_status(
        self, repo: str, sha: str, context: str, state: str, description: str, url: str | None
    ) -> None: ...
    def labels(self, repo: str, number: int) -> set[str]: ...
    def add_labels(self, repo: str, number: int, names: list[str]) -> None: ...
    def remove_label(self, repo: str, number: int, name: str) -> None: ...
    def permission(self, repo: str, user: str) -> str: ...
    def dispatch_workflow(
        self, repo: str, workflow: str, ref: str, inputs: Mapping[str, str]
    ) -> None: ...
    def repository_exists(self, repo: str) -> bool: ...
    def create_repository(self, org: str, name: str, description: str) -> None: ...
    def branch_head(self, repo: str, branch: str) -> str | None: ...
    def tree_blobs(self, repo: str, commit_sha: str) -> dict[str, str]: ...
    def read_file(self, repo: str, path: str, ref: str) -> bytes | None: ...
    def commit_files(
        self,
        repo: str,
        branch: str,
        message: str,
        files: Mapping[str, bytes],
        *,
        delete: list[str] = ...,
        base: str | None = None,
    ) -> str: ...
    def is_collaborator(self, repo: str, user: str) -> bool: ...
    def add_collaborator(self, repo: str, user: str, permission: str) -> None: ...
    def open_pull_request(
        self, repo: str, branch: str, head_owner: str | None = None
    ) -> int | None: ...
    def create_pull_request(
        self,
        repo: str,
        branch: str,
        base: str,
        title: str,
        body: str,
        head_owner: str | None = None,
    ) -> int: ...
    def whoami(self) -> str: ...
    def fork(self, repo: str) -> str: ...


def blob_sha(content: bytes) -> str:
    """The SHA git gives a file's content (``git hash-object``), to compare without fetching."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def token_from_env() -> str:
    """The token in ``GITHUB_TOKEN``; an error that says how to set it when missing."""
    token = os.environ.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise GitHubError(
            "GITHUB_TOKEN: expected a GitHub token in the environment. Got nothing. In a "
            "workflow pass `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` (or the bot's "
            "token); locally `export GITHUB_TOKEN=...` (a fine-grained token for the repository)."
        )
    return token


def connect(api_url: str | None = None) -> Github3Client:
    """A client logged in with ``GITHUB_TOKEN`` at ``api_url`` (or ``GITHUB_API_URL``)."""
    return Github3Client(
        api_url or os.environ.get("GITHUB_API_URL") or PUBLIC_API, token_from_env()
    )


def _split(repo: str) -> tuple[str, str]:
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise GitHubError(f"expected a repository as OWNER/NAME. Got {repo!r} instead.")
    return owner, name


class Github3Client:
    """:class:`GitHub` implemented with github3.py (4.x) and, where it has no API, its session."""

    def __init__(self, api_url: str, token: str):
        import github3

        api_url = api_url.rstrip("/")
        if api_url == PUBLIC_API:
            self.gh = github3.GitHub(token=token)
        else:
            # GitHub Enterprise (and the tests' stand-in) serve the API under /api/v3
            self.gh = github3.GitHubEnterprise(api_url.removesuffix("/api/v3"), token=token)
        self._repos: dict[str, Any] = {}

    # -- helpers ---------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """github3's errors as ours, naming what was asked."""
        from github3 import exceptions as gh_exc

        try:
            yield
        except gh_exc.GitHubError as e:
            code = getattr(e, "code", "?")
            hints: dict[object, str] = {
                401: " Check that GITHUB_TOKEN is a valid token.",
                403: " The token lacks a permission this needs (see docs/operating-the-bot.md).",
                404: " Check the name, and that the token can see it.",
            }
            hint = hints.get(code, "")
            raise GitHubError(f"{what}: GitHub answered {code} ({e.msg}).{hint}") from None

    def _repo(self, repo: str) -> Any:
        if repo not in self._repos:
            owner, name = _split(repo)
            with self._errors(f"repository {repo}"):
                self._repos[repo] = self.gh.repository(owner, name)
        return self._repos[repo]

    def _url(self, *parts: str) -> str:
        return str(self.gh.session.build_url(*parts))

    def _raw(self, method: str, what: str, url: str, **kwargs: Any) -> Any:
        """One REST call github3 has no method for, through its authenticated session."""
        response = self.gh.session.request(method, url, **kwargs)
        if response.status_code >= 400:
            raise GitHubError(f"{what}: GitHub answered {response.status_code} ({response.text}).")
        return response

    # -- pull requests and comments --------------------------------------------
    def pull_request(self, repo: str, number: int) -> PullRequest:
        with self._errors(f"pull request {repo}#{number}"):
            pr = self._repo(repo).pull_request(number)
        head_repo = pr.head.repository
        return PullRequest(
            number=number,
            head_sha=pr.head.sha,
            head_ref=pr.head.ref,
            head_repo=head_repo.full_name if head_repo is not None else repo,
            base_ref=pr.base.ref,
            author=pr.user.login,
            state=pr.state,
        )

    def comments(self, repo: str, number: int) -> list[Comment]:
        with self._errors(f"comments of {repo}#{number}"):
            issue = self._repo(repo).issue(number)
            return [Comment(c.id, c.user.login, c.body or "") for c in issue.comments()]

    def create_comment(self, repo: str, number: int, body: str) -> int:
        with self._errors(f"commenting on {repo}#{number}"):
            return int(self._repo(repo).issue(number).create_comment(body).id)

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        from github3.issues.comment import IssueComment

        owner, name = _split(repo)
        url = self._url("repos", owner, name, "issues", "comments", str(comment_id))
        with self._errors(f"editing comment {comment_id} on {repo}"):
            comment = IssueComment(self.gh._json(self.gh._get(url), 200), self.gh)
            comment.edit(body)

    def react(self, repo: str, comment_id: int, content: str) -> None:
        owner, name = _split(repo)
        url = self._url("repos", owner, name, "issues", "comments", str(comment_id), "reactions")
        self._raw("POST", f"reacting to comment {comment_id}", url, json={"content": content})

    # -- statuses and labels -----------------------------------------------------
    def set_status(
        self, repo: str, sha: str, context: str, state: str, description: str, url: str | None
    ) -> None:
        with self._errors(f"status {context} on {repo}@{sha[:12]}"):
            self._repo(repo).create_status(
                sha, state, target_url=url, description=description[:140], context=context
            )

    def labels(self, repo: str, number: int) -> set[str]:
        with self._errors(f"labels of {repo}#{number}"):
            return {label.name for label in self._repo(repo).issue(number).labels()}

    def add_labels(self, repo: str, number: int, names: list[str]) -> None:
        with self._errors(f"labelling {repo}#{number}"):
            self._repo(repo).issue(number).add_labels(*names)

    def remove_label(self, repo: str, number: int, name: str) -> None:
        with self._errors(f"removing label {name!r} from {repo}#{number}"):
            self._repo(repo).issue(number).remove_label(name)

    # -- permissions and workflows -----------------------------------------------
    def permission(self, repo: str, user: str) -> str:
        owner, name = _split(repo)
        url = self._url("repos", owner, name, "collaborators", user, "permission")
        response = self.gh.session.get(url)
        if response.status_code == 404:  # not a collaborator at all
            return "none"
        if response.status_code >= 400:
            raise GitHubError(
                f"permission of {user} on {repo}: GitHub answered {response.status_code}."
            )
        doc = response.json()
        # role_name tells maintain/triage apart, which permission folds into write/read
        return str(doc.get("role_name") or doc.get("permission") or "none")

    def dispatch_workflow(
        self, repo: str, workflow: str, ref: str, inputs: Mapping[str, str]
    ) -> None:
        owner, name = _split(repo)
        url = self._url("repos", owner, name, "actions", "workflows", workflow, "dispatches")
        self._raw(
            "POST",
            f"dispatching {workflow} on {repo}",
            url,
            json={"ref": ref, "inputs": dict(inputs)},
        )

    # -- repositories and the Git Data API ---------------------------------------
    def repository_exists(self, repo: str) -> bool:
        from github3 import exceptions as gh_exc

        owner, name = _split(repo)
        try:
            found = self.gh.repository(owner, name)
        except gh_exc.NotFoundError:
            return False
        self._repos[repo] = found
        return True

    def create_repository(self, org: str, name: str, description: str) -> None:
        from github3 import exceptions as gh_exc

        with self._errors(f"organisation {org}"):
            organisation = self.gh.organization(org)
        try:
            created = organisation.create_repository(
                name, description=description, has_wiki=False, auto_init=False
            )
        except gh_exc.UnprocessableEntity:  # made by an earlier, interrupted run
            if not self.repository_exists(f"{org}/{name}"):
                raise
            return
        except gh_exc.GitHubError as e:
            raise GitHubError(
                f"creating {org}/{name}: GitHub answered {e.code} ({e.msg})."
            ) from None
        self._repos[f"{org}/{name}"] = created

    def branch_head(self, repo: str, branch: str) -> str | None:
        from github3 import exceptions as gh_exc

        try:
            ref = self._repo(repo).ref(f"heads/{branch}")
        except gh_exc.NotFoundError:
            return None
        except gh_exc.GitHubError as e:
            if e.code == 409:  # an empty repository has no refs at all
                return None
            raise GitHubError(f"branch {branch} of {repo}: GitHub answered {e.code}.") from None
        return str(ref.object.sha) if ref else None

    def tree_blobs(self, repo: str, commit_sha: str) -> dict[str, str]:
        with self._errors(f"files of {repo}@{commit_sha[:12]}"):
            commit = self._repo(repo).git_commit(commit_sha)
            tree = self._repo(repo).tree(commit.tree.sha, recursive=True)
        return {h.path: h.sha for h in tree.tree if h.type == "blob"}

    def read_file(self, repo: str, path: str, ref: str) -> bytes | None:
        from github3 import exceptions as gh_exc

        try:
            contents = self._repo(repo).file_contents(path, ref=ref)
        except gh_exc.NotFoundError:
            return None
        except gh_exc.GitHubError as e:
            raise GitHubError(f"{repo}/{path}@{ref}: GitHub answered {e.code}.") from None
        return bytes(contents.decoded)

    def commit_files(
        self,
        repo: str,
        branch: str,
        message: str,
        files: Mapping[str, bytes],
        *,
        delete: list[str] = [],  # noqa: B006 (never mutated)
        base: str | None = None,
    ) -> str:
        """Commit ``files`` (and deletions) on ``branch`` through the Git Data API.

        The branch starts from ``base`` (a commit) when it does not exist yet. Only blobs
        GitHub does not already hold are sent; nothing is committed when nothing changes.
        """
        r = self._repo(repo)
        head = self.branch_head(repo, branch)
        parent = head or base
        current = self.tree_blobs(repo, parent) if parent else {}
        changed = {p: c for p, c in files.items() if current.get(p) != blob_sha(c)}
        gone = [p for p in delete if p in current]
        if parent and not changed and not gone:
            if head is None:
                self._create_ref(r, repo, branch, parent)
            return parent
        entries: list[dict[str, Any]] = []
        with self._errors(f"committing to {repo}:{branch}"):
            for path, content in sorted(changed.items()):
                sha = r.create_blob(base64.b64encode(content).decode(), "base64")
                entries.append({"path": path, "mode": "100644", "type": "blob", "sha": sha})
            entries += [{"path": p, "mode": "100644", "type": "blob", "sha": None} for p in gone]
            base_tree = r.git_commit(parent).tree.sha if parent else None
            tree = r.create_tree(entries, base_tree=base_tree)
            commit = r.create_commit(message, tree.sha, [parent] if parent else [])
        if head is None:
            self._create_ref(r, repo, branch, commit.sha)
        else:
            with self._errors(f"moving {repo}:{branch}"):
                r.ref(f"heads/{branch}").update(commit.sha)
        return str(commit.sha)

    def _create_ref(self, r: Any, repo: str, branch: str, sha: str) -> None:
        with self._errors(f"creating branch {branch} of {repo}"):
            r.create_ref(f"refs/heads/{branch}", sha)

    def is_collaborator(self, repo: str, user: str) -> bool:
        with self._errors(f"collaborators of {repo}"):
            return bool(self._repo(repo).is_collaborator(user))

    def add_collaborator(self, repo: str, user: str, permission: str) -> None:
        with self._errors(f"adding {user} to {repo}"):
            self._repo(repo).add_collaborator(user, permission=permission)

    def open_pull_request(
        self, repo: str, branch: str, head_owner: str | None = None
    ) -> int | None:
        owner = head_owner or _split(repo)[0]
        with self._errors(f"pull requests of {repo}"):
            found = list(self._repo(repo).pull_requests(state="open", head=f"{owner}:{branch}"))
        return int(found[0].number) if found else None

    def create_pull_request(
        self,
        repo: str,
        branch: str,
        base: str,
        title: str,
        body: str,
        head_owner: str | None = None,
    ) -> int:
        head = f"{head_owner}:{branch}" if head_owner else branch
        with self._errors(f"opening a pull request on {repo} from {head}"):
            pr = self._repo(repo).create_pull(title, base, head, body)
        return int(pr.number)

    def whoami(self) -> str:
        with self._errors("the token's user"):
            return str(self.gh.me().login)

    def fork(self, repo: str) -> str:
        """Fork ``repo`` to the token's user (or find the fork made before); its OWNER/NAME."""
        with self._errors(f"forking {repo}"):
            forked = self._repo(repo).create_fork()
        self._repos[forked.full_name] = forked
        return str(forked.full_name)
