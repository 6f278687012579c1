"""The terminal chat: the same engine, a keyboard instead of Telegram.

Buttons are shown numbered; typing the number presses one. `/contact +79001234567` shares
a phone number as your own contact, `/photo` and `/file NAME` send a fake attachment,
`/quit` (or Ctrl-D) leaves. HTML tags of Telegram's parse mode are stripped for display.
"""
from __future__ import annotations

import html
import logging
import re
import time
from typing import Callable

from .events import Contact, Event, FileRef, Reply
from .runtime import Engine
from .storage import is_database_error

__all__ = ["Console"]

log = logging.getLogger(__name__)
_TAG = re.compile(r"<[^>]+>")
DB_RETRIES = 5          # a locked or full database: tries before the apology


class Console:
    def __init__(self, engine: Engine, *, user_id: int = 700000001, language: str = "ru",
                 read: Callable[[str], str] = input, write: Callable[[str], None] = print):
        self.engine, self.user_id, self.language = engine, user_id, language
        self.read, self.write = read, write
        self.buttons: list[tuple[str, str | None]] = []   # (label, callback data or None)
        self._file_no = 0

    def run(self, first: str = "/start") -> None:
        self.show(self.handle(self.event(kind="command", text=first)))
        while True:
            self.show([r for r in self._due() if r.chat_id == self.user_id])
            try:
                line = self.read("> ").strip()
            except (EOFError, KeyboardInterrupt):
                self.write("")
                return
            if line in ("/quit", "/exit"):
                return
            self.show(self.handle(self.parse(line)))

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
        templates = self.engine.flowset.templates
        return [Reply(self.user_id, templates.render("common/error", templates.lang(self.language), {}))]

    def event(self, **kw) -> Event:
        return Event(chat_id=self.user_id, user_id=self.user_id, language=self.language,
                     username="console", first_name="Console", **kw)

    def parse(self, line: str) -> Event:
        if line.isdigit() and 1 <= int(line) <= len(self.buttons):
            label, data = self.buttons[int(line) - 1]
            return self.event(kind="button", data=data) if data else self.event(kind="text", text=label)
        if line.startswith("/contact"):
            phone = line[len("/contact"):].strip()
            return self.event(kind="contact", contact=Contact(phone, self.user_id, "Console"))
        if line in ("/photo",) or line.startswith("/file"):
            self._file_no += 1
            kind = "photo" if line == "/photo" else "document"
            name = line[len("/file"):].strip() if kind == "document" else ""
            return self.event(kind="file", files=(FileRef(f"console-{self._file_no}", kind, name, "", 1000),))
        return self.event(kind="command" if line.startswith("/") else "text", text=line)

    def show(self, replies: list[Reply]) -> None:
        for reply in replies:
            if reply.answer_only:
                self.write(f"({_plain(reply.callback_answer or '')})")
                continue
            self.write(("(edited) " if reply.edit_message_id else "") + _plain(reply.text))
            if reply.photo is not None:
                self.write("[picture]")
            if reply.invoice:
                self.write(f"[invoice: {reply.invoice.get('title', '')}]")
            self._buttons(reply)

    def _buttons(self, reply: Reply) -> None:
        labels = [(b.text, b.data) for row in reply.buttons for b in row if b.data] + \
                 [(k.text, None) for row in reply.keyboard for k in row]
        if not labels:
            return
        self.buttons = labels
        for i, (label, _) in enumerate(labels, 1):
            self.write(f"  [{i}] {label}")
        if any(k.request_contact for row in reply.keyboard for k in row):
            self.write("  (share your phone: /contact +79001234567)")


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))
