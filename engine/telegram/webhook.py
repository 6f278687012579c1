"""The webhook endpoint: store the update, then answer 200.

PTB's own webhook server answers 200 before the update is handled, so a crash there loses it.
This route checks Telegram's `X-Telegram-Bot-Api-Secret-Token` header with
`hmac.compare_digest` on every request (403 otherwise), commits the update to the inbox, and
only then answers 200. If the database is down it answers 500 and Telegram delivers the
update again later.

It is a Starlette route served by uvicorn on the bot's own event loop (both come with
FastAPI, which the REST API uses), so another ASGI application (the REST API) can share the
port: requests to `path` go to the route, everything else to that application.

Several processes started by hand can listen on one port (`reuse_port`: SO_REUSEPORT, the
kernel spreads connections over them). Under `run.py bot --workers N` the bot does not serve
itself: uvicorn's worker processes serve `app()` (engine.telegram.asgi, helpdesk.ops.workers).

`serve()` is the supervised task (engine.supervisor): the socket is bound once in `start()`
(a port in use fails the start), and a server that dies is served again on the same port.
An update that cannot be stored is the supervisor's failure to log and report (the task
shows `restarting` until an update is stored again). `GET /healthz` answers the
`health()` JSON: 200 when its status is ok, 503 otherwise.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
from typing import Awaitable, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from .. import health
from . import inbox
from .dispatcher import Dispatcher

__all__ = ["WebhookServer", "SECRET_HEADER"]

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TASK = "webhook server"


def _parse(body: bytes) -> dict | None:
    try:
        update = json.loads(body)
    except ValueError:
        return None
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return None
    return update


class _Server(uvicorn.Server):
    """uvicorn on a loop it does not own: the bot handles SIGINT/SIGTERM itself."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class WebhookServer:
    """An HTTP server on `listen:port` whose `path` accepts Telegram's webhook posts.

    Args:
        dispatcher: gets every newly stored update.
        secret_token: Telegram's secret header value (required).
        listen, port, path: where to serve (port 0: any free port).
        extra_app: an ASGI application served on the same port for every other path.
        reuse_port: SO_REUSEPORT, so several processes can serve one port.
        supervisor: runs `serve()` and hears of updates that could not be stored.
        health: returns the health JSON for `GET /healthz` (none: no such route).
    """

    def __init__(self, dispatcher: Dispatcher, *, secret_token: str, listen: str = "127.0.0.1",
                 port: int = 8443, path: str = "/telegram", extra_app=None, reuse_port: bool = False,
                 supervisor=None, health: Callable[[], Awaitable[dict]] | None = None):
        if not secret_token:
            raise ValueError("webhook mode needs a secret token (settings bot.webhook.secret_token): "
                             "Telegram sends it with every update so strangers cannot post fake ones")
        self.dispatcher, self.listen, self.port, self.path = dispatcher, listen, port, path
        self.extra_app, self.reuse_port = extra_app, reuse_port
        self.supervisor, self.health = supervisor, health
        self._secret = secret_token.encode()
        self._server: _Server | None = None
        self._socket_ready: socket.socket | None = None
        self._stopping = False
        self._task: asyncio.Task | None = None

    def authorized(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._secret)

    async def receive(self, request: Request) -> Response:
        if not self.authorized(request.headers.get(SECRET_HEADER, "")):
            log.warning("webhook: request from %s without the right secret token",
                        request.client.host if request.client else "?")
            return PlainTextResponse("Forbidden", 403)
        update = _parse(await request.body())
        if update is None:
            return PlainTextResponse("Bad Request: an update object is expected", 400)
        try:
            fresh = await asyncio.to_thread(inbox.store, [update])
        except Exception as e:  # noqa: BLE001 - not stored: Telegram must send it again
            self._store_failed(update, e)
            return PlainTextResponse("Internal Server Error", 500)
        if self.supervisor is not None:
            self.supervisor.succeeded(TASK)
        self.dispatcher.submit(fresh)          # the row is committed: 200 may go out now
        return Response(status_code=200)

    def _store_failed(self, update: dict, error: BaseException) -> None:
        if self.supervisor is None:
            log.error("webhook: update %s not stored", update.get("update_id"), exc_info=error)
        else:
            self.supervisor.failed(TASK, error)

    async def healthz(self, request: Request) -> Response:
        body = await self.health()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    def app(self) -> Starlette:
        routes = [Route(self.path, self.receive, methods=["POST"])]
        if self.health is not None:
            routes.append(Route(health.PATH, self.healthz, methods=["GET"]))
        if self.extra_app is not None:
            routes.append(Mount("/", app=self.extra_app))
        return Starlette(routes=routes)

    def _socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.listen, self.port))
        sock.listen(1024)
        sock.setblocking(False)
        return sock

    async def start(self) -> int:
        """Bind, then serve on the running loop (under the supervisor, if any); the port."""
        self._socket_ready = self._socket()   # a port in use fails here, not in a restart loop
        self.port = self._socket_ready.getsockname()[1]
        if self.supervisor is not None:
            self._task = self.supervisor.spawn(TASK, self.serve)
        else:
            self._task = asyncio.ensure_future(self.serve())
        while not (self._server and self._server.started):
            if self._task.done():             # failed to start: raise its error
                await self._task
            await asyncio.sleep(0.01)
        log.info("webhook server on http://%s:%s%s%s", self.listen, self.port, self.path,
                 " (and the REST API)" if self.extra_app is not None else "")
        return self.port

    async def serve(self) -> None:
        """Serve until `stop()`; a restart binds the same port again."""
        if self._stopping:
            return
        sock, self._socket_ready = self._socket_ready or self._socket(), None
        config = uvicorn.Config(self.app(), log_config=None, access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=10)
        self._server = _Server(config)
        await self._server.serve(sockets=[sock])

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping = True
        if self._server:
            self._server.should_exit = True
        done, _ = await asyncio.wait([self._task], timeout=15)
        if not done:                           # waiting out a restart's backoff
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._server = self._task = None
