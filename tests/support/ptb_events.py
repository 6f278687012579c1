"""The PTB-based conversion of an update into an `Event`, as the transport did it before
engine/telegram/incoming.py read the raw JSON itself: PTB's `Update.de_json` object layer,
then the fields read back. Kept only as the reference the fast path must equal
(tests/engine/telegram/test_incoming.py); nothing in the product uses it.
"""
from __future__ import annotations

from telegram import Message, Update

from engine.events import MEDIA_KINDS, Contact, Event, FileRef
from engine.telegram.incoming import PAYMENT_FIELDS, with_links

__all__ = ["ptb_event"]


def ptb_event(raw: dict, bot_username: str | None = None) -> Event | None:
    """`raw` through PTB's objects; `bot_username` stands for the initialized bot's getMe."""
    return to_event(Update.de_json(raw, None), bot_username)


def to_event(update: Update, me: str | None = None) -> Event | None:
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
    return _message_event(update, message, me)


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
    """A restricted member who left (is_member false) is "left", as incoming.py says."""
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


def _message_event(update: Update, m: Message, me: str | None) -> Event:
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
        return Event(kind="file", files=files, text=with_links(m.caption or "", _links(m.caption_entities)),
                     media_group_id=m.media_group_id, **base)
    if m.text is not None:
        kind = "command" if m.text.startswith("/") else "text"
        if kind == "command" and _for_another_bot(m, me):
            return None
        return Event(kind=kind, text=with_links(m.text, _links(m.entities)), **base)
    return Event(kind="other", content=next((c for c in _PERSON_CONTENT if getattr(m, c, None)), None),
                 **base)


# what a person sends that the bot cannot take as text or a file (a service message has none)
_PERSON_CONTENT = ("location", "venue", "poll", "dice", "game", "story")


def _links(entities) -> list[tuple[int, int, str]]:
    return [(e.offset, e.length, e.url) for e in entities or () if e.type == "text_link" and e.url]


def _for_another_bot(m: Message, me: str | None) -> bool:
    """`/cmd@OtherBot`: a command addressed to another bot of the chat is not ours to answer
    (`/cmd@OurBot` and a bare `/cmd` are); Telegram's usernames ignore letter case."""
    _, at, name = m.text.split(maxsplit=1)[0].partition("@")
    if not at:
        return False
    if me is None:                  # a Bot never initialized (no getMe): cannot tell, keep it
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
