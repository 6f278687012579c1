"""Long polling that never loses an update: store the batch, then ask for the next offset.

PTB's Updater sends the next offset (confirming the batch to Telegram) before its handlers
run; here the batch is committed to the inbox first, and only the following `getUpdates`
call carries `offset = last + 1`. A crash between the two makes Telegram send the batch
again; the inbox's unique update_id drops the copies. When the store fails (the database
is locked, full or gone), `run` raises before the offset moves: Telegram keeps the batch,
and the supervisor restarts this same poller (its offset intact) after its backoff.
"""
from __future__ import annotations

import asyncio
import logging
import warnings

from telegram import Bot
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.warnings import PTBUserWarning

from . import inbox
from .dispatcher import Dispatcher

__all__ = ["Poller", "ALLOWED_UPDATES"]

log = logging.getLogger(__name__)
# Not edited_message: an edit of an old answer must not count as a new answer.
# chat_member: staff leaving the work group; my_chat_member: the bot removed from it or back
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query", "chat_member",
                   "my_chat_member"]
# We call getUpdates through do_api_request on purpose: it returns the raw JSON we store.
warnings.filterwarnings("ignore", message=r"Please use 'Bot.getUpdates'", category=PTBUserWarning)


class Poller:
    def __init__(self, bot: Bot, dispatcher: Dispatcher, *, timeout: int = 10, limit: int = 100,
                 allowed_updates: list[str] = ALLOWED_UPDATES):
        self.bot, self.dispatcher = bot, dispatcher
        self.timeout, self.limit, self.allowed_updates = timeout, limit, allowed_updates
        self.offset: int | None = None

    async def run(self) -> None:
        """Poll until cancelled."""
        await self.bot.delete_webhook()           # getUpdates is refused while a webhook is set
        backoff = 0.5
        while True:
            try:
                await self.poll_once()
                backoff = 0.5
            except InvalidToken:
                raise
            except (TelegramError, OSError) as e:   # network, 5xx, 409: wait and try again
                level = logging.ERROR if isinstance(e, Conflict) else logging.WARNING
                log.log(level, "getUpdates failed: %s; retrying in %.1f s", e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)

    async def poll_once(self) -> int:
        """One getUpdates; the batch is in the inbox before this returns. How many came."""
        updates = await self.bot.do_api_request("getUpdates", api_kwargs=self._params(),
                                                read_timeout=self.timeout + 10)
        if not updates:
            return 0
        fresh = await asyncio.to_thread(inbox.store, updates)
        self.offset = max(int(u["update_id"]) for u in updates) + 1   # confirmed by the next call
        self.dispatcher.submit(fresh)
        return len(updates)

    def _params(self) -> dict:
        params = {"timeout": self.timeout, "limit": self.limit,
                  "allowed_updates": self.allowed_updates}
        if self.offset is not None:
            params["offset"] = self.offset
        return params
