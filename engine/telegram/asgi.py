"""A whole bot as one ASGI application, for a server that runs it (uvicorn's worker
processes, `helpdesk.ops.workers`).

`bot_asgi(running)` is an ASGI application whose lifespan enters `running()`: an async
context manager that starts a `TelegramBot` in webhook mode without a server of its own
(`BotConfig.serve_webhook` False) and yields it, and stops it when left. Its requests go to
that bot's webhook app (the update path, `/healthz`, the extra app such as the REST API).

The server calls the lifespan before it accepts a connection and after it has stopped
accepting them, so the bot is up for every request and its shutdown (the bounded wait for
started sends) runs once the last request has been answered. A startup that raises is the
server's "startup failure" (uvicorn: the process exits with code 3).
"""
from __future__ import annotations

import contextlib
from typing import AsyncContextManager, Callable

from starlette.responses import PlainTextResponse
from starlette.routing import Router

from .bot import TelegramBot

__all__ = ["bot_asgi", "BotASGI"]


class BotASGI:
    """The ASGI app of one bot process; see the module docstring. Requests go straight to
    the started bot's webhook app (no second routing layer on every update); before the
    start they get 503 (a server that accepts early)."""

    def __init__(self, running: Callable[[], AsyncContextManager[TelegramBot]]):
        self._running = running
        self._lifespan = Router(lifespan=self._serve)    # Starlette speaks the lifespan protocol
        self._app = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif self._app is None:
            await PlainTextResponse("Service Unavailable: the bot is starting", 503)(scope, receive, send)
        else:
            await self._app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _serve(self, _app):
        async with self._running() as bot:
            self._app = bot.webhook_app()
            try:
                yield
            finally:
                self._app = None


def bot_asgi(running: Callable[[], AsyncContextManager[TelegramBot]]) -> BotASGI:
    """The ASGI app of one bot process whose lifespan is `running()`."""
    return BotASGI(running)
