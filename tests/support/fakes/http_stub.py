"""Base of the loopback HTTP stubs (1C, REST CRM, DaData): a real threaded HTTP server on
127.0.0.1 with request recording and fault injection. Subclasses implement `handle()`.

API every stub shares (thread-safe):

    with SomeStub() as stub:           # start() on a free port; stop() on exit
        stub.base                      # "http://127.0.0.1:PORT"
        stub.url                       # the base URL a client is configured with
        stub.requests                  # list[Received], every request in arrival order,
                                       # faulted ones included (method, path, query, raw_query,
                                       # headers (lower-case keys), body, .json)
        stub.received(method=None, path=None) -> list[Received]   # filtered copy
        stub.down() / stub.up()        # stop listening + drop open connections (connection
                                       # refused) / listen again on the same port
        stub.fail_next(n, status=500)  # next n requests answer `status`, not handled
        stub.lose_reply_next(n, status=500)  # next n are handled, then answer `status`
                                       # (the reply is lost: tests idempotent retries)
        stub.garbage_next(n)           # next n answer 200 with invalid JSON
        stub.conflict_next(n)          # next n answer 409, not handled
        stub.slow(seconds)             # every request waits this long first (0 = off)
        stub.reset_faults()
"""
from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Received", "StubServer"]

GARBAGE = b"<html>502 Bad Gateway</html> {not json"


@dataclass
class Received:
    """One request as the stub saw it."""

    method: str
    path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    fault: str = ""

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Faults:
    fail: list[int] = field(default_factory=list)
    lose: list[int] = field(default_factory=list)
    garbage: int = 0
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class StubServer:
    """A threaded loopback HTTP server; subclasses override `handle` (and `error_body`,
    `authorized`, `url`, `auth_status`)."""

    auth_status = 401

    def __init__(self):
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._faults = _Faults()
        self.port = 0
        self.requests: list[Received] = []

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> "StubServer":
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self.port), self._handler_class())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"{type(self).__name__}:{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._drop_connections()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def down(self) -> None:
        """Connection refused until `up()`."""
        self.stop()

    def up(self) -> None:
        if self._server is None:
            self.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base

    # ---- faults -------------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self._lock:
            self._faults.fail += [status] * n

    def conflict_next(self, n: int = 1) -> None:
        self.fail_next(n, 409)

    def lose_reply_next(self, n: int = 1, status: int = 500) -> None:
        with self._lock:
            self._faults.lose += [status] * n

    def garbage_next(self, n: int = 1) -> None:
        with self._lock:
            self._faults.garbage += n

    def slow(self, seconds: float) -> None:
        with self._lock:
            self._faults.delay = seconds

    def reset_faults(self) -> None:
        with self._lock:
            self._faults = _Faults()

    def received(self, method: str | None = None, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and (path is None or r.path == path)]

    # ---- to override --------------------------------------------------------------------
    def handle(self, req: Received) -> tuple[int, Any]:
        """Answer one request: (status, JSON-able body)."""
        raise NotImplementedError

    def authorized(self, req: Received) -> bool:
        return True

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    # ---- internals ----------------------------------------------------------------------
    def _answer(self, req: Received) -> tuple[int, bytes]:
        """The fault or the real answer, as (status, body bytes)."""
        with self._lock:
            self.requests.append(req)
        self._stopping.wait(self._faults.delay)
        fault = self._take_fault()
        req.fault = fault[0] if fault else ""
        if fault and fault[0] in ("fail", "garbage"):
            return fault[1], GARBAGE if fault[0] == "garbage" else self._error(fault[1], "injected")
        status, body = self._dispatch(req)
        if fault:
            return fault[1], self._error(fault[1], "injected after handling")
        return status, json.dumps(body, ensure_ascii=False).encode()

    def _dispatch(self, req: Received) -> tuple[int, Any]:
        if not self.authorized(req):
            return self.auth_status, self.error_body(self.auth_status, "unauthorized")
        try:
            with self._lock:
                return self.handle(req)
        except (ValueError, KeyError, TypeError) as e:
            return 400, self.error_body(400, f"bad request: {e}")

    def _error(self, status: int, message: str) -> bytes:
        return json.dumps(self.error_body(status, message)).encode()

    def _take_fault(self) -> tuple[str, int] | None:
        with self._lock:
            f = self._faults
            if f.fail:
                return "fail", f.fail.pop(0)
            if f.garbage:
                f.garbage -= 1
                return "garbage", 200
            if f.lose:
                return "lose", f.lose.pop(0)
        return None

    def _drop_connections(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def _handler_class(self):
        stub = self

        class Handler(_Handler):
            pass

        Handler.stub = stub
        return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1                   # one write per answer (headers + body): no Nagle stall
    disable_nagle_algorithm = True
    stub: StubServer

    def setup(self):
        super().setup()
        self.stub._track(self.connection, True)

    def finish(self):
        self.stub._track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _serve(self):
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        req = Received(method=self.command, path=split.path, raw_query=split.query,
                       query={k: v[0] for k, v in
                              parse_qs(split.query, keep_blank_values=True).items()},
                       headers={k.lower(): v for k, v in self.headers.items()},
                       body=self.rfile.read(length) if length else b"")
        status, body = self.stub._answer(req)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout) or down() cut the connection
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _serve
