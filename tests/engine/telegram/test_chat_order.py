"""One chat's rows go out in the order they were queued, whatever the claims: a row claimed
later never overtakes the chat's rows still waiting in this sender (behind a 429, say).
Through the fake Bot API, the sender alone (its drain passes run by the test)."""
from __future__ import annotations

import asyncio

from engine import Reply, outgoing
from engine.storage import write_tx
from engine.telegram.bot import BotConfig, make_bot
from engine.telegram.sender import Limits, Sender

CHAT = 3301


def _queue(*texts: str) -> None:
    with write_tx():
        for text in texts:
            outgoing.enqueue(Reply(CHAT, text), priority=0)


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def _scenario(api) -> Sender:
    bot = make_bot(BotConfig(token=api.token, api_url=api.url))
    async with bot:
        sender = Sender(bot, limits=Limits())
        _queue("первое", "второе")
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        assert await sender.drain_once() == 2
        await _until(lambda: sender.stats["retry_after"] >= 1)   # "первое" waits out its 429
        _queue("третье")
        await sender.drain_once()          # claims "третье" while "второе" still waits here
        await sender.wait_idle(grace=60)
    return sender


def test_a_later_claim_never_overtakes_the_chats_waiting_rows(api, engine_db):
    asyncio.run(_scenario(api))
    assert [m.text for m in api.messages(CHAT)] == ["первое", "второе", "третье"]
    assert {r.status for r in outgoing.Outgoing.select()} == {outgoing.SENT}
