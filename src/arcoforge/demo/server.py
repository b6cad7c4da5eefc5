"""A local HTTP server for NetCDF files, with switches for the faults real servers have.

It serves a folder on 127.0.0.1 with aiohttp's static handler (which answers
Range requests with 206, unlike ``python -m http.server``). Tests use the fault
switches: answer some requests with an error status, close a body halfway,
answer slowly, or require credentials. Run it alone with
``python -m arcoforge.demo.server FOLDER``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    """What the server does wrong, per file name (the path's last part)."""

    #: statuses to answer, in turn, before serving normally: {"a.nc": [503, 503]}
    errors: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    #: statuses answered every time: {"a.nc": 404}
    status: dict[str, int] = field(default_factory=dict)
    #: how many times to close the body halfway: {"a.nc": 1}
    truncate: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: seconds to wait before answering: {"a.nc": 5.0}; "*" applies to every file
    delay: dict[str, float] = field(default_factory=dict)
    #: "user:password" that Basic auth must present, if any
    basic_auth: str | None = None
    #: files served without ETag and Last-Modified, as some servers do: {"a.nc"}
    no_validators: set[str] = field(default_factory=set)
    #: Retry-After (seconds) sent with 429 and 503 answers: {"a.nc": 2}; "*" for every file
    retry_after: dict[str, float] = field(default_factory=dict)
    #: close every response after this many body bytes, as a connection that drops
    #: every so often does: {"a.nc": 100_000}
    cut_after: dict[str, int] = field(default_factory=dict)
    #: files whose Range requests are answered with the whole file, as
    #: ``python -m http.server`` does: {"a.nc"}; "*" for every file
    no_range: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    range: str | None
    #: the validators of a conditional request (If-None-Match, If-Modified-Since)
    if_none_match: str | None = None
    if_modified_since: str | None = None


@dataclass(frozen=True)
class Answer:
    """The status line of one response the server sent."""

    method: str
    path: str
    status: int


class SourceServer:
    """Serves ``root`` on 127.0.0.1 from a background thread; a context manager."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 0):
        self.root = Path(root)
        self.host = host
        self.port = port
        self.faults = Faults()
        self.requests: list[Request] = []
        self.answers: list[Answer] = []
        #: requests being answered now, and the most there were at once
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> SourceServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start serving; returns once the socket accepts connections."""
        self._thread = threading.Thread(target=self._serve, name="source-server", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("the source server did not start within 30 s")

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start_site())
        except BaseException as e:  # reported to the thread that called start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _start_site(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(self._record_answer)
        app.router.add_static("/", self.root, show_index=True)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.in_flight += 1  # the server's one event loop: no lock needed
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request, handler)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        name = request.path.rsplit("/", 1)[-1]
        headers = request.headers
        self.requests.append(
            Request(
                request.method,
                request.path,
                headers.get("Range"),
                headers.get("If-None-Match"),
                headers.get("If-Modified-Since"),
            )
        )
        f = self.faults
        delay = f.delay.get(name, f.delay.get("*", 0.0))
        if delay:
            await asyncio.sleep(delay)
        if f.basic_auth is not None:
            expected = "Basic " + base64.b64encode(f.basic_auth.encode()).decode()
            if request.headers.get("Authorization") != expected:
                raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="data"'})
        if name in f.status:
            return self._status_answer(name, f.status[name])
        if f.errors.get(name):
            return self._status_answer(name, f.errors[name].pop(0))
        if f.truncate.get(name, 0) > 0 and request.method == "GET":
            f.truncate[name] -= 1
            return await self._truncated(request)
        if request.method == "GET" and (
            name in f.cut_after or name in f.no_range or "*" in f.no_range
        ):
            return await self._body(request, name)
        return await handler(request)

    def _status_answer(self, name: str, status: int) -> web.Response:
        headers = {}
        after = self.faults.retry_after.get(name, self.faults.retry_after.get("*"))
        if after is not None and status in (429, 503):
            headers["Retry-After"] = f"{after:g}"
        return web.Response(status=status, text=f"status {status}", headers=headers)

    async def _body(self, request: web.Request, name: str) -> web.StreamResponse:
        """The file (or the range asked for, unless Range is ignored), cut if asked."""
        path = self.root / request.path.lstrip("/")
        if not path.is_file():
            raise web.HTTPNotFound()
        body = path.read_bytes()
        ignore = name in self.faults.no_range or "*" in self.faults.no_range
        span = None if ignore else _range(request.headers.get("Range"), len(body))
        response = web.StreamResponse(status=200 if span is None else 206)
        if span is not None:
            start, end = span
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(body)}"
            body = body[start:end]
        response.content_length = len(body)
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        cut = self.faults.cut_after.get(name)
        await response.write(body if cut is None else body[:cut])
        if cut is not None and cut < len(body):
            assert request.transport is not None
            request.transport.close()
        return response

    async def _record_answer(self, request: web.Request, response: web.StreamResponse) -> None:
        # Recorded as headers go out: a static file's status (200, 206, 304) is set then.
        self.answers.append(Answer(request.method, request.path, response.status))
        if request.path.rsplit("/", 1)[-1] in self.faults.no_validators:
            response.headers.popall("ETag", None)
            response.headers.popall("Last-Modified", None)

    async def _truncated(self, request: web.Request) -> web.StreamResponse:
        path = self.root / request.path.lstrip("/")
        body = path.read_bytes()
        response = web.StreamResponse(status=200)
        response.content_length = len(body)
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        assert request.transport is not None
        request.transport.close()
        return response


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, end)`` a single-range ``Range`` header asks for, if it is one."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].partition("-")
    if not first:
        return (max(0, size - int(last)), size) if last else None
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    return (start, end) if start < end else None


def main() -> None:
    """Serve a folder until interrupted: ``python -m arcoforge.demo.server FOLDER``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = SourceServer(args.folder, port=args.port)
    server.start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
