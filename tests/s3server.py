"""The tests' S3: moto's server, its writes made atomic as S3's are.

moto checks a conditional write's precondition (``If-Match``, ``If-None-Match``) and then
writes, and its threaded server runs other requests in between: two writers could both
pass the check, and one change be lost (seen once in CI, in
``test_concurrent_updates_lose_nothing[s3]``). S3 checks and writes at once. Here writes
(PUT, POST, DELETE) are served one at a time; reads as they come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: The methods that change what the server holds.
WRITES = frozenset({"PUT", "POST", "DELETE"})


class SerializedWrites:
    """A WSGI app that serves ``app``'s writes one at a time, each whole."""

    def __init__(self, app: Wsgi):
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") not in WRITES:
            return self.app(environ, start_response)
        with self._lock:  # the answer is made, body and all, before the next write starts
            return list(self.app(environ, start_response))


class S3Server:
    """moto's S3 on 127.0.0.1, on a thread of its own (a free port)."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        app = SerializedWrites(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
