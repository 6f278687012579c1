"""Messages both ways between a ticket's client and its thread in the work group (issue 16.2).

Staff -> client: a staff member's message (text, photo, document) in the ticket's thread (its
forum topic; in a plain group a reply to its card or to a message about it) reaches the
author as a message from support, signed with the staff member's name or "Поддержка" only
(settings desk.sign_with_name). One starting with desk.note_marker stays an internal note.
Client -> staff: a message written on the ticket (the card's "Написать по заявке", or a
Telegram reply to any message about it) lands in the thread, the author named.

Each message is one transaction: its ticket event (the card's history), the CRM outbox row
(a comment) and the relayed copy in the outgoing queue, keyed by the source message
(`t<ticket>:m<chat>:<message>`). Applied again after a SIGKILL it is neither lost nor
doubled, and the queue sends a ticket's messages in the order they came. Rights are checked
here, not by what a chat showed: staff by the roster, a client by the ticket's view right.

A reply may be quicker than the bot's own bookkeeping: the client answers a message the
instant it arrives, before the sender wrote down the id Telegram gave it (engine/telegram/
marks.py), and the lookup of "which ticket is this about" finds nothing. `looked_up` puts
such an update off (engine.errors.NotYet) while a message of the bot to that chat is still
unmarked; the transport tries it again shortly, and on the last try it is decided as is.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Callable

import peewee

from engine.errors import NotYet
from engine.events import CAPTIONLESS, MEDIA_KINDS, Event, Reply
from engine.outgoing import PENDING, SENDING, SENT, Outgoing
from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.roles import PermissionDenied, Right
from helpdesk.directory.tables import ERASED_USER_ID, TelegramUser, utcnow
from helpdesk.notices import GROUP, PERSON, queue_reply
from helpdesk.sync import outbox
from helpdesk.tickets import (
    Actor,
    NotTechnician,
    Ticket,
    TicketConflict,
    TicketEvent,
    history,
    ticket_view,
)
from helpdesk.tickets.states import WAITING

from . import staff
from .topics import into_thread, ticket_of_post, ticket_of_thread

__all__ = ["Message", "Conversation", "message_of", "ticket_of_message", "ticket_of_album",
           "ticket_in_group", "marks_pending", "looked_up",
           "MESSAGE", "NOTE", "RELAYED", "NOTED", "CLOSED", "GONE", "ERASED", "IGNORED"]

log = logging.getLogger(__name__)
MESSAGE, NOTE = "message", "note"                       # the ticket events' names
RELAYED, NOTED, CLOSED, GONE, IGNORED = "relayed", "noted", "closed", "gone", "ignored"
ERASED = "erased"           # the author used /forget: nobody is there to hear it
TEXT_MAX = 4096             # Telegram's own bound (the console and the API know none)
_TICKET_KEY = re.compile(r"t([0-9]{1,18}):")
_SEEN_WINDOW = 50           # a replayed message is found among the ticket's latest events


@dataclass(frozen=True)
class Message:
    """What someone wrote: a text (or a file's caption) and at most one file (Telegram
    carries one photo or document a message). `chat_id`/`message_id` name the source."""
    chat_id: int
    message_id: int | None = None
    text: str = ""
    file: dict | None = None        # {"file_id", "kind": photo | document | voice | sticker ..., "name"}
    album: str | None = None        # Telegram's media_group_id: the caption is on one item only

    @property
    def key(self) -> str | None:
        """Unique per source message (None when the transport gave no message id)."""
        return f"m{self.chat_id}:{self.message_id}" if self.message_id is not None else None

    def as_slot(self) -> dict:
        return {"chat_id": self.chat_id, "message_id": self.message_id, "text": self.text,
                "file": self.file, "album": self.album}

    @classmethod
    def from_slot(cls, value) -> Message | None:
        """The slot a flow kept (plain data; None when it is not one of ours)."""
        if not isinstance(value, dict) or not isinstance(value.get("chat_id"), int):
            return None
        file = value.get("file") if isinstance(value.get("file"), dict) else None
        album = value.get("album") if isinstance(value.get("album"), str) else None
        return cls(value["chat_id"], value.get("message_id"), str(value.get("text") or ""), file,
                   album=album[:64] if album else None)


def message_of(event: Event) -> Message | None:
    """The message an event carries (a text, a file or a voice, a sticker...: engine.events
    MEDIA_KINDS); None for anything else (a location, a poll, a service message)."""
    text = (event.text or "").strip()[:TEXT_MAX]
    if event.kind == "file" and event.files:
        f = event.files[0]
        if f.kind in MEDIA_KINDS and event.message_id is None:
            return None             # relayed as a copy of its message: nothing to copy
        return Message(event.chat_id, event.message_id, text,
                       {"file_id": f.file_id, "kind": f.kind, "name": f.name},
                       album=(event.media_group_id or None) and str(event.media_group_id)[:64])
    if event.kind in ("text", "command") and text:   # the handler decides what is a command
        return Message(event.chat_id, event.message_id, text)
    return None


CAPTION_MAX = 1024          # Telegram's bound of a photo's or document's caption


def _fitted(render, msg: Message) -> str:
    """The relayed message rendered so that it is ONE Telegram message: its HTML within
    4,096 characters (a caption within 1,024), the writer's text shortened with "…" when
    the header, the signature and the escaping make it longer. A message in several parts
    would have a reply to its first part lost and be resent whole after a 429 on a later
    part; the whole text stays in the ticket's event and the CRM's comment."""
    limit = CAPTION_MAX if msg.file else TEXT_MAX
    text = render(msg.text)
    if len(text) <= limit:
        return text
    low, high = 0, len(msg.text)           # the longest prefix that fits, by bisection
    while low < high:
        mid = (low + high + 1) // 2
        if len(render(msg.text[:mid].rstrip() + "…")) <= limit:
            low = mid
        else:
            high = mid - 1
    return render(msg.text[:low].rstrip() + "…")


def ticket_of_message(chat_id: int, message_id: int | None) -> int | None:
    """The ticket a message the bot sent to `chat_id` was about: a notification
    (`t<id>:v<version>:<what>:<user>`), a relayed message (`t<id>:m...`), a card (`t<id>:post`)."""
    if message_id is None:
        return None
    row = (Outgoing.select(Outgoing.key)
           .where((Outgoing.chat_id == int(chat_id)) & (Outgoing.message_id == int(message_id))
                  & (Outgoing.status == SENT) & Outgoing.key.startswith("t"))
           .first())
    m = _TICKET_KEY.match(row.key) if row else None
    return int(m.group(1)) if m else None


def ticket_of_album(user_id: int, album: str | None) -> int | None:
    """The ticket an earlier item of this album (Telegram's media_group_id) went to: the
    photos picked at once arrive as several messages, and only the first is the answer to
    the write dialog or carries the reply; the rest follow it to the same ticket."""
    if not album:
        return None
    own = Ticket.select(Ticket.id).where(Ticket.author == int(user_id))   # indexed, unlike `who`
    events = (TicketEvent.select(TicketEvent.ticket, TicketEvent.details)
              .where(TicketEvent.ticket.in_(own) & (TicketEvent.who == str(int(user_id)))
                     & (TicketEvent.what == MESSAGE))
              .order_by(TicketEvent.id.desc()).limit(_SEEN_WINDOW))
    return next((e.ticket_id for e in events if (e.details or {}).get("album") == album), None)


def ticket_in_group(chat_id: int, thread_id: int | None, reply_to: int | None) -> int | None:
    """The ticket a work-group message belongs to: its forum topic, else the card (or a
    message about the ticket) it replies to; None for the group's other chatter."""
    return (ticket_of_thread(chat_id, thread_id) or ticket_of_post(chat_id, reply_to)
            or ticket_of_message(chat_id, reply_to))


def marks_pending(chat_id: int) -> bool:
    """The bot is sending to the chat a message whose id is not written down yet: a row of
    the chat not marked sent (queued, or sent and waiting for its mark) newer than every
    row marked. Rows go out in order per chat, so an older unmarked one is a retry or a
    row given up, never the message somebody just answered."""
    chat = Outgoing.chat_id == int(chat_id)
    last = Outgoing.select(peewee.fn.MAX(Outgoing.id)).where(chat & (Outgoing.status == SENT)).scalar()
    return (Outgoing.select(Outgoing.id)
            .where(chat & Outgoing.status.in_((PENDING, SENDING)) & (Outgoing.id > (last or 0)))
            .exists())


def _marked(chat_id: int, message_id: int) -> bool:
    return (Outgoing.select(Outgoing.id)
            .where((Outgoing.chat_id == int(chat_id)) & (Outgoing.message_id == int(message_id))
                   & (Outgoing.status == SENT)).exists())


def looked_up(event: Event, lookup: Callable[[], int | None]) -> int | None:
    """The ticket `lookup()` finds for the message `event` answers (its topic, the message it
    replies to); NotYet instead while that message may be the bot's own not marked yet and
    the transport may still wait (`event.may_wait`). A reply to a person's message (Telegram
    says who wrote it) is never the bot's: decided at once.

    The reads are ordered for PostgreSQL, where each statement sees the marks committed
    before it: "is anything on its way" is read before "is the message marked", so a mark
    landing between them is seen by the second; and a message marked since the first
    lookup is looked up again."""
    found = lookup()
    ids = _answered_ids(event)
    if found is not None or not ids:
        return found
    on_its_way = marks_pending(event.chat_id)
    unknown = [i for i in ids if not _marked(event.chat_id, i)]
    if not unknown:
        return lookup()
    if not on_its_way:
        return None                   # nothing of the bot's was in flight: not its message
    if event.may_wait:
        raise NotYet(f"chat {event.chat_id}: message {unknown[0]} it answers is not marked yet")
    if event.update_id is not None:   # the transport's last try: it may have been about a ticket
        log.warning("chat %s: update %s answers message %s, still not marked after the "
                    "patience: taken as about no ticket", event.chat_id, event.update_id, unknown[0])
    return None


def _answered_ids(event: Event) -> list[int]:
    ids = [event.thread_id] if event.thread_id is not None else []
    person = event.reply_to_user is not None and not event.reply_to_user.get("is_bot")
    if event.reply_to_message_id is not None and not person:
        ids.append(event.reply_to_message_id)
    return ids


class Conversation:
    """The two directions of a ticket's conversation.

    Args:
        settings: the Settings (desk.*, notify.system.work_group_id, tickets.technicians).
        tickets: the TicketService (rights; its notifier's listeners see every message).
        templates: the engine's current Templates (the texts sent and the CRM's comment).
    """

    def __init__(self, settings, tickets, templates):
        self.settings, self.tickets, self.templates = settings, tickets, templates

    def is_staff(self, user_id: int) -> bool:
        """Desk staff, as `staff.is_staff` (the one owner of the rule) says."""
        return staff.is_staff(user_id)

    # -- staff -> client -------------------------------------------------------------------
    def from_staff(self, staff_id: int, name: str, ticket_id: int, msg: Message) -> str:
        """RELAYED, NOTED (an internal note), CLOSED, GONE or ERASED (nothing relayed: the
        thread is told), IGNORED (nothing to keep); NotTechnician for anybody not staff."""
        if not self.is_staff(staff_id):
            raise NotTechnician(staff_id)
        ticket = Ticket.get_or_none(Ticket.id == int(ticket_id))
        if ticket is None:
            return GONE
        note, text = self._strip_marker(msg.text)
        # an album's caption (the marker) is on one item; its other items follow it
        note = note or (not text and self._album_noted(ticket, msg))
        msg = replace(msg, text=text)
        if not (msg.text or msg.file):
            return IGNORED
        if not note and not ticket.active:
            return CLOSED
        if not note and ticket.author_id == ERASED_USER_ID:
            return ERASED       # the ticket stays for the desk; its author is nobody now
        actor = Actor(f"tech:{staff_id}", "group", int(staff_id), name or str(staff_id))
        with write_tx():
            if not self._seen(ticket, msg):
                self._record(ticket, actor, NOTE if note else MESSAGE, msg)
                if not note:
                    self._to_client(ticket, actor.name, msg)
        return NOTED if note else RELAYED

    def _strip_marker(self, text: str) -> tuple[bool, str]:
        marker = self.settings.desk.note_marker
        if text.startswith(marker):
            return True, text[len(marker):].strip()
        return False, text

    def _to_client(self, ticket: Ticket, name: str, msg: Message) -> None:
        lang = self.templates.lang(directory.language_of(ticket.author_id))
        signature = name if self.settings.desk.sign_with_name else ""
        text = _fitted(lambda t: self.templates.render("desk/from_staff", lang, {
            "ticket": ticket_view(ticket), "signature": signature, "text": t}), msg)
        _queue(Reply(ticket.author_id, text), msg, _key(ticket, msg), PERSON)

    # -- client -> staff -------------------------------------------------------------------
    def from_client(self, user_id: int, ticket_id, msg: Message) -> Ticket:
        """Record and relay into the thread; TicketNotFound / PermissionDenied for a ticket
        the person may not see (a forged id), TicketConflict when it is closed (meanwhile)."""
        ticket = self.tickets.get(user_id, ticket_id)
        if ticket.author_id != int(user_id):
            # staff answer the author: a colleague who may see the card is not the one talking
            raise PermissionDenied(Right.EDIT_OWN_TICKET, who=user_id, counterparty=ticket.counterparty_id,
                                   reason="only the author writes on a ticket")
        if not ticket.active:
            raise TicketConflict(ticket)
        name = directory.display_name(TelegramUser.get_or_none(TelegramUser.id == int(user_id)))
        actor = Actor(str(user_id), "bot", int(user_id), name)
        with write_tx():
            if not self._seen(ticket, msg):
                self._record(ticket, actor, MESSAGE, msg)
                self._to_thread(ticket, name, msg)
                if ticket.status == WAITING:          # the answer support waited for
                    ticket = self._answered(ticket, actor)
        return ticket

    def _answered(self, ticket: Ticket, actor: Actor) -> Ticket:
        try:
            return self.tickets.client_answered(ticket, actor)
        except TicketConflict as e:       # moved out of waiting meanwhile: nothing to undo
            return e.ticket

    def _to_thread(self, ticket: Ticket, name: str, msg: Message) -> None:
        group = self.settings.notify.system.work_group_id
        if not group:
            return              # no desk: the event and the CRM's comment are the record
        text = _fitted(lambda t: self.templates.render("desk/to_thread", self.templates.lang(None), {
            "ticket": ticket_view(ticket), "author": name, "text": t}), msg)
        _queue(Reply(group, text), msg, _key(ticket, msg), GROUP,
               where=lambda r: into_thread(ticket.id, r))

    # -- both ------------------------------------------------------------------------------
    def _album_noted(self, ticket: Ticket, msg: Message) -> bool:
        """An item of an album another item of which made an internal note of this ticket."""
        if not msg.album:
            return False
        events = (TicketEvent.select(TicketEvent.details)
                  .where((TicketEvent.ticket == ticket.id) & (TicketEvent.what == NOTE))
                  .order_by(TicketEvent.id.desc()).limit(_SEEN_WINDOW))
        return any((e.details or {}).get("album") == msg.album for e in events)

    def _seen(self, ticket: Ticket, msg: Message) -> bool:
        """This source message is already an event of the ticket (the update replayed)."""
        if msg.key is None:
            return False
        events = (TicketEvent.select(TicketEvent.details)
                  .where((TicketEvent.ticket == ticket.id) & TicketEvent.what.in_((MESSAGE, NOTE)))
                  .order_by(TicketEvent.id.desc()).limit(_SEEN_WINDOW))
        return any((e.details or {}).get("src") == msg.key for e in events)

    def _record(self, ticket: Ticket, actor: Actor, what: str, msg: Message) -> None:
        """The ticket event, the CRM's comment and the desk's listeners (SLA: a first
        response), in the caller's transaction."""
        details = {"text": msg.text, "src": msg.key,
                   "files": [msg.file] if msg.file else []}
        if msg.album:
            details["album"] = msg.album
        history.record(ticket, actor, what, details, utcnow())
        comment = self.templates.render_label("desk/crm_comment", self.templates.lang(None), {
            "what": what, "by": actor.name, "source": actor.source, "text": msg.text,
            "files": len(details["files"])})
        outbox.push("ticket", ticket.id, payload={"comment": comment})
        self._listeners(ticket, what, actor, details)

    def _listeners(self, ticket: Ticket, what: str, actor: Actor, details: dict) -> None:
        notifier = getattr(self.tickets, "notifier", None)
        if notifier is None:
            return
        context = {"ticket": ticket_view(ticket), "what": what, "actor": actor.name,
                   "details": details}
        for listener in notifier.listeners:
            listener(notifier, ticket, what, actor, context)


def _key(ticket: Ticket, msg: Message) -> str | None:
    return f"t{ticket.id}:{msg.key}" if msg.key else None


def _queue(reply: Reply, msg: Message, key: str | None, priority: int,
           where=lambda r: r) -> None:
    """The relayed message into the outgoing queue, in the caller's transaction. A photo or a
    document goes again by its file_id, the text as its caption; a voice, a video, a GIF, a
    sticker... as a copy of the source message (copyMessage keeps what it is). A sticker or
    a round video shows no caption: the header goes first as a text of its own (key `…:h`),
    so who wrote it and on which ticket is never lost."""
    kind = (msg.file or {}).get("kind")
    if kind == "photo":
        reply.photo = msg.file["file_id"]
    elif kind == "document":
        reply.document, reply.filename = msg.file["file_id"], msg.file.get("name") or ""
    elif kind:
        if kind in CAPTIONLESS:
            queue_reply(where(replace(reply)), key=key and f"{key}:h", priority=priority)
            reply.text = ""
        reply.copy_from = {"chat_id": msg.chat_id, "message_id": msg.message_id}
    queue_reply(where(reply), key=key, priority=priority)
