"""The baseline users would pick instead of python-telegram-bot: the smallest aiogram 3 bot
that answers bench/e2e.py's update mix, exactly as its PTB echo bot does (texts echoed, a
contact acknowledged, a button press answered with answerCallbackQuery and a message, every
message with an inline button), polling the fake Bot API at API_URL.

    python bench/aiogram_echo.py API_URL TOKEN [--sequential]

aiogram's default mode handles each update as its own task (`handle_as_tasks=True`);
`--sequential` awaits one update before the next. bench/e2e.py runs this file, possibly with
another interpreter (`--aiogram-python`), so it imports nothing of the project.
"""
from __future__ import annotations

import argparse
import asyncio

BUTTON = "▶"          # bench/e2e.py's ECHO_BUTTON: the walks press it


async def main(url: str, token: str, sequential: bool) -> None:
    from aiogram import Bot, Dispatcher, F
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=BUTTON, callback_data="next")]])
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text, reply_markup=markup)

    @dp.message(F.contact)
    async def contact(message: Message) -> None:
        await message.answer("contact", reply_markup=markup)

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        await bot.send_message(query.message.chat.id, "pressed", reply_markup=markup)

    # polling_timeout 1: as the PTB echo bot and ours (BOT__POLL_TIMEOUT) in the same runs;
    # SIGTERM stops it (aiogram's own signal handling)
    await dp.start_polling(bot, polling_timeout=1, handle_as_tasks=not sequential)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("url")
    p.add_argument("token")
    p.add_argument("--sequential", action="store_true")
    args = p.parse_args()
    asyncio.run(main(args.url, args.token, args.sequential))
