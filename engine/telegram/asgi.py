"""A whole bot as one ASGI application, for a server that runs it (uvicorn's worker
processes, `helpdesk.ops.workers`).

`bot_asgi(running)` is a Starlette application whose lifespan enters `running()`: an async
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

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount

from .bot import TelegramBot

__all__ = ["bot_asgi"]


class _Routes:
    """The started bot's webhook app; 503 before the start (a server that accepts early)."""

    def __init__(self):
        self.app = None

    async def __call__(self, scope, receive, send) -> None:
        if self.app is None:
            await PlainTextResponse("Service Unavailable: the bot is starting", 503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def bot_asgi(running: Callable[[], AsyncContextManager[TelegramBot]]) -> Starlette:
    """The ASGI app of one bot process; see the module docstring."""
    routes = _Routes()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with running() as bot:
            routes.app = bot.webhook_app()
            try:
                yield
            finally:
                routes.app = None
    return Starlette(routes=[Mount("/", app=routes)], lifespan=lifespan)
