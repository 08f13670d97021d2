"""A real HTTP server on 127.0.0.1 that replays recorded responses and misbehaves on request.

    server = FakeServer()                      # or the `fake_server` fixture
    server.route("GET", "/api/v01/dataset/NM_1_1.data.csv",
                 Reply(429, headers={"Retry-After": "1"}), Reply(200, body=csv_bytes))
    url = server.url("/api/v01/dataset/NM_1_1.data.csv")

Replies for a route are served in order; the last one repeats. A route can also be a function of the
request (for paging by query string). Every request is recorded in ``server.requests``.
Misbehaviours: ``delay`` (seconds before answering: a slow server / timeout), ``truncate_to`` (send a
Content-Length for the whole body, then only this many bytes and close), ``trickle`` (send the body a byte
at a time, this many seconds apart: every read gets data in time, the transfer never ends), ``chunked``
(Transfer-Encoding: chunked, in pieces of that many bytes), any status and headers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_to: int | None = None
    content_type: str = "application/octet-stream"
    trickle: float = 0.0
    chunked: int = 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]


Handler = Callable[[Request], Reply]


class FakeServer:
    def __init__(self):
        self.routes: dict[tuple[str, str], list[Reply] | Handler] = {}
        self.served: dict[tuple[str, str], int] = {}
        self.requests: list[Request] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, parts.path, parse_qs(parts.query), body, dict(self.headers))
                server.requests.append(request)
                reply = server._reply_for(request)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": reply.content_type, **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if reply.chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for start in range(0, len(payload), reply.chunked):
                            piece = payload[start:start + reply.chunked]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    self.send_header("Content-Length", str(len(payload)))
                    if reply.truncate_to is not None:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if self.command == "HEAD":  # the headers a GET would send (Content-Length too), no body
                        return
                    if reply.truncate_to is not None:
                        self.wfile.write(payload[: reply.truncate_to])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if reply.trickle:
                        for index in range(len(payload)):
                            self.wfile.write(payload[index:index + 1])
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                        return
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, method: str, path: str, *replies: Reply | Handler) -> None:
        if len(replies) == 1 and callable(replies[0]) and not isinstance(replies[0], Reply):
            self.routes[(method, path)] = replies[0]
        else:
            self.routes[(method, path)] = list(replies)
        self.served[(method, path)] = 0

    def _reply_for(self, request: Request) -> Reply:
        key = (request.method, request.path)
        route = self.routes.get(key)
        if route is None:
            return Reply(404, body=f"no route for {request.method} {request.path}", content_type="text/plain")
        if callable(route):
            return route(request)
        index = min(self.served[key], len(route) - 1)
        self.served[key] += 1
        return route[index]

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
