"""A Telegram update's raw JSON (a dict) -> the engine `Event`, without PTB's object layer.

`Update.de_json` built a dozen objects (datetimes, entities, users) per update only for us
to read a few fields back; on the hot path (every update the inbox hands the dispatcher)
that was the largest cost of ours in the profile. This reads the dict directly and gives
exactly the `Event` the PTB-based conversion gave (tests/engine/telegram/test_incoming.py
feeds both the same updates).

Nothing from outside is trusted: every number must be an integer within 64 bits (a file
size not negative), every text a string, every object a dict. A malformed piece (a missing
required field, a wrong type) raises `BadUpdate` naming the update and the field, as PTB's
constructors raised on a missing field: the dispatcher logs it as a transport failure.
"""
from __future__ import annotations

from typing import Any

from ..events import MEDIA_KINDS, Contact, Event, FileRef

__all__ = ["to_event", "BadUpdate", "PAYMENT_FIELDS"]

PAYMENT_FIELDS = ("currency", "total_amount", "invoice_payload", "telegram_payment_charge_id",
                  "provider_payment_charge_id", "shipping_option_id")
_INT_LIMIT = 2 ** 63              # ids go into BIGINT columns; Telegram's fit in 52 bits

_GROUPS = ("group", "supergroup")
_TOPIC_SERVICE = (("forum_topic_created", "created"), ("forum_topic_edited", "edited"),
                  ("forum_topic_closed", "closed"), ("forum_topic_reopened", "reopened"))
# the service messages whose object carries a name (closed/reopened have none)
_NAMED_TOPIC = ("forum_topic_created", "forum_topic_edited")
# what a person sends that the bot cannot take as text or a file (a service message has none)
_PERSON_CONTENT = ("location", "venue", "poll", "dice", "game", "story")
# which media objects have a file name / a MIME type in the Bot API (others: "")
_NAMED_MEDIA = ("audio", "video", "animation")
_TYPED_MEDIA = ("voice", "audio", "video", "animation")


class BadUpdate(ValueError):
    """An update whose JSON lacks a required field or has one of the wrong type."""


class _Reader:
    """Typed, bounded access to one update's JSON; errors name the update and the field."""

    def __init__(self, update: Any):
        if not isinstance(update, dict):
            raise BadUpdate(f"telegram update: expected an object, got {type(update).__name__}")
        self.update = update
        self.where = f"telegram update {update.get('update_id')!r}"

    def fail(self, path: str, what: str, value: Any) -> BadUpdate:
        return BadUpdate(f"{self.where}: {path}: expected {what}, got {value!r:.80}")

    def obj(self, parent: dict, key: str, path: str, *, required: bool = False) -> dict | None:
        value = parent.get(key)
        if value is None:
            if required:
                raise self.fail(f"{path}.{key}", "an object", value)
            return None
        if not isinstance(value, dict):
            raise self.fail(f"{path}.{key}", "an object", value)
        return value

    def int(self, parent: dict, key: str, path: str, *, required: bool = False,
            low: int = -_INT_LIMIT) -> int | None:
        value = parent.get(key)
        if value is None and not required:
            return None
        if type(value) is not int or not low <= value < _INT_LIMIT:
            raise self.fail(f"{path}.{key}", f"an integer in [{low}, 2**63)", value)
        return value

    def str(self, parent: dict, key: str, path: str, *, required: bool = False) -> str | None:
        value = parent.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", "a string", value)
        return value

    def bool(self, parent: dict, key: str) -> bool:
        return bool(parent.get(key))

    def user(self, parent: dict, key: str, path: str, *, required: bool = False) -> dict | None:
        user = self.obj(parent, key, path, required=required)
        if user is not None:
            path = f"{path}.{key}"
            self.int(user, "id", path, required=True)
            self.str(user, "first_name", path, required=True)
            for name in ("last_name", "username", "language_code"):
                self.str(user, name, path)
            if "is_bot" not in user:
                raise self.fail(f"{path}.is_bot", "a boolean", None)
        return user

    def chat(self, parent: dict, path: str) -> dict:
        chat = self.obj(parent, "chat", path, required=True)
        self.int(chat, "id", f"{path}.chat", required=True)
        self.str(chat, "type", f"{path}.chat", required=True)
        return chat

    def message(self, parent: dict, key: str, path: str) -> dict | None:
        """A message object with the fields every message has checked."""
        m = self.obj(parent, key, path)
        if m is not None:
            path = f"{path}.{key}"
            self.int(m, "message_id", path, required=True)
            self.int(m, "date", path, required=True)
            self.chat(m, path)
            self.user(m, "from", path)
            self.int(m, "message_thread_id", path)
        return m


def to_event(update: Any, bot_username: str | None = None) -> Event | None:
    """The engine event for an update's JSON; None for updates no user is behind (an edit,
    a channel post, a service message without a sender), and for a command addressed to
    another bot (`bot_username`: ours; None when unknown, then every command is ours)."""
    r = _Reader(update)
    update_id = r.int(update, "update_id", "update", required=True)
    query = r.obj(update, "callback_query", "update")
    if query is not None:
        return _callback(r, update_id, query)
    query = r.obj(update, "pre_checkout_query", "update")
    if query is not None:
        return _pre_checkout(r, update_id, query)
    changed = r.obj(update, "chat_member", "update")
    mine = r.obj(update, "my_chat_member", "update")
    if changed is not None or mine is not None:
        key = "chat_member" if changed is not None else "my_chat_member"
        return _member(r, update_id, changed if changed is not None else mine, key, mine is not None)
    message = r.message(update, "message", "update")
    if message is None or message.get("from") is None:
        return None
    return _message_event(r, update_id, message, bot_username)


def _base(update_id: int, chat_id: int, user: dict, chat: dict | None = None) -> dict:
    chat_type = chat["type"] if chat is not None else "private"
    return dict(chat_id=chat_id, user_id=user["id"], language=user.get("language_code"),
                username=user.get("username"), first_name=user["first_name"],
                last_name=user.get("last_name"), update_id=update_id, chat_type=chat_type,
                chat_is_forum=bool(chat.get("is_forum")) if chat_type in _GROUPS else None)


def _member(r: _Reader, update_id: int, changed: dict, key: str, me: bool) -> Event | None:
    """A chat_member / my_chat_member update of a group (a private chat's is the user
    blocking or unblocking the bot: nothing a dialog answers)."""
    path = f"update.{key}"
    chat = r.chat(changed, path)
    by = r.user(changed, "from", path, required=True)
    r.int(changed, "date", path, required=True)
    old = r.obj(changed, "old_chat_member", path, required=True)
    new = r.obj(changed, "new_chat_member", path, required=True)
    for field, status in (("old_chat_member", old), ("new_chat_member", new)):
        r.str(status, "status", f"{path}.{field}", required=True)
        r.user(status, "user", f"{path}.{field}", required=True)
    if chat["type"] not in _GROUPS:
        return None
    member = {**_who(new["user"]), "old": _status(old), "new": _status(new), "me": me}
    return Event(kind="member", member=member, **_base(update_id, chat["id"], by, chat))


def _status(member: dict) -> str:
    """A restricted (muted) member who leaves stays "restricted" with is_member false:
    reported as "left", so the desk sees the departure and revokes the role."""
    if member["status"] == "restricted" and member.get("is_member", True) is False:
        return "left"
    return member["status"]


def _thread(r: _Reader, m: dict, path: str) -> dict:
    """Where in a group the message sits: its forum topic (Telegram sets message_thread_id on
    replies too, so only a topic message's counts) and the message it replies to."""
    reply = r.message(m, "reply_to_message", path)
    topic = None
    for key, op in _TOPIC_SERVICE:
        service = r.obj(m, key, path)
        if service is not None:
            name = r.str(service, "name", f"{path}.{key}") if key in _NAMED_TOPIC else None
            topic = {"op": op, "name": name or ""}
    thread_id = m.get("message_thread_id") if m.get("is_topic_message") else None
    # in a topic Telegram makes every message a reply to the topic's creation: not a reply
    replied = reply["message_id"] if reply is not None and reply["message_id"] != thread_id else None
    sender = reply.get("from") if reply is not None else None
    return dict(thread_id=thread_id, reply_to_message_id=replied, topic=topic,
                reply_to_user=_who(sender) if replied and sender is not None else None)


def _who(user: dict) -> dict:
    """A person as plain data (whom a staff command answering their message names)."""
    return {"id": user["id"], "first_name": user.get("first_name") or "",
            "last_name": user.get("last_name") or "", "username": user.get("username") or "",
            "is_bot": bool(user.get("is_bot"))}


def _callback(r: _Reader, update_id: int, q: dict) -> Event:
    path = "update.callback_query"
    query_id = r.str(q, "id", path, required=True)
    user = r.user(q, "from", path, required=True)
    r.str(q, "chat_instance", path, required=True)
    data = r.str(q, "data", path)
    message = r.message(q, "message", path)
    thread = _thread(r, message, f"{path}.message") if message is not None else {}
    thread.pop("topic", None)
    thread.pop("reply_to_user", None)
    chat = message["chat"] if message is not None else None
    return Event(kind="button", data=data or "", callback_id=query_id,
                 message_id=message["message_id"] if message is not None else None,
                 **thread, **_base(update_id, chat["id"] if chat else user["id"], user, chat))


def _pre_checkout(r: _Reader, update_id: int, q: dict) -> Event:
    path = "update.pre_checkout_query"
    user = r.user(q, "from", path, required=True)
    payment = {"id": r.str(q, "id", path, required=True),
               "currency": r.str(q, "currency", path, required=True),
               "total_amount": r.int(q, "total_amount", path, required=True),
               "invoice_payload": r.str(q, "invoice_payload", path, required=True)}
    return Event(kind="pre_checkout", payment=payment, **_base(update_id, user["id"], user))


def _message_event(r: _Reader, update_id: int, m: dict, bot_username: str | None) -> Event | None:
    path = "update.message"
    base = {**_base(update_id, m["chat"]["id"], m["from"], m["chat"]), **_thread(r, m, path),
            "message_id": m["message_id"],
            "migrate_to_chat_id": r.int(m, "migrate_to_chat_id", path)}
    paid = r.obj(m, "successful_payment", path)
    if paid is not None:
        return Event(kind="payment", payment=_paid_fields(r, paid, f"{path}.successful_payment"), **base)
    contact = r.obj(m, "contact", path)
    if contact is not None:
        where = f"{path}.contact"
        return Event(kind="contact", contact=Contact(
            r.str(contact, "phone_number", where, required=True), r.int(contact, "user_id", where),
            r.str(contact, "first_name", where, required=True) or "",
            r.str(contact, "last_name", where) or ""), **base)
    files = _files(r, m, path)
    if files:
        caption = with_links(r.str(m, "caption", path) or "", _links(r, m, "caption_entities", path))
        return Event(kind="file", files=files, text=caption,
                     media_group_id=r.str(m, "media_group_id", path), **base)
    text = r.str(m, "text", path)
    if text is not None:
        kind = "command" if text.startswith("/") else "text"
        if kind == "command" and _for_another_bot(text, bot_username):
            return None
        return Event(kind=kind, text=with_links(text, _links(r, m, "entities", path)), **base)
    content = next((c for c in _PERSON_CONTENT if r.obj(m, c, path) is not None), None)
    return Event(kind="other", content=content, **base)


def _paid_fields(r: _Reader, paid: dict, path: str) -> dict:
    required = PAYMENT_FIELDS[:5]
    return {f: (r.int(paid, f, path, required=True) if f == "total_amount"
                else r.str(paid, f, path, required=f in required)) for f in PAYMENT_FIELDS}


def _links(r: _Reader, m: dict, key: str, path: str) -> list[tuple[int, int, str]]:
    """The text links among `m[key]` (entities or caption_entities): (offset, length, url)."""
    entities = m.get(key)
    if entities is None:
        return []
    if not isinstance(entities, list):
        raise r.fail(f"{path}.{key}", "a list", entities)
    links = []
    for i, e in enumerate(entities):
        where = f"{path}.{key}[{i}]"
        if not isinstance(e, dict):
            raise r.fail(where, "an object", e)
        offset = r.int(e, "offset", where, required=True, low=0)
        length = r.int(e, "length", where, required=True, low=0)
        url = r.str(e, "url", where) if r.str(e, "type", where, required=True) == "text_link" else None
        if url:
            links.append((offset, length, url))
    return links


def with_links(text: str, links: list[tuple[int, int, str]]) -> str:
    """The text with the URL of each text link after its words ("обновление (https://…)"):
    the engine keeps plain text, and a link made with Ctrl+K would otherwise lose what it
    points to. Offsets count UTF-16 code units, as Telegram does."""
    if not links:
        return text
    units, parts, at = text.encode("utf-16-le"), [], 0
    for offset, length, url in sorted(links):
        start, end = offset * 2, (offset + length) * 2
        if start < at or end > len(units):
            continue                  # overlapping or out of the text: keep the words only
        parts.append(units[at:end].decode("utf-16-le", "replace"))
        if units[start:end].decode("utf-16-le", "replace").strip() != url:
            parts.append(f" ({url})")
        at = end
    parts.append(units[at:].decode("utf-16-le", "replace"))
    return "".join(parts)


def _for_another_bot(text: str, me: str | None) -> bool:
    """`/cmd@OtherBot`: a command addressed to another bot of the chat is not ours to answer
    (`/cmd@OurBot` and a bare `/cmd` are); Telegram's usernames ignore letter case."""
    _, at, name = text.split(maxsplit=1)[0].partition("@")
    if not at or me is None:         # no getMe yet: cannot tell, keep it
        return False
    return name.casefold() != me.casefold()


def _files(r: _Reader, m: dict, path: str) -> tuple[FileRef, ...]:
    photo = m.get("photo")
    if photo is not None and not isinstance(photo, list):
        raise r.fail(f"{path}.photo", "a list", photo)
    if photo:
        best = photo[-1]                            # Telegram lists sizes smallest first
        if not isinstance(best, dict):
            raise r.fail(f"{path}.photo[-1]", "an object", best)
        return (_file(r, best, "photo", f"{path}.photo[-1]", "", "image/jpeg"),)
    for kind in MEDIA_KINDS:        # before document: a GIF comes as animation AND document
        media = r.obj(m, kind, path)
        if media is not None:
            where = f"{path}.{kind}"
            name = r.str(media, "file_name", where) if kind in _NAMED_MEDIA else None
            mime = r.str(media, "mime_type", where) if kind in _TYPED_MEDIA else None
            return (_file(r, media, kind, where, name or "", mime or ""),)
    document = r.obj(m, "document", path)
    if document is not None:
        where = f"{path}.document"
        return (_file(r, document, "document", where, r.str(document, "file_name", where) or "",
                      r.str(document, "mime_type", where) or ""),)
    return ()


def _file(r: _Reader, media: dict, kind: str, path: str, name: str, mime: str) -> FileRef:
    file_id = r.str(media, "file_id", path, required=True)
    r.str(media, "file_unique_id", path, required=True)
    return FileRef(file_id, kind, name, mime, r.int(media, "file_size", path, low=0) or 0)
