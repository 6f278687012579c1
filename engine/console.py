"""The terminal chat: the same engine, a keyboard instead of Telegram.

Buttons are shown numbered; typing the number presses one (a contact button shares the
person's phone, asking for it when the person has none), on the message that showed them
(the press carries its message id, as Telegram's does, so an edit lands on that message).
`/contact +79001234567` shares a phone number as your own contact, `/photo` and `/file NAME`
send a fake attachment, `/reply TEXT` answers the bot's last message here as Telegram's
"Reply" does, `/quit` (or Ctrl-D) leaves. HTML tags of Telegram's parse mode are stripped for display; link
buttons are shown with their address.

With `personas` (the demo), `/as KEY` switches to another person or chat, and queued
messages (notifications, group posts, requests to other people) are delivered as a
transport would: marked sent, kept in their chat's mailbox and shown when you are there.
Only the demo delivers: a console opened on a live bot's database must not take its queue.
A group's forum topics are threads of its chat (engine/console_topics.py): messages into a
topic are shown under its name, `/topic` lists them and `/topic N` writes into one.
"""
from __future__ import annotations

import logging
import re
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from . import outgoing
from .console_topics import Topics
from .events import Contact, Event, FileRef, Reply
from .runtime import Engine
from .storage import is_database_error
from .templates import plain_text

__all__ = ["Console", "Persona"]

log = logging.getLogger(__name__)
_SURROGATE = re.compile("[\ud800-\udfff]")
DB_RETRIES = 5          # a locked or full database: tries before the apology


@dataclass(frozen=True)
class Persona:
    """Somebody the terminal can be: `/as key`. A private chat's id is the user's own."""
    key: str
    user_id: int
    name: str                       # Telegram's first name, as the bot would see it
    chat_id: int | None = None      # a group: its own id; None: the private chat
    phone: str | None = None        # what the contact button shares
    title: str = ""                 # shown by `/as`

    @property
    def chat(self) -> int:
        return self.chat_id if self.chat_id is not None else self.user_id


class Console:
    def __init__(self, engine: Engine, *, user_id: int = 700000001, language: str = "ru",
                 read: Callable[[str], str] = input, write: Callable[[str], None] = print,
                 personas: Sequence[Persona] = (), deliver_queued: bool = False):
        self.engine, self.language = engine, language
        self.read, self.write = read, write
        self.personas = {p.key: p for p in personas}
        self.me = next((p for p in personas if p.user_id == user_id and p.chat_id is None),
                       Persona("", user_id, "Console"))
        self.deliver_queued = deliver_queued
        # per chat: back in a chat with `/as`, its last buttons are pressed by number again
        self._buttons_of: dict[int, list[tuple[str, str | None, bool]]] = {}
        self._buttons_on: dict[int, int] = {}       # per chat: the message showing them
        self._last_shown: dict[int, int] = {}       # per chat: the bot's last message (/reply)
        self._thread_of_message: dict[tuple[int, int], int | None] = {}   # a group's messages
        # per chat: what waits there, with the message id it was sent as (None: not yet)
        self.mailbox: dict[int, list[tuple[Reply, int | None]]] = {}
        self._file_no = self._message_no = 0
        self._visited = {self.me.chat}
        self.topics = Topics()
        self.topic_here: int | None = None          # the topic of a group you write into
        self._header: tuple[int, int | None] | None = None   # the topic shown last

    @property
    def user_id(self) -> int:
        return self.me.user_id

    @property
    def buttons(self) -> list[tuple[str, str | None, bool]]:
        """The buttons the current chat shows last: (label, data, shares contact)."""
        return self._buttons_of.get(self.me.chat, [])

    @buttons.setter
    def buttons(self, labels: list[tuple[str, str | None, bool]]) -> None:
        self._buttons_of[self.me.chat] = labels

    def run(self, first: str = "/start") -> None:
        if self.read is input and sys.stdin.isatty():
            import readline  # noqa: F401 - input() edits lines itself: no 4,096-byte tty cut
        self.show(self._here(self.handle(self.event(kind="command", text=first))))
        while True:
            self.show(self._here(self._due()))
            self._show_mail()
            try:
                line = _clean(self.read("> ")).strip()
            except (EOFError, KeyboardInterrupt):
                self.write("")
                return
            if line in ("/quit", "/exit"):
                return
            if line == "/reply" or line.startswith("/reply "):
                self.reply_to_last(line[len("/reply"):].strip())
                continue
            if line == "/as" or line.startswith("/as "):
                self.switch(line[3:].strip())
                continue
            if self.me.chat < 0 and (line == "/topic" or line.startswith("/topic ")):
                self.pick_topic(line[6:].strip())
                continue
            event = self.parse(line)
            if event is not None:
                self.show(self._here(self.handle(event)))

    # ---- who you are ----------------------------------------------------------------

    def switch(self, key: str) -> None:
        """`/as KEY`: be that persona from now on; `/as` alone lists them."""
        persona = self.personas.get(key)
        if persona is None:
            name = "console/unknown_persona" if key else "console/personas"
            self.write(self._say(name, personas=list(self.personas.values()), key=key))
            return
        first_visit = persona.chat not in self._visited
        self.me = persona
        self.topic_here, self._header = None, None
        self._visited.add(persona.chat)
        self.write(self._say("console/now_as", persona=persona))
        if persona.chat_id is not None and self.topics.listing(persona.chat):
            self.write(self._say("console/topics", topics=self.topics.listing(persona.chat)))
        # opening a private chat is /start, unless the bot already wrote there (a question
        # the technician's comment waits for): that is what the person answers
        self._deliver()
        if first_visit and persona.chat_id is None and not self.mailbox.get(persona.chat):
            self.show(self._here(self.handle(self.event(kind="command", text="/start"))))

    def reply_to_last(self, text: str) -> None:
        """`/reply TEXT`: TEXT as a Telegram reply to the bot's last message in this chat
        (what a person answers by replying to it); without TEXT it says how."""
        last = self._last_shown.get(self.me.chat)
        if not text or last is None:
            self.write(self._say("console/reply_how"))
            return
        self.show(self._here(self.handle(self.event(kind="text", text=text, reply_to_message_id=last))))

    def pick_topic(self, arg: str) -> None:
        """`/topic N`: write into topic N of this group (0: the group itself); `/topic` lists."""
        topic = self.topics.pick(self.me.chat, int(arg)) if arg.isdigit() else None
        if topic is None and arg != "0":
            self.write(self._say("console/topics", topics=self.topics.listing(self.me.chat)))
            return
        self.topic_here = topic.thread_id if topic else None
        self._header = (self.me.chat, self.topic_here)
        self.write(self._say("console/in_topic", title=topic.name if topic else ""))

    # ---- the queue, as a transport would deliver it ------------------------------------

    def _here(self, replies: list[Reply]) -> list[Reply]:
        """The replies to this chat; those to another (a question started in the
        technician's private chat by a press in the group) wait in its mailbox."""
        for reply in replies:
            if reply.chat_id != self.me.chat:
                self.mailbox.setdefault(reply.chat_id, []).append((reply, None))
        return [r for r in replies if r.chat_id == self.me.chat]

    def _deliver(self) -> None:
        if not self.deliver_queued:
            return
        try:
            rows, _ = outgoing.claim(100, lease_seconds=60)
            for row in rows:
                reply = outgoing.to_reply(row)
                sent_as = self._sent_as(reply)
                outgoing.mark_sent(row.id, sent_as)
                self.mailbox.setdefault(reply.chat_id, []).append((reply, sent_as))
        except Exception as e:  # only database errors are kept here
            if not is_database_error(e):
                raise
            log.warning("queued messages not delivered, database unavailable: %s", e)

    def _sent_as(self, reply: Reply) -> int:
        """The message id Telegram would answer with: a topic's thread, an edited message's
        own id (an edit of the card keeps the card's id, so its buttons still edit it), or
        a new message's."""
        edited = reply.edit_message_id or (outgoing.key_state(reply.edit_key)[1] if reply.edit_key else None)
        if edited and not reply.topic:
            return edited
        self._message_no += 1
        return self.topics.apply(reply, self._message_no) if reply.topic else self._message_no

    def _show_mail(self) -> None:
        self._deliver()
        mail = self.mailbox.pop(self.me.chat, [])
        self.show([reply for reply, _ in mail], [sent_as for _, sent_as in mail])
        first_of_chat = {}                  # a chat two personas share is named once
        for p in self.personas.values():
            first_of_chat.setdefault(p.chat, p)
        waiting = [(p, len(self.mailbox[p.chat])) for p in first_of_chat.values()
                   if self.mailbox.get(p.chat) and p.chat != self.me.chat]
        if waiting:
            self.write(self._say("console/unread", waiting=waiting))

    # ---- one line -----------------------------------------------------------------------

    def _due(self) -> list[Reply]:
        """Reminders that are due; none while the database does not answer (next line)."""
        try:
            return self.engine.due_timeouts()
        except Exception as e:  # only database errors are kept here
            if not is_database_error(e):
                raise
            log.warning("reminders not checked, database unavailable: %s", e)
            return []

    def handle(self, event: Event) -> list[Reply]:
        """The engine's answer; a database that does not answer (locked by another
        process, disk full) is retried a few times, then apologised for: the terminal chat
        goes on and the line can be typed again."""
        for attempt in range(DB_RETRIES):
            try:
                return self.engine.handle(event)
            except Exception as e:  # only database errors are kept here
                if not is_database_error(e):
                    raise
                log.warning("database unavailable (try %s of %s): %s", attempt + 1, DB_RETRIES, e)
                time.sleep(min(0.2 * 2 ** attempt, 2))
        return [Reply(self.me.chat, self._say("common/error"))]

    def event(self, **kw) -> Event:
        if self.me.chat < 0:                    # a group: a forum supergroup's topic, if picked
            kw.update(chat_type="supergroup", thread_id=self.topic_here)
        if kw.get("kind") in ("text", "command", "file", "contact"):
            self._message_no += 1               # a message of its own (a copy may name it)
            kw["message_id"] = self._message_no
        event = Event(chat_id=self.me.chat, user_id=self.me.user_id, language=self.language,
                      username="console", first_name=self.me.name, **kw)
        self.topics.remember(event)
        return event

    def parse(self, line: str) -> Event | None:
        if line.isdigit() and 1 <= int(line) <= len(self.buttons):
            label, data, shares_contact = self.buttons[int(line) - 1]
            if shares_contact:
                return self._share_contact(self.me.phone or self.read(self._say("console/ask_phone") + " "))
            if data:
                return self.event(kind="button", data=data, message_id=self._buttons_on.get(self.me.chat))
            return self.event(kind="text", text=label)
        if line.startswith("/contact"):
            return self._share_contact(line[len("/contact"):])
        if line in ("/photo",) or line.startswith("/file"):
            self._file_no += 1
            kind = "photo" if line == "/photo" else "document"
            name = line[len("/file"):].strip() if kind == "document" else ""
            return self.event(kind="file", files=(FileRef(f"console-{self._file_no}", kind, name, "", 1000),))
        return self.event(kind="command" if line.startswith("/") else "text", text=line)

    def _share_contact(self, phone: str) -> Event:
        return self.event(kind="contact", contact=Contact(_clean(phone).strip(), self.me.user_id,
                                                          self.me.name))

    # ---- what the bot said ----------------------------------------------------------------

    def show(self, replies: list[Reply], sent_as: Sequence[int | None] = ()) -> None:
        """Write `replies` (of this chat); `sent_as`: the message ids the queued ones were
        delivered as (a reply answered directly gets its id here)."""
        ids = list(sent_as) + [None] * (len(replies) - len(sent_as))
        for reply, message_id in zip(replies, ids, strict=True):
            if reply.answer_only:
                self.write(f"({plain_text(reply.callback_answer or '')})")
                continue
            if reply.topic is not None:
                self._topic_op(reply)
                continue
            message_id = message_id or self._sent_as(reply)
            self._thread_header(reply, message_id)
            self._last_shown[reply.chat_id] = message_id
            copied = self.topics.copied(reply) if reply.copy_from else None
            text = reply.text or (copied.text if copied else "")
            if text or reply.edit_message_id:            # an invoice alone has no text
                edited = self._say("console/edited") + " " if reply.edit_message_id or reply.edit_key else ""
                self.write(edited + plain_text(text))
            if reply.callback_answer:                    # the press's notice, as Telegram shows it
                self.write(f"({plain_text(reply.callback_answer)})")
            if reply.photo is not None or (copied and copied.files):
                self.write(self._say("console/picture"))
            if reply.invoice:
                self.write(self._say("console/invoice", title=reply.invoice.get("title", "")))
            self._buttons(reply, message_id)

    def _topic_op(self, reply: Reply) -> None:
        thread = self.topics.thread_of(reply)
        name = reply.topic.get("name") or self.topics.name(reply.chat_id, thread)
        self.write(self._say("console/topic_op", op=reply.topic.get("op"), title=name))

    def _thread_header(self, reply: Reply, message_id: int) -> None:
        """A group's message under the name of its topic, when it changes; an edit stays in
        the topic of the message it edits (as in Telegram, whatever the edit names)."""
        if reply.chat_id >= 0:
            return
        key = (reply.chat_id, message_id)
        if reply.edit_message_id or reply.edit_key:
            thread = self._thread_of_message.get(key, self.topics.thread_of(reply))
        else:
            thread = self._thread_of_message.setdefault(key, self.topics.thread_of(reply))
        where = (reply.chat_id, thread)
        if where != self._header and (where[1] is not None or self._header is not None):
            self.write(self._say("console/topic_header", title=self.topics.name(*where)))
        self._header = where

    def _buttons(self, reply: Reply, message_id: int) -> None:
        for row in reply.buttons:
            for b in row:
                if b.url:
                    self.write("  " + self._say("console/link", label=plain_text(b.text), url=b.url))
        labels = [(b.text, b.data, False) for row in reply.buttons for b in row if b.data] + \
                 [(k.text, None, k.request_contact) for row in reply.keyboard for k in row]
        if not labels:
            return
        self.buttons = labels
        if reply.buttons:                                # inline buttons sit on this message
            self._buttons_on[self.me.chat] = message_id
        for i, (label, _, _) in enumerate(labels, 1):
            self.write(f"  [{i}] {label}")
        if any(shares for _, _, shares in labels):
            self.write("  " + self._say("console/contact_hint", phone=self.me.phone))

    def _say(self, name: str, **context) -> str:
        templates = self.engine.flowset.templates
        return plain_text(templates.render(name, templates.lang(self.language), {"console": context}))


def _clean(line: str) -> str:
    """A line as valid text: bytes the terminal could not decode (a letter cut in half)
    become U+FFFD instead of surrogates that no encoder accepts."""
    try:
        return line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", line)
