"""A dialog test driver: tests (and `run.py flows test`) read like chat transcripts.

    chat = Chat(engine, user_id=42)
    chat.send("/start")
    chat.click("Оформить заказ")
    assert "Опишите" in chat.last_text
    assert chat.said("Опишите")     # in the bot's answer to the latest event, not before

A turn is what the bot answered to one event (or what a due timeout sent): `said()` reads the
latest turn only, so a test checks each answer right after the step that caused it.
"""
from __future__ import annotations

from .events import Contact, Event, FileRef, Reply
from .runtime import Engine

__all__ = ["Chat"]


class Chat:
    def __init__(self, engine: Engine, user_id: int = 1001, *, chat_id: int | None = None,
                 language: str = "ru", username: str = "tester", first_name: str = "Tester"):
        self.engine = engine
        self.user_id, self.chat_id = user_id, chat_id or user_id
        self.language, self.username, self.first_name = language, username, first_name
        self.transcript: list[Reply] = []
        self.turn: list[Reply] = []         # the replies of the latest event
        self._next_message_id = 1

    # -- acting --------------------------------------------------------------------------
    def event(self, **kw) -> list[Reply]:
        base = dict(chat_id=self.chat_id, user_id=self.user_id, language=self.language,
                    username=self.username, first_name=self.first_name)
        replies = self.engine.handle(Event(**{**base, **kw}))
        for r in replies:
            if r.edit_message_id is None:
                r.message_id = self._next_message_id   # type: ignore[attr-defined]
                self._next_message_id += 1
            else:                                       # an edit keeps the message's id
                r.message_id = r.edit_message_id       # type: ignore[attr-defined]
        return self.hear(replies)

    def hear(self, replies: list[Reply]) -> list[Reply]:
        """Record replies as the latest turn (an event's answer, or what a due timeout sent)."""
        self.turn = list(replies)
        self.transcript += replies
        return replies

    def send(self, text: str) -> list[Reply]:
        kind = "command" if text.startswith("/") else "text"
        return self.event(kind=kind, text=text)

    def click(self, label: str) -> list[Reply]:
        """Press the inline button labelled `label` on the latest message that has one."""
        for reply in reversed(self.transcript):
            for row in reply.buttons:
                for b in row:
                    if b.text == label and b.data:
                        return self.event(kind="button", data=b.data,
                                          message_id=getattr(reply, "message_id", None))
            if any(k.text == label for row in reply.keyboard for k in row):
                return self.send(label)
        raise AssertionError(f"no button {label!r}; last buttons: {self.buttons}")

    def press_data(self, data: str) -> list[Reply]:
        return self.event(kind="button", data=data)

    def share_contact(self, phone: str, user_id: int | None = None) -> list[Reply]:
        owner = self.user_id if user_id is None else user_id
        return self.event(kind="contact", contact=Contact(phone, owner, self.first_name))

    def send_file(self, file_id: str = "file-1", kind: str = "photo", name: str = "",
                  size: int = 1000) -> list[Reply]:
        return self.event(kind="file", files=(FileRef(file_id, kind, name, "", size),))

    # -- reading -------------------------------------------------------------------------
    @property
    def last(self) -> Reply:
        assert self.transcript, "the bot has not said anything yet"
        return self.transcript[-1]

    @property
    def last_text(self) -> str:
        return self.last.text

    @property
    def buttons(self) -> list[str]:
        """Labels of the latest message that has buttons."""
        for reply in reversed(self.transcript):
            if reply.buttons or reply.keyboard:
                return reply.button_texts()
        return []

    def said(self, fragment: str) -> bool:
        """Whether the bot's answer to the latest event (any of its replies) contains `fragment`."""
        return any(fragment in r.text for r in self.turn)
