"""Engine `Reply` -> the Bot API (an update's way in is engine/telegram/incoming.py).

`send_reply` performs one
`Reply` with the Bot API (send, edit in place, keyboards, photo, document, invoice,
pre-checkout answer, a copy, a forum topic operation) and returns the id of the message the
user sees (for a topic operation: the topic's message_thread_id). Texts longer than
Telegram's 4096 characters are split on line boundaries, buttons go on the last part.
A reply with `thread_id` goes into that forum topic, with `reply_to_message_id` it answers
that message (sent anyway when the message is gone); `thread_key` is resolved before this
(engine/telegram/threads.py).
"""
from __future__ import annotations

import logging
import warnings

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest
from telegram.warnings import PTBUserWarning

from ..events import Reply

__all__ = ["send_reply", "split_text", "inline_markup", "MAX_TEXT", "MAX_CAPTION",
           "MAX_CALLBACK_DATA"]

log = logging.getLogger(__name__)
# The hot sends go through do_api_request on purpose (`_call`: no Message parsed back).
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.(sendMessage|editMessageText|"
                        r"editMessageReplyMarkup)'", category=PTBUserWarning)

MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH          # 4096
MAX_CAPTION = MessageLimit.CAPTION_LENGTH        # 1024
MAX_CALLBACK_DATA = 64                           # bytes; PTB does not check it


# -- Reply -> Bot API --------------------------------------------------------------------
async def send_reply(bot: Bot, reply: Reply, *, provider_token: str = "") -> int | None:
    """Perform `reply`; the message id the user sees (None for answers that are no message)."""
    if reply.pre_checkout:
        p = reply.pre_checkout
        await bot.answer_pre_checkout_query(p["id"], ok=bool(p.get("ok")),
                                            error_message=p.get("error") or None)
        return None
    if reply.topic is not None:
        return await _topic(bot, reply)
    if reply.copy_from is not None:
        return await _copy(bot, reply)
    if reply.invoice:
        return (await _invoice(bot, reply, provider_token)).message_id
    if reply.photo is not None or reply.document is not None:
        return await _media(bot, reply)
    if reply.edit_message_id and not (reply.keyboard or reply.remove_keyboard):
        edited = await _edit(bot, reply)
        if edited is not None:
            return edited
    return await _text(bot, reply)


async def _text(bot: Bot, reply: Reply) -> int:
    parts = split_text(reply.text)
    keyboard, inline = _keyboard_json(reply), _inline_json(reply)
    message_id = 0
    for i, part in enumerate(parts):
        first, last = i == 0, i == len(parts) - 1
        markup = keyboard if first and keyboard else (inline if last else None)
        sent = await _call(bot, "sendMessage", chat_id=reply.chat_id, text=part,
                           parse_mode=ParseMode.HTML, reply_markup=markup,
                           **_where_json(reply, first))
        message_id = _message_id(sent, reply, "sendMessage")
    if keyboard and inline and len(parts) == 1:
        # one reply_markup per message: the reply keyboard (or its removal) went with the
        # text, the inline buttons are attached to the same message right after
        await _call(bot, "editMessageReplyMarkup", chat_id=reply.chat_id, message_id=message_id,
                    reply_markup=inline)
    return message_id


async def _edit(bot: Bot, reply: Reply) -> int | None:
    """Edit in place; None when the message is gone (then the caller sends a new one)."""
    try:
        await _call(bot, "editMessageText", chat_id=reply.chat_id, message_id=reply.edit_message_id,
                    text=reply.text[:MAX_TEXT], parse_mode=ParseMode.HTML,
                    reply_markup=_inline_json(reply))
    except BadRequest as e:
        text = str(e).lower()
        if "not modified" in text:
            return reply.edit_message_id
        if "not found" in text or "can't be edited" in text:
            log.info("message %s in chat %s cannot be edited (%s): sending a new one",
                     reply.edit_message_id, reply.chat_id, e)
            return None
        raise
    return reply.edit_message_id


async def _call(bot: Bot, method: str, **params):
    """One Bot API call with a JSON body, its raw JSON result: PTB's `Message` built from
    every answer cost more CPU than the rest of a send, where only message_id is read. The
    errors are PTB's own (BadRequest, RetryAfter, Forbidden, ChatMigrated...): the sender's
    mapping of them holds. None values are left out, as PTB's methods leave them."""
    return await bot.do_api_request(method, api_kwargs={k: v for k, v in params.items()
                                                        if v is not None})


def _message_id(sent, reply: Reply, method: str) -> int:
    """The id of a sent message, checked: Telegram's answer is from outside."""
    message_id = sent.get("message_id") if isinstance(sent, dict) else None
    if type(message_id) is not int or not 0 < message_id < 2 ** 63:
        raise TypeError(f"{method} to chat {reply.chat_id} answered no message_id: {sent!r:.200}")
    return message_id


async def _media(bot: Bot, reply: Reply) -> int:
    caption = reply.text if len(reply.text) <= MAX_CAPTION else None
    markup = inline_markup(reply) if caption is not None else None
    markup = markup or (_keyboard_markup(reply) if caption is not None else None)
    if reply.photo is not None:
        message = await bot.send_photo(reply.chat_id, reply.photo, caption=caption or None,
                                       parse_mode=ParseMode.HTML, reply_markup=markup,
                                       **_where(reply))
    else:
        message = await bot.send_document(reply.chat_id, reply.document, caption=caption or None,
                                          filename=reply.filename or None,
                                          parse_mode=ParseMode.HTML, reply_markup=markup,
                                          **_where(reply))
    if caption is None and reply.text:
        # a caption may hold 1024 characters only: the text follows as its own message
        return await _text(bot, Reply(reply.chat_id, reply.text, buttons=reply.buttons,
                                      keyboard=reply.keyboard, remove_keyboard=reply.remove_keyboard,
                                      thread_id=reply.thread_id))
    return message.message_id


def _where_json(reply: Reply, first: bool = True) -> dict:
    """`_where` as plain JSON (for `_call`)."""
    where = {"message_thread_id": reply.thread_id}
    if reply.reply_to_message_id and first:
        where["reply_parameters"] = {"message_id": reply.reply_to_message_id,
                                     "allow_sending_without_reply": True}
    return where


def _where(reply: Reply, first: bool = True) -> dict:
    """The forum topic and the replied message of a send (the reply only on a first part)."""
    where = {"message_thread_id": reply.thread_id}
    if reply.reply_to_message_id and first:
        where["reply_parameters"] = ReplyParameters(reply.reply_to_message_id,
                                                    allow_sending_without_reply=True)
    return where


async def _copy(bot: Bot, reply: Reply) -> int:
    """copyMessage: a relay (a staff message to a client, a client's into a topic); the
    text, when set, replaces the caption."""
    source = reply.copy_from
    copied = await bot.copy_message(reply.chat_id, source["chat_id"], source["message_id"],
                                    caption=reply.text or None,
                                    parse_mode=ParseMode.HTML if reply.text else None,
                                    reply_markup=inline_markup(reply), **_where(reply))
    return copied.message_id


_TOPIC_OPS = {"close": "close_forum_topic", "reopen": "reopen_forum_topic",
              "delete": "delete_forum_topic"}


async def _topic(bot: Bot, reply: Reply) -> int:
    """A forum topic operation; the topic's message_thread_id. An edit, close or reopen that
    changes nothing ("TOPIC_NOT_MODIFIED") is done already."""
    topic, op = reply.topic, reply.topic.get("op")
    if op == "create":
        created = await bot.create_forum_topic(reply.chat_id, topic["name"],
                                               icon_color=topic.get("icon_color"),
                                               icon_custom_emoji_id=topic.get("icon_custom_emoji_id"))
        return created.message_thread_id
    if reply.thread_id is None or (op != "edit" and op not in _TOPIC_OPS):
        raise ValueError(f"topic operation {topic!r} in chat {reply.chat_id} names no topic")
    try:
        if op == "edit":
            await bot.edit_forum_topic(reply.chat_id, reply.thread_id, name=topic.get("name"),
                                       icon_custom_emoji_id=topic.get("icon_custom_emoji_id"))
        else:
            await getattr(bot, _TOPIC_OPS[op])(reply.chat_id, reply.thread_id)
    except BadRequest as e:
        if "not_modified" not in str(e).lower() and "not modified" not in str(e).lower():
            raise
    return reply.thread_id


async def _invoice(bot: Bot, reply: Reply, provider_token: str) -> Message:
    inv = reply.invoice
    prices = [LabeledPrice(p["label"], int(p["amount"])) for p in inv["prices"]]
    return await bot.send_invoice(reply.chat_id, inv["title"], inv["description"], inv["payload"],
                                  inv.get("currency", "RUB"), prices,
                                  provider_token=inv.get("provider_token", provider_token) or None,
                                  start_parameter=inv.get("start_parameter"))


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` characters, cut at line ends (inside a line only when one
    line alone is longer than the limit)."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current or not parts:
        parts.append(current)
    return [p.rstrip("\n") or p for p in parts]


def inline_markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[_inline_button(b, reply) for b in row] for row in reply.buttons])


def _inline_button(button, reply: Reply) -> InlineKeyboardButton:
    if button.url:
        return InlineKeyboardButton(button.text, url=button.url)
    _check_data(button, reply)
    return InlineKeyboardButton(button.text, callback_data=button.data)


def _check_data(button, reply: Reply) -> None:
    if not button.data or len(button.data.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"button {button.text!r} in chat {reply.chat_id}: callback data "
                         f"{button.data!r} must be 1..{MAX_CALLBACK_DATA} bytes")


def _inline_json(reply: Reply) -> dict | None:
    """`inline_markup` as plain JSON (for `_call`), the same checks."""
    if not reply.buttons:
        return None
    return {"inline_keyboard": [[_button_json(b, reply) for b in row] for row in reply.buttons]}


def _button_json(button, reply: Reply) -> dict:
    if button.url:
        return {"text": button.text, "url": button.url}
    _check_data(button, reply)
    return {"text": button.text, "callback_data": button.data}


def _keyboard_json(reply: Reply) -> dict | None:
    """`_keyboard_markup` as plain JSON (for `_call`)."""
    markup = _keyboard_markup(reply)
    return markup.to_dict() if markup is not None else None


def _keyboard_markup(reply: Reply):
    if reply.keyboard:
        rows = [[KeyboardButton(b.text, request_contact=b.request_contact or None) for b in row]
                for row in reply.keyboard]
        one_time = any(b.request_contact for row in reply.keyboard for b in row)
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=one_time)
    if reply.remove_keyboard:
        return ReplyKeyboardRemove()
    return None
