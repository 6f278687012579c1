"""engine/telegram/aiohttp_request.py: PTB's HTTP layer on aiohttp keeps PTB's error types
and never puts the bot token into an error message."""
from __future__ import annotations

import asyncio

import pytest
from telegram.error import NetworkError

from engine.telegram.bot import BotConfig, make_bot
from tests.support.telegram_harness import free_port

TOKEN = "123456:SECRET-TOKEN-abc"


def test_a_dead_server_is_a_network_error_without_the_token():
    async def call():
        bot = make_bot(BotConfig(token=TOKEN, api_url=f"http://127.0.0.1:{free_port()}"))
        await bot.request.initialize()        # not bot.initialize(): that calls getMe first
        try:
            await bot.send_message(1, "hi")
        finally:
            await bot.request.shutdown()

    with pytest.raises(NetworkError) as caught:
        asyncio.run(call())
    assert TOKEN not in str(caught.value) and "aiohttp" in str(caught.value)


def test_a_silent_server_times_out_without_the_token_in_the_message():
    import socket

    from telegram.error import TimedOut
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)                      # accepts connections, never answers

    async def call():
        bot = make_bot(BotConfig(token=TOKEN, api_url=f"http://127.0.0.1:{silent.getsockname()[1]}"))
        await bot.request.initialize()
        try:
            await bot.send_message(1, "hi", read_timeout=0.3, write_timeout=0.1, pool_timeout=0.1)
        finally:
            await bot.request.shutdown()

    try:
        with pytest.raises(TimedOut) as caught:
            asyncio.run(call())
    finally:
        silent.close()
    assert "/sendMessage timed out" in str(caught.value)
    assert TOKEN not in str(caught.value) and "/bot***/" in str(caught.value)
