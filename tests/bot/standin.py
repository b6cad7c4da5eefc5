"""A local stand-in for GitHub's REST API (aiohttp on 127.0.0.1) that records every request.

It holds repositories, pull requests, comments, statuses, labels, collaborators and a
small Git object store (blobs, flat trees, commits, refs), and answers with payloads
shaped like GitHub's, complete enough for github3.py's models. ``fail_once`` makes one
matching request fail, to test what a client does when a run breaks halfway.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

NOW = "2026-11-30T12:00:00Z"
_BODY = web.RequestKey("body", object)
_LOGIN = web.RequestKey("login", str)

_USER_URLS = [
    "events_url",
    "followers_url",
    "following_url",
    "gists_url",
    "html_url",
    "organizations_url",
    "received_events_url",
    "repos_url",
    "starred_url",
    "subscriptions_url",
    "url",
]
_REPO_URLS = [
    "archive_url",
    "assignees_url",
    "blobs_url",
    "branches_url",
    "collaborators_url",
    "comments_url",
    "commits_url",
    "compare_url",
    "contents_url",
    "contributors_url",
    "deployments_url",
    "downloads_url",
    "events_url",
    "forks_url",
    "git_commits_url",
    "git_refs_url",
    "git_tags_url",
    "hooks_url",
    "issue_comment_url",
    "issue_events_url",
    "issues_url",
    "keys_url",
    "labels_url",
    "languages_url",
    "merges_url",
    "milestones_url",
    "notifications_url",
    "pulls_url",
    "releases_url",
    "stargazers_url",
    "statuses_url",
    "subscribers_url",
    "subscription_url",
    "tags_url",
    "teams_url",
    "trees_url",
]


@dataclass(frozen=True)
class Recorded:
    """One request the stand-in received."""

    method: str
    path: str
    body: Any
    status: int


@dataclass
class Pull:
    """A pull request (and its issue)."""

    number: int
    title: str
    head_ref: str
    head_sha: str
    head_repo: str
    base_ref: str
    author: str
    body: str = ""
    state: str = "open"
    labels: list[str] = field(default_factory=list)


@dataclass
class Repo:
    """A repository with its issues, collaborators and Git objects."""

    owner: str
    name: str
    id: int
    default_branch: str = "main"
    permissions: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dispatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    # -- git objects ------------------------------------------------------------
    def put_blob(self, content: bytes) -> str:
        sha = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        self.blobs[sha] = content
        return sha

    def put_tree(self, files: dict[str, str]) -> str:
        sha = hashlib.sha1(json.dumps(sorted(files.items())).encode()).hexdigest()
        self.trees[sha] = dict(files)
        return sha

    def put_commit(self, message: str, tree: str, parents: list[str]) -> str:
        sha = hashlib.sha1(json.dumps([message, tree, parents]).encode()).hexdigest()
        self.commits[sha] = {"message": message, "tree": tree, "parents": parents}
        return sha

    def commit_files(self, branch: str, files: dict[str, bytes], message: str) -> str:
        """Seed a commit of ``files`` on ``branch`` (on top of its head), as a push would."""
        parent = self.refs.get(branch)
        flat = dict(self.trees[self.commits[parent]["tree"]]) if parent else {}
        flat.update({p: self.put_blob(c) for p, c in files.items()})
        sha = self.put_commit(message, self.put_tree(flat), [parent] if parent else [])
        self.refs[branch] = sha
        return sha

    def files(self, ref: str) -> dict[str, bytes]:
        """The files at a branch or commit."""
        sha = self.refs.get(ref, ref)
        tree = self.trees[self.commits[sha]["tree"]]
        return {p: self.blobs[b] for p, b in tree.items()}


class GitHubStandIn:
    """GitHub's REST API for tests, served from a background thread on 127.0.0.1."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.orgs: set[str] = set()
        self.users: set[str] = set()
        self.comments: dict[int, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.tokens: set[str] = {"bot-token"}
        self.token_user: dict[str, str] = {"bot-token": "github-actions[bot]"}
        self._failures: list[tuple[str, re.Pattern[str], int]] = []
        self._ids = 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    # -- set-up -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The server's root; github3's GitHubEnterprise adds /api/v3."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v3"

    def add_repo(self, full_name: str, **permissions: str) -> Repo:
        """A repository; ``permissions`` maps users to admin/maintain/write/triage/read."""
        owner, name = full_name.split("/")
        repo = Repo(owner, name, self._next_id(), permissions=dict(permissions))
        self.repos[full_name] = repo
        return repo

    def add_pull(
        self,
        full_name: str,
        number: int,
        *,
        author: str,
        files: dict[str, bytes],
        base: str = "main",
        branch: str = "add-recipe",
    ) -> Pull:
        """A pull request whose head commits ``files`` on top of ``base``."""
        repo = self.repos[full_name]
        fork = f"{author}/{repo.name}"
        head_repo = self.repos.get(fork) or self.add_repo(fork)
        base_sha = repo.refs[base]
        head_repo.commits[base_sha] = repo.commits[base_sha]
        head_repo.trees.update(repo.trees)
        head_repo.blobs.update(repo.blobs)
        head_repo.refs[branch] = base_sha
        sha = head_repo.commit_files(branch, files, f"Add {branch}")
        # GitHub keeps the head's objects in the base repository too (refs/pull/N/head)
        repo.commits.update(head_repo.commits)
        repo.trees.update(head_repo.trees)
        repo.blobs.update(head_repo.blobs)
        pull = Pull(number, f"Add {branch}", branch, sha, fork, base, author)
        repo.pulls[number] = pull
        return pull

    def add_comment(self, full_name: str, number: int, author: str, body: str) -> int:
        cid = self._next_id()
        self.comments[cid] = {"repo": full_name, "issue": number, "user": author, "body": body}
        return cid

    def fail_once(self, method: str, path: str, status: int = 500) -> None:
        """Answer the next request matching ``method`` and the ``path`` regex with ``status``."""
        self._failures.append((method, re.compile(path), status))

    def issue_comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        return [
            {"id": cid, **c}
            for cid, c in self.comments.items()
            if c["repo"] == full_name and c["issue"] == number
        ]

    def calls(self, method: str | None = None, path: str = "") -> list[Recorded]:
        """Recorded requests, by method and a regex on the path (below /api/v3)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and re.search(path, r.path)
        ]

    # -- serving ----------------------------------------------------------------------
    def __enter__(self) -> GitHubStandIn:
        self._thread = threading.Thread(target=self._serve, name="github-standin", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the GitHub stand-in did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/api/v3/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        path = request.path.removeprefix("/api/v3")
        if request.query_string:
            path += "?" + request.query_string
        token = request.headers.get("Authorization", "").removeprefix("token ").strip()
        response: web.StreamResponse
        failure = next(
            (f for f in self._failures if f[0] == request.method and f[1].search(path)), None
        )
        if token not in self.tokens:
            response = _error(401, "Bad credentials")
        elif failure is not None:
            self._failures.remove(failure)
            response = _error(failure[2], "Injected failure")
        else:
            request[_BODY] = body
            request[_LOGIN] = self.token_user[token]
            try:
                response = await handler(request)
            except web.HTTPException as e:  # raised by a handler: recorded like any answer
                response = web.Response(
                    status=e.status, text=e.text, content_type="application/json"
                )
        self.requests.append(Recorded(request.method, path, body, response.status))
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        tail = "/" + request.match_info["tail"]
        for method, pattern, name in _ROUTES:
            match = re.fullmatch(pattern, tail)
            if match and method == request.method:
                return getattr(self, name)(request, **match.groupdict())
        return _error(404, "Not Found")

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _repo_or_404(self, owner: str, name: str) -> Repo:
        repo = self.repos.get(f"{owner}/{name}")
        if repo is None:
            raise web.HTTPNotFound(
                text=json.dumps({"message": "Not Found"}), content_type="application/json"
            )
        return repo

    # -- payloads -------------------------------------------------------------------
    def _user(self, login: str) -> dict[str, Any]:
        doc = {k: f"{self.api}/users/{login}/{k}" for k in _USER_URLS}
        doc.update(
            login=login,
            id=abs(hash(login)) % 10**6,
            avatar_url="",
            gravatar_id="",
            type="Bot" if login.endswith("[bot]") else "User",
            html_url=f"{self.url}/{login}",
            url=f"{self.api}/users/{login}",
        )
        return doc

    def _repo_doc(self, repo: Repo) -> dict[str, Any]:
        base = f"{self.api}/repos/{repo.full_name}"
        doc: dict[str, Any] = {k: f"{base}/{k.removesuffix('_url')}" for k in _REPO_URLS}
        doc.update(
            url=base,
            id=repo.id,
            name=repo.name,
            full_name=repo.full_name,
            description="",
            fork=False,
            private=False,
            html_url=f"{self.url}/{repo.full_name}",
            owner=self._user(repo.owner),
            archived=False,
            clone_url=f"{self.url}/{repo.full_name}.git",
            git_url="",
            ssh_url="",
            svn_url="",
            mirror_url=None,
            created_at=NOW,
            updated_at=NOW,
            pushed_at=NOW,
            default_branch=repo.default_branch,
            forks_count=0,
            has_downloads=True,
            has_issues=True,
            has_pages=False,
            has_projects=True,
            has_wiki=False,
            homepage="",
            language=None,
            network_count=0,
            open_issues_count=0,
            size=0,
            stargazers_count=0,
            subscribers_count=0,
            watchers_count=0,
        )
        return doc

    def _pull_doc(self, repo: Repo, p: Pull) -> dict[str, Any]:
        base = f"{self.api}/repos/{repo.full_name}"
        url = f"{base}/pulls/{p.number}"
        doc = {
            k: f"{url}/{k}"
            for k in (
                "comments_url",
                "commits_url",
                "diff_url",
                "patch_url",
                "review_comment_url",
                "review_comments_url",
                "statuses_url",
            )
        }
        head = self.repos[p.head_repo]
        doc.update(
            url=url,
            id=p.number + 10**6,
            number=p.number,
            state=p.state,
            title=p.title,
            body=p.body,
            body_html="",
            body_text="",
            html_url=f"{self.url}/{repo.full_name}/pull/{p.number}",
            issue_url=f"{base}/issues/{p.number}",
            user=self._user(p.author),
            created_at=NOW,
            updated_at=NOW,
            closed_at=None,
            merged_at=None,
            merge_commit_sha=None,
            assignee=None,
            assignees=[],
            locked=False,
            active_lock_reason=None,
            _links={},
            additions=1,
            deletions=0,
            comments=0,
            commits=1,
            review_comments=0,
            author_association="CONTRIBUTOR",
            draft=False,
            mergeable=True,
            mergeable_state="clean",
            merged=False,
            merged_by=None,
            requested_reviewers=[],
            requested_teams=[],
            head={
                "ref": p.head_ref,
                "sha": p.head_sha,
                "label": f"{head.owner}:{p.head_ref}",
                "user": self._user(head.owner),
                "repo": self._repo_doc(head),
            },
            base={
                "ref": p.base_ref,
                "sha": repo.refs.get(p.base_ref, ""),
                "label": f"{repo.owner}:{p.base_ref}",
                "user": self._user(repo.owner),
                "repo": self._repo_doc(repo),
            },
        )
        return doc

    def _issue_doc(self, repo: Repo, p: Pull) -> dict[str, Any]:
        url = f"{self.api}/repos/{repo.full_name}/issues/{p.number}"
        return {
            "url": url,
            "id": p.number + 2 * 10**6,
            "number": p.number,
            "state": p.state,
            "title": p.title,
            "body": p.body,
            "body_html": "",
            "body_text": "",
            "user": self._user(p.author),
            "labels": [self._label(repo, n) for n in p.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "comments": len(self.issue_comments(repo.full_name, p.number)),
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "labels_url": f"{url}/labels{{/name}}",
            "html_url": f"{self.url}/{repo.full_name}/issues/{p.number}",
            "created_at": NOW,
            "updated_at": NOW,
            "closed_at": None,
            "closed_by": None,
            "pull_request": {"url": f"{self.api}/repos/{repo.full_name}/pulls/{p.number}"},
        }

    def _label(self, repo: Repo, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "color": "ededed",
            "description": "",
            "url": f"{self.api}/repos/{repo.full_name}/labels/{name}",
        }

    def _comment_doc(self, cid: int) -> dict[str, Any]:
        c = self.comments[cid]
        base = f"{self.api}/repos/{c['repo']}/issues"
        return {
            "id": cid,
            "url": f"{base}/comments/{cid}",
            "body": c["body"],
            "body_html": "",
            "body_text": "",
            "user": self._user(c["user"]),
            "created_at": NOW,
            "updated_at": NOW,
            "html_url": f"{self.url}/{c['repo']}/issues/{c['issue']}#issuecomment-{cid}",
            "issue_url": f"{base}/{c['issue']}",
            "author_association": "NONE",
        }

    def _commit_doc(self, repo: Repo, sha: str) -> dict[str, Any]:
        c = repo.commits[sha]
        base = f"{self.api}/repos/{repo.full_name}/git"
        person = {"name": "bot", "email": "bot@example.invalid", "date": NOW}
        return {
            "sha": sha,
            "url": f"{base}/commits/{sha}",
            "message": c["message"],
            "author": person,
            "committer": person,
            "verification": None,
            "tree": {"sha": c["tree"], "url": f"{base}/trees/{c['tree']}"},
            "parents": [{"sha": p, "url": f"{base}/commits/{p}"} for p in c["parents"]],
        }

    def _ref_doc(self, repo: Repo, branch: str) -> dict[str, Any]:
        base = f"{self.api}/repos/{repo.full_name}/git"
        sha = repo.refs[branch]
        return {
            "ref": f"refs/heads/{branch}",
            "url": f"{base}/refs/heads/{branch}",
            "object": {"sha": sha, "type": "commit", "url": f"{base}/commits/{sha}"},
        }

    # -- handlers ---------------------------------------------------------------------
    def get_repo(self, request: web.Request, owner: str, name: str) -> web.Response:
        return _json(self._repo_doc(self._repo_or_404(owner, name)))

    def get_user(self, request: web.Request) -> web.Response:
        login = request[_LOGIN]
        doc = self._user(login)
        doc.update(
            name=login,
            bio="",
            blog="",
            company=None,
            email=None,
            followers=0,
            following=0,
            hireable=False,
            location=None,
            public_gists=0,
            public_repos=0,
            created_at=NOW,
            updated_at=NOW,
        )
        return _json(doc)

    def create_fork(self, request: web.Request, owner: str, name: str) -> web.Response:
        """A fork under the token's user, holding the parent's objects and branches."""
        parent = self._repo_or_404(owner, name)
        full = f"{request[_LOGIN]}/{name}"
        fork = self.repos.get(full) or self.add_repo(full, **{request[_LOGIN]: "admin"})
        fork.blobs.update(parent.blobs)
        fork.trees.update(parent.trees)
        fork.commits.update(parent.commits)
        for branch, sha in parent.refs.items():
            fork.refs.setdefault(branch, sha)
        return _json(self._repo_doc(fork), 202)

    def get_org(self, request: web.Request, org: str) -> web.Response:
        if org not in self.orgs:
            return _error(404, "Not Found")
        base = f"{self.api}/orgs/{org}"
        return _json(
            {
                "login": org,
                "id": abs(hash(org)) % 10**6,
                "url": base,
                "avatar_url": "",
                "description": "",
                "events_url": f"{base}/events",
                "hooks_url": f"{base}/hooks",
                "issues_url": f"{base}/issues",
                "members_url": f"{base}/members{{/member}}",
                "public_members_url": f"{base}/public_members{{/member}}",
                "repos_url": f"{base}/repos",
                "created_at": NOW,
                "followers": 0,
                "following": 0,
                "html_url": f"{self.url}/{org}",
                "public_repos": 0,
                "type": "Organization",
            }
        )

    def create_org_repo(self, request: web.Request, org: str) -> web.Response:
        body = request[_BODY] or {}
        full = f"{org}/{body['name']}"
        if full in self.repos:
            return _error(
                422,
                "Repository creation failed.",
                [
                    {
                        "resource": "Repository",
                        "code": "custom",
                        "field": "name",
                        "message": "name already exists on this account",
                    }
                ],
            )
        repo = self.add_repo(full, **{request[_LOGIN]: "admin"})
        return _json(self._repo_doc(repo), 201)

    def get_pull(self, request: web.Request, owner: str, name: str, number: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        pull = repo.pulls.get(int(number))
        return _json(self._pull_doc(repo, pull)) if pull else _error(404, "Not Found")

    def list_pulls(self, request: web.Request, owner: str, name: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        state, head = request.query.get("state", "open"), request.query.get("head")
        found = [
            self._pull_doc(repo, p)
            for p in repo.pulls.values()
            if (state == "all" or p.state == state)
            and (head is None or head == f"{self.repos[p.head_repo].owner}:{p.head_ref}")
        ]
        return _json(found)

    def create_pull(self, request: web.Request, owner: str, name: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        body = request[_BODY]
        head_owner, _, branch = body["head"].rpartition(":")
        head = self.repos.get(f"{head_owner}/{repo.name}") if head_owner else repo
        if head is None or branch not in head.refs:
            return _error(422, "Validation Failed", [{"field": "head", "code": "invalid"}])
        if head is not repo:  # GitHub keeps a fork's pull request objects in its parent
            repo.commits.update(head.commits)
            repo.trees.update(head.trees)
            repo.blobs.update(head.blobs)
        number = max([0, *repo.pulls]) + 1
        title, base, text = body["title"], body["base"], body.get("body") or ""
        pull = Pull(
            number, title, branch, head.refs[branch], head.full_name, base, request[_LOGIN], text
        )
        repo.pulls[number] = pull
        return _json(self._pull_doc(repo, pull), 201)

    def get_issue(self, request: web.Request, owner: str, name: str, number: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        pull = repo.pulls.get(int(number))
        return _json(self._issue_doc(repo, pull)) if pull else _error(404, "Not Found")

    def list_comments(
        self, request: web.Request, owner: str, name: str, number: str
    ) -> web.Response:
        self._repo_or_404(owner, name)
        found = self.issue_comments(f"{owner}/{name}", int(number))
        return _json([self._comment_doc(c["id"]) for c in found])

    def create_comment(
        self, request: web.Request, owner: str, name: str, number: str
    ) -> web.Response:
        self._repo_or_404(owner, name)
        cid = self.add_comment(
            f"{owner}/{name}", int(number), request[_LOGIN], request[_BODY]["body"]
        )
        return _json(self._comment_doc(cid), 201)

    def get_comment(self, request: web.Request, owner: str, name: str, cid: str) -> web.Response:
        if int(cid) not in self.comments:
            return _error(404, "Not Found")
        return _json(self._comment_doc(int(cid)))

    def edit_comment(self, request: web.Request, owner: str, name: str, cid: str) -> web.Response:
        comment = self.comments.get(int(cid))
        if comment is None:
            return _error(404, "Not Found")
        comment["body"] = request[_BODY]["body"]
        return _json(self._comment_doc(int(cid)))

    def react(self, request: web.Request, owner: str, name: str, cid: str) -> web.Response:
        comment = self.comments[int(cid)]
        comment.setdefault("reactions", []).append(request[_BODY]["content"])
        return _json({"id": self._next_id(), "content": request[_BODY]["content"]}, 201)

    def list_labels(self, request: web.Request, owner: str, name: str, number: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        return _json([self._label(repo, n) for n in repo.pulls[int(number)].labels])

    def add_labels(self, request: web.Request, owner: str, name: str, number: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        pull = repo.pulls[int(number)]
        body = request[_BODY]
        names = body["labels"] if isinstance(body, dict) else body
        pull.labels += [n for n in names if n not in pull.labels]
        return _json([self._label(repo, n) for n in pull.labels])

    def remove_label(
        self, request: web.Request, owner: str, name: str, number: str, label: str
    ) -> web.Response:
        repo = self._repo_or_404(owner, name)
        pull = repo.pulls[int(number)]
        if label not in pull.labels:
            return _error(404, "Label does not exist")
        pull.labels.remove(label)
        return _json([self._label(repo, n) for n in pull.labels])

    def create_status(self, request: web.Request, owner: str, name: str, sha: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        body = request[_BODY]
        status = {
            "id": self._next_id(),
            "url": f"{self.api}/repos/{repo.full_name}/statuses/{sha}",
            "state": body["state"],
            "context": body.get("context", "default"),
            "description": body.get("description"),
            "target_url": body.get("target_url"),
            "created_at": NOW,
            "updated_at": NOW,
            "creator": self._user(request[_LOGIN]),
        }
        repo.statuses.setdefault(sha, []).append(status)
        return _json(status, 201)

    def permission(self, request: web.Request, owner: str, name: str, user: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        role = repo.permissions.get(user)
        if role is None:
            return _error(404, f"{user} is not a user")  # GitHub: 404 for unknown users
        folded = {"maintain": "write", "triage": "read"}.get(role, role)
        return _json({"permission": folded, "role_name": role, "user": self._user(user)})

    def get_collaborator(
        self, request: web.Request, owner: str, name: str, user: str
    ) -> web.Response:
        repo = self._repo_or_404(owner, name)
        return web.Response(status=204 if user in repo.permissions else 404)

    def put_collaborator(
        self, request: web.Request, owner: str, name: str, user: str
    ) -> web.Response:
        repo = self._repo_or_404(owner, name)
        body = request[_BODY] or {}
        if user in repo.permissions:
            return web.Response(status=204)
        # GitHub invites; the stand-in's users accept at once
        repo.permissions[user] = body.get("permission", "push")
        return _json({"id": self._next_id(), "invitee": self._user(user)}, 201)

    def dispatch(self, request: web.Request, owner: str, name: str, workflow: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        repo.dispatches.append({"workflow": workflow, **request[_BODY]})
        return web.Response(status=204)

    def get_ref(self, request: web.Request, owner: str, name: str, branch: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        if not repo.refs:
            return _error(409, "Git Repository is empty.")
        if branch not in repo.refs:
            return _error(404, "Not Found")
        return _json(self._ref_doc(repo, branch))

    def create_ref(self, request: web.Request, owner: str, name: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        body = request[_BODY]
        branch = body["ref"].removeprefix("refs/heads/")
        if branch in repo.refs:
            return _error(422, "Reference already exists")
        if body["sha"] not in repo.commits:
            return _error(422, "Object does not exist")
        repo.refs[branch] = body["sha"]
        return _json(self._ref_doc(repo, branch), 201)

    def update_ref(self, request: web.Request, owner: str, name: str, branch: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        sha = request[_BODY]["sha"]
        if branch not in repo.refs or sha not in repo.commits:
            return _error(422, "Reference cannot be updated")
        if (
            not request[_BODY].get("force")
            and repo.refs[branch] not in repo.commits[sha]["parents"]
        ):
            return _error(422, "Update is not a fast forward")
        repo.refs[branch] = sha
        return _json(self._ref_doc(repo, branch))

    def create_blob(self, request: web.Request, owner: str, name: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        body = request[_BODY]
        content = body["content"]
        data = base64.b64decode(content) if body.get("encoding") == "base64" else content.encode()
        sha = repo.put_blob(data)
        return _json({"sha": sha, "url": f"{self.api}/repos/{repo.full_name}/git/blobs/{sha}"}, 201)

    def create_tree(self, request: web.Request, owner: str, name: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        body = request[_BODY]
        flat = dict(repo.trees[body["base_tree"]]) if body.get("base_tree") else {}
        for entry in body["tree"]:
            if entry.get("sha") is None:
                flat.pop(entry["path"], None)
            elif entry["sha"] not in repo.blobs:
                return _error(422, f"tree.sha {entry['sha']} is not a valid blob")
            else:
                flat[entry["path"]] = entry["sha"]
        return _json(self._tree_doc(repo, repo.put_tree(flat)), 201)

    def get_tree(self, request: web.Request, owner: str, name: str, sha: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        if sha not in repo.trees:
            return _error(404, "Not Found")
        return _json(self._tree_doc(repo, sha))

    def _tree_doc(self, repo: Repo, sha: str) -> dict[str, Any]:
        entries = [
            {"path": p, "mode": "100644", "type": "blob", "sha": b}
            for p, b in sorted(repo.trees[sha].items())
        ]
        return {
            "sha": sha,
            "url": f"{self.api}/repos/{repo.full_name}/git/trees/{sha}",
            "tree": entries,
            "truncated": False,
        }

    def create_commit(self, request: web.Request, owner: str, name: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        body = request[_BODY]
        if body["tree"] not in repo.trees or any(p not in repo.commits for p in body["parents"]):
            return _error(422, "Invalid tree or parents")
        sha = repo.put_commit(body["message"], body["tree"], body["parents"])
        return _json(self._commit_doc(repo, sha), 201)

    def get_commit(self, request: web.Request, owner: str, name: str, sha: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        if sha not in repo.commits:
            return _error(404, "Not Found")
        return _json(self._commit_doc(repo, sha))

    def get_contents(self, request: web.Request, owner: str, name: str, path: str) -> web.Response:
        repo = self._repo_or_404(owner, name)
        ref = request.query.get("ref") or repo.default_branch
        try:
            files = repo.files(ref)
        except KeyError:
            return _error(404, "No commit found for the ref")
        if path not in files:
            return _error(404, "Not Found")
        content = files[path]
        url = f"{self.api}/repos/{repo.full_name}/contents/{path}"
        return _json(
            {
                "type": "file",
                "encoding": "base64",
                "size": len(content),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "content": base64.b64encode(content).decode(),
                "sha": repo.put_blob(content),
                "url": url,
                "git_url": "",
                "html_url": "",
                "download_url": "",
                "_links": {},
            }
        )


_N = r"(?P<owner>[^/]+)/(?P<name>[^/]+)"
_ROUTES = [
    ("GET", r"/user", "get_user"),
    ("POST", rf"/repos/{_N}/forks", "create_fork"),
    ("GET", rf"/repos/{_N}", "get_repo"),
    ("GET", r"/orgs/(?P<org>[^/]+)", "get_org"),
    ("POST", r"/orgs/(?P<org>[^/]+)/repos", "create_org_repo"),
    ("GET", rf"/repos/{_N}/pulls", "list_pulls"),
    ("POST", rf"/repos/{_N}/pulls", "create_pull"),
    ("GET", rf"/repos/{_N}/pulls/(?P<number>\d+)", "get_pull"),
    ("GET", rf"/repos/{_N}/issues/(?P<number>\d+)", "get_issue"),
    ("GET", rf"/repos/{_N}/issues/(?P<number>\d+)/comments", "list_comments"),
    ("POST", rf"/repos/{_N}/issues/(?P<number>\d+)/comments", "create_comment"),
    ("GET", rf"/repos/{_N}/issues/comments/(?P<cid>\d+)", "get_comment"),
    ("PATCH", rf"/repos/{_N}/issues/comments/(?P<cid>\d+)", "edit_comment"),
    ("POST", rf"/repos/{_N}/issues/comments/(?P<cid>\d+)/reactions", "react"),
    ("GET", rf"/repos/{_N}/issues/(?P<number>\d+)/labels", "list_labels"),
    ("POST", rf"/repos/{_N}/issues/(?P<number>\d+)/labels", "add_labels"),
    ("DELETE", rf"/repos/{_N}/issues/(?P<number>\d+)/labels/(?P<label>[^/]+)", "remove_label"),
    ("POST", rf"/repos/{_N}/statuses/(?P<sha>[0-9a-f]+)", "create_status"),
    ("GET", rf"/repos/{_N}/collaborators/(?P<user>[^/]+)/permission", "permission"),
    ("GET", rf"/repos/{_N}/collaborators/(?P<user>[^/]+)", "get_collaborator"),
    ("PUT", rf"/repos/{_N}/collaborators/(?P<user>[^/]+)", "put_collaborator"),
    ("POST", rf"/repos/{_N}/actions/workflows/(?P<workflow>[^/]+)/dispatches", "dispatch"),
    ("GET", rf"/repos/{_N}/git/ref/heads/(?P<branch>.+)", "get_ref"),
    ("POST", rf"/repos/{_N}/git/refs", "create_ref"),
    ("PATCH", rf"/repos/{_N}/git/refs/heads/(?P<branch>.+)", "update_ref"),
    ("POST", rf"/repos/{_N}/git/blobs", "create_blob"),
    ("POST", rf"/repos/{_N}/git/trees", "create_tree"),
    ("GET", rf"/repos/{_N}/git/trees/(?P<sha>[0-9a-f]+)", "get_tree"),
    ("POST", rf"/repos/{_N}/git/commits", "create_commit"),
    ("GET", rf"/repos/{_N}/git/commits/(?P<sha>[0-9a-f]+)", "get_commit"),
    ("GET", rf"/repos/{_N}/contents/(?P<path>.+)", "get_contents"),
]


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(doc, status=status)


def _error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> web.Response:
    doc: dict[str, Any] = {"message": message}
    if errors:
        doc["errors"] = errors
    return web.json_response(doc, status=status)
