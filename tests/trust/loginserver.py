"""A local server demanding credentials: bearer, basic, and an Earthdata-like login flow.

One aiohttp server on 127.0.0.1 plays two hosts, told apart by the Host header: the
data host ``data.test`` and the login host ``login.test`` (names given to 127.0.0.1 by
a stub resolver, since aiohttp's cookie jar ignores cookies set by IP-literal hosts).

* ``/bearer/NAME``: the file if ``Authorization: Bearer TOKEN``, else 401.
* ``/basic/NAME``: the file if Basic ``USER:PASSWORD``, else 401.
* ``/hop/NAME``: a redirect to the login host's ``/bearer/NAME`` (which answers 404).
* ``/edl/NAME``: the file if the session cookie is set; else a redirect to the login
  host, which asks Basic credentials (from netrc), redirects back to the data host's
  callback with a code, which sets the cookie and redirects to the file.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

DATA, LOGIN = "data.test", "login.test"


@dataclass
class Seen:
    """One request as the server saw it."""

    host: str
    path: str
    authorization: str | None
    cookie: str | None


@dataclass
class LoginServer:
    """The server and the secrets it demands."""

    root: Path
    token: str
    user: str
    password: str
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._codes: set[str] = set()
        self._sessions: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> LoginServer:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_get("/{kind}/{name}", self._handle)
        app.router.add_get("/oauth/authorize", self._authorize)
        app.router.add_get("/callback", self._callback)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def _note(self, request: web.Request) -> str:
        host = request.host.split(":")[0]
        self.seen.append(
            Seen(
                host,
                request.path_qs,
                request.headers.get("Authorization"),
                request.headers.get("Cookie"),
            )
        )
        return host

    def _basic_ok(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = self._note(request)
        kind, name = request.match_info["kind"], request.match_info["name"]
        if host != DATA:
            return web.Response(status=404)
        if kind == "hop":  # moved to another host, which must not get the data host's token
            raise web.HTTPFound(self.url(LOGIN, f"/bearer/{name}"))
        if kind == "bearer":
            ok = request.headers.get("Authorization") == f"Bearer {self.token}"
        elif kind == "basic":
            ok = self._basic_ok(request)
        elif kind == "edl":
            ok = request.cookies.get("session") in self._sessions
            if not ok:
                back = quote(self.url(DATA, request.path), safe="")
                raise web.HTTPFound(self.url(LOGIN, f"/oauth/authorize?next={back}"))
        else:
            return web.Response(status=404)
        if not ok:
            return web.Response(status=401, text="credentials needed")
        return web.FileResponse(self.root / name)

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        host = self._note(request)
        if host != LOGIN:
            return web.Response(status=404)
        if not self._basic_ok(request):
            return web.Response(status=401, text="log in")
        code = secrets.token_hex(8)
        self._codes.add(code)
        nxt = quote(request.query["next"], safe="")
        raise web.HTTPFound(self.url(DATA, f"/callback?code={code}&next={nxt}"))

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        host = self._note(request)
        if host != DATA or request.query.get("code") not in self._codes:
            return web.Response(status=401)
        session = secrets.token_hex(8)
        self._sessions.add(session)
        response = web.HTTPFound(request.query["next"])
        response.set_cookie("session", session, httponly=True)
        raise response
