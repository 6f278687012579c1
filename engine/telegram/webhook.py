"""The webhook endpoint: store the update, then answer 200.

PTB's own webhook server answers 200 before the update is handled, so a crash there loses it.
This small tornado route (tornado is what PTB's `webhooks` extra installs; it runs on the same
asyncio loop, so no new dependency and no second server stack) checks Telegram's
`X-Telegram-Bot-Api-Secret-Token` header with `hmac.compare_digest` on every request (403
otherwise), commits the update to the inbox, and only then answers 200. If the database is
down it answers 500 and Telegram delivers the update again later.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket

import tornado.httpserver
import tornado.netutil
import tornado.web

from . import inbox
from .dispatcher import Dispatcher

__all__ = ["WebhookServer", "SECRET_HEADER"]

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class _UpdateHandler(tornado.web.RequestHandler):
    def initialize(self, server: "WebhookServer") -> None:
        self.server = server

    async def post(self) -> None:
        if not self.server.authorized(self.request.headers.get(SECRET_HEADER, "")):
            log.warning("webhook: request from %s without the right secret token", self.request.remote_ip)
            return self._answer(403, "Forbidden")
        update = _parse(self.request.body)
        if update is None:
            return self._answer(400, "Bad Request: an update object is expected")
        try:
            fresh = await asyncio.to_thread(inbox.store, [update])
        except Exception:  # noqa: BLE001 - not stored: Telegram must send it again
            log.exception("webhook: update %s not stored", update.get("update_id"))
            return self._answer(500, "Internal Server Error")
        self._answer(200, "")
        self.server.dispatcher.submit(fresh)

    def _answer(self, status: int, text: str) -> None:
        self.set_status(status)
        self.finish(text)


def _parse(body: bytes) -> dict | None:
    try:
        update = json.loads(body)
    except ValueError:
        return None
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return None
    return update


class WebhookServer:
    """An HTTP server on `listen:port` whose `path` accepts Telegram's webhook posts."""

    def __init__(self, dispatcher: Dispatcher, *, secret_token: str, listen: str = "127.0.0.1",
                 port: int = 8443, path: str = "/telegram"):
        if not secret_token:
            raise ValueError("webhook mode needs a secret token (settings bot.webhook.secret_token): "
                             "Telegram sends it with every update so strangers cannot post fake ones")
        self.dispatcher, self.listen, self.port, self.path = dispatcher, listen, port, path
        self._secret = secret_token.encode()
        self._server: tornado.httpserver.HTTPServer | None = None

    def authorized(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._secret)

    def start(self) -> int:
        """Bind and serve (on the running loop); the bound port."""
        app = tornado.web.Application([(self.path, _UpdateHandler, {"server": self})])
        sockets = tornado.netutil.bind_sockets(self.port, self.listen, family=socket.AF_INET)
        self._server = tornado.httpserver.HTTPServer(app, xheaders=True)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("webhook server on http://%s:%s%s", self.listen, self.port, self.path)
        return self.port

    async def stop(self) -> None:
        if self._server:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
