"""Telegram objects <-> engine `Event`/`Reply`: the only module that knows both.

`to_event` turns a python-telegram-bot `Update` into an `Event`; `send_reply` performs one
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
    Update,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest

from ..events import MEDIA_KINDS, Contact, Event, FileRef, Reply

__all__ = ["to_event", "send_reply", "split_text", "inline_markup", "MAX_TEXT", "MAX_CAPTION",
           "MAX_CALLBACK_DATA", "PAYMENT_FIELDS"]

log = logging.getLogger(__name__)

MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH          # 4096
MAX_CAPTION = MessageLimit.CAPTION_LENGTH        # 1024
MAX_CALLBACK_DATA = 64                           # bytes; PTB does not check it
PAYMENT_FIELDS = ("currency", "total_amount", "invoice_payload", "telegram_payment_charge_id",
                  "provider_payment_charge_id", "shipping_option_id")


# -- Update -> Event ---------------------------------------------------------------------
def to_event(update: Update) -> Event | None:
    """The engine event for an update; None for updates no user is behind, and for a
    command addressed to another bot."""
    if update.callback_query:
        return _callback(update)
    if update.pre_checkout_query:
        return _pre_checkout(update)
    if update.chat_member or update.my_chat_member:
        return _member(update, update.chat_member or update.my_chat_member)
    message = update.message
    if message is None or message.from_user is None:
        return None
    return _message_event(update, message)


def _base(update: Update, chat_id: int, user, chat=None) -> dict:
    grouped = chat is not None and chat.type in ("group", "supergroup")
    return dict(chat_id=chat_id, user_id=user.id, language=user.language_code,
                username=user.username, first_name=user.first_name, last_name=user.last_name,
                update_id=update.update_id, chat_type=chat.type if chat else "private",
                chat_is_forum=bool(chat.is_forum) if grouped else None)   # Telegram omits false


def _member(update: Update, changed) -> Event | None:
    """A chat_member / my_chat_member update of a group (a private chat's is the user
    blocking or unblocking the bot: nothing a dialog answers)."""
    if changed.chat.type not in ("group", "supergroup") or changed.from_user is None:
        return None
    user = changed.new_chat_member.user
    member = {**_who(user), "old": _status(changed.old_chat_member),
              "new": _status(changed.new_chat_member), "me": update.my_chat_member is not None}
    return Event(kind="member", member=member, **_base(update, changed.chat.id,
                                                        changed.from_user, changed.chat))


def _status(member) -> str:
    """A restricted (muted) member who leaves stays "restricted" with is_member false:
    reported as "left", so the desk sees the departure and revokes the role."""
    if member.status == "restricted" and not getattr(member, "is_member", True):
        return "left"
    return member.status


_TOPIC_SERVICE = (("forum_topic_created", "created"), ("forum_topic_edited", "edited"),
                  ("forum_topic_closed", "closed"), ("forum_topic_reopened", "reopened"))


def _thread(m: Message) -> dict:
    """Where in a group the message sits: its forum topic (Telegram sets message_thread_id on
    replies too, so only a topic message's counts) and the message it replies to."""
    reply = m.reply_to_message
    topic = None
    for attr, op in _TOPIC_SERVICE:
        service = getattr(m, attr, None)
        if service is not None:
            topic = {"op": op, "name": getattr(service, "name", None) or ""}
    thread_id = m.message_thread_id if m.is_topic_message else None
    # in a topic Telegram makes every message a reply to the topic's creation: not a reply
    replied = reply.message_id if reply and reply.message_id != thread_id else None
    return dict(thread_id=thread_id, reply_to_message_id=replied, topic=topic,
                reply_to_user=_who(reply.from_user) if replied and reply.from_user else None)


def _who(user) -> dict:
    """A person as plain data (whom a staff command answering their message names)."""
    return {"id": user.id, "first_name": user.first_name or "", "last_name": user.last_name or "",
            "username": user.username or "", "is_bot": bool(user.is_bot)}


def _callback(update: Update) -> Event:
    q = update.callback_query
    message = q.message
    chat_id = message.chat.id if message else q.from_user.id
    thread = _thread(message) if isinstance(message, Message) else {}
    thread.pop("topic", None)
    thread.pop("reply_to_user", None)
    return Event(kind="button", data=q.data or "", callback_id=q.id,
                 message_id=message.message_id if message else None,
                 **thread, **_base(update, chat_id, q.from_user, message.chat if message else None))


def _pre_checkout(update: Update) -> Event:
    q = update.pre_checkout_query
    payment = {"id": q.id, "currency": q.currency, "total_amount": q.total_amount,
               "invoice_payload": q.invoice_payload}
    return Event(kind="pre_checkout", payment=payment, **_base(update, q.from_user.id, q.from_user))


def _message_event(update: Update, m: Message) -> Event:
    base = {**_base(update, m.chat.id, m.from_user, m.chat), **_thread(m),
            "message_id": m.message_id, "migrate_to_chat_id": m.migrate_to_chat_id}
    if m.successful_payment:
        sp = m.successful_payment
        return Event(kind="payment", payment={f: getattr(sp, f, None) for f in PAYMENT_FIELDS}, **base)
    if m.contact:
        c = m.contact
        return Event(kind="contact", contact=Contact(c.phone_number, c.user_id, c.first_name or "",
                                                     c.last_name or ""), **base)
    files = _files(m)
    if files:
        return Event(kind="file", files=files, text=m.caption or "",
                     media_group_id=m.media_group_id, **base)
    if m.text is not None:
        kind = "command" if m.text.startswith("/") else "text"
        if kind == "command" and _for_another_bot(m):
            return None
        return Event(kind=kind, text=m.text, **base)
    return Event(kind="other", content=next((c for c in _PERSON_CONTENT if getattr(m, c, None)), None),
                 **base)


# what a person sends that the bot cannot take as text or a file (a service message has none)
_PERSON_CONTENT = ("location", "venue", "poll", "dice", "game", "story")


def _for_another_bot(m: Message) -> bool:
    """`/cmd@OtherBot`: a command addressed to another bot of the chat is not ours to answer
    (`/cmd@OurBot` and a bare `/cmd` are); Telegram's usernames ignore letter case."""
    _, at, name = m.text.split(maxsplit=1)[0].partition("@")
    if not at:
        return False
    try:
        me = m.get_bot().username
    except RuntimeError:            # a Bot never initialized (no getMe): cannot tell, keep it
        return False
    return name.casefold() != (me or "").casefold()


def _files(m: Message) -> tuple[FileRef, ...]:
    if m.photo:
        best = m.photo[-1]                          # Telegram lists sizes smallest first
        return (FileRef(best.file_id, "photo", "", "image/jpeg", best.file_size or 0),)
    for kind in MEDIA_KINDS:        # before document: a GIF comes as animation AND document
        media = getattr(m, kind, None)
        if media is not None:
            return (FileRef(media.file_id, kind, getattr(media, "file_name", None) or "",
                            getattr(media, "mime_type", None) or "", media.file_size or 0),)
    if m.document:
        d = m.document
        return (FileRef(d.file_id, "document", d.file_name or "", d.mime_type or "", d.file_size or 0),)
    return ()


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
    keyboard, inline = _keyboard_markup(reply), inline_markup(reply)
    message = None
    for i, part in enumerate(parts):
        first, last = i == 0, i == len(parts) - 1
        markup = keyboard if first and keyboard else (inline if last else None)
        message = await bot.send_message(reply.chat_id, part, parse_mode=ParseMode.HTML,
                                         reply_markup=markup, **_where(reply, first))
    if keyboard and inline and len(parts) == 1:
        # one reply_markup per message: the reply keyboard (or its removal) went with the
        # text, the inline buttons are attached to the same message right after
        await bot.edit_message_reply_markup(reply.chat_id, message.message_id, reply_markup=inline)
    return message.message_id


async def _edit(bot: Bot, reply: Reply) -> int | None:
    """Edit in place; None when the message is gone (then the caller sends a new one)."""
    try:
        await bot.edit_message_text(reply.text[:MAX_TEXT], reply.chat_id, reply.edit_message_id,
                                    parse_mode=ParseMode.HTML, reply_markup=inline_markup(reply))
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
    if not button.data or len(button.data.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"button {button.text!r} in chat {reply.chat_id}: callback data "
                         f"{button.data!r} must be 1..{MAX_CALLBACK_DATA} bytes")
    return InlineKeyboardButton(button.text, callback_data=button.data)


def _keyboard_markup(reply: Reply):
    if reply.keyboard:
        rows = [[KeyboardButton(b.text, request_contact=b.request_contact or None) for b in row]
                for row in reply.keyboard]
        one_time = any(b.request_contact for row in reply.keyboard for b in row)
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=one_time)
    if reply.remove_keyboard:
        return ReplyKeyboardRemove()
    return None
