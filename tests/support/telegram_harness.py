"""Runs our Telegram transport (engine.telegram) against the fake Bot API, in a thread with
its own event loop, so a test can act as users with the fake's blocking driver calls."""
from __future__ import annotations

import asyncio
import contextlib
import threading

from engine.telegram.bot import BotConfig, TelegramBot
from engine.telegram.sender import Limits
from tests.support.ports import free_port
from tests.support.privacy import AGREE

__all__ = ["running_bot", "free_port", "MENU_SAMPLE", "walk_sample"]

MENU_SAMPLE = "📞 Заказать обратный звонок"


@contextlib.contextmanager
def running_bot(engine, api, *, on_error=None, **config):
    """Start a TelegramBot for `engine` against `api`; stop it cleanly on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="telegram-bot", daemon=True)
    thread.start()
    options = dict(token=api.token, api_url=api.url, poll_timeout=1, timeout_check_seconds=3600,
                   limits=Limits())
    options.update(config)

    async def make():
        return TelegramBot(engine, BotConfig(**options), on_error=on_error)

    bot = asyncio.run_coroutine_threadsafe(make(), loop).result(5)
    done = asyncio.run_coroutine_threadsafe(bot.run(), loop)
    try:
        asyncio.run_coroutine_threadsafe(bot.started.wait(), loop).result(10)
        bot.loop = loop
        yield bot
    finally:
        loop.call_soon_threadsafe(bot.stop)
        try:
            done.result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


def call(bot, coro, timeout: float = 10):
    """Run a coroutine on the bot's loop from the test thread."""
    return asyncio.run_coroutine_threadsafe(coro, bot.loop).result(timeout)


def open_sample(user) -> None:
    """From the menu into the sample flow: the consent comes first (152-ФЗ), then the name
    question."""
    user.press(MENU_SAMPLE)
    user.wait_for(contains="Согласие на обработку персональных данных")
    user.press(AGREE["ru"])
    user.wait_for(contains="Как к вам обращаться")


def walk_sample(user, name: str = "Иван") -> None:
    """The shipped menu -> sample flow, step by step, asserting each answer."""
    user.send("/start")
    user.wait_for(contains="Главное меню")
    open_sample(user)
    user.send(name)
    asked = user.wait_for(contains="номер телефона")
    assert any(b.get("request_contact") for b in asked.keyboard), asked.describe()
    user.press(asked.keyboard[0]["text"])                  # shares the user's own contact
    times = user.wait_for(lambda m: "Утром" in str(m.button_texts))
    assert "Когда удобно" in times.plain_text
    user.press("🌅 Утром")
    user.wait_for(contains="Всё верно")
    user.press("✅ Да")
    user.wait_for(contains=f"Спасибо, {name}")
    user.wait_for(contains="Главное меню")     # how fast two replies follow: bench/e2e.py
