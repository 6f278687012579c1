"""Forum topics in the terminal chat: a group's topics shown as threads of it.

The console delivers queued rows as a transport would (engine/console.py); this is its
forum half. A topic row (`Reply.topic` create) gets a thread id (the message number the
console gives it, as Telegram gives the service message's), kept as the row's message_id
so the domain finds what a thread is about as it does with Telegram; edits, closes,
reopens and deletes change the topic shown. A message into a topic (`thread_id`, or
`thread_key` resolved through the topic row) is shown under a header naming its topic.
In a group, `/topic` lists the topics and `/topic N` picks one to write into: the events
typed then carry its thread id. Typed messages are remembered by the message id they got,
so a copy (`Reply.copy_from`) shows what was copied.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import outgoing
from .events import Event, Reply

__all__ = ["ConsoleTopic", "Topics"]


@dataclass
class ConsoleTopic:
    thread_id: int
    name: str
    closed: bool = False
    deleted: bool = False                # kept: a deletion is shown with the topic's name


@dataclass
class Topics:
    """Every chat's topics and what was typed where, as the console saw them."""
    chats: dict[int, dict[int, ConsoleTopic]] = field(default_factory=dict)
    typed: dict[tuple[int, int], Event] = field(default_factory=dict)

    # -- delivering a queued topic operation --------------------------------------------
    def apply(self, reply: Reply, message_no: int) -> int:
        """A topic operation done; the id its row is marked with (create: the thread)."""
        op, topics = reply.topic.get("op"), self.chats.setdefault(reply.chat_id, {})
        if op == "create":
            topics[message_no] = ConsoleTopic(message_no, reply.topic.get("name") or "")
            return message_no
        thread = self.thread_of(reply)
        topic = topics.get(thread) if thread is not None else None
        if topic is not None:
            self._change(topics, topic, op, reply.topic)
        return thread or 0

    @staticmethod
    def _change(topics: dict, topic: ConsoleTopic, op: str, spec: dict) -> None:
        if op == "edit" and spec.get("name"):
            topic.name = spec["name"]
        elif op in ("close", "reopen"):
            topic.closed = op == "close"
        elif op == "delete":
            topic.deleted = True

    # -- where a reply goes ---------------------------------------------------------------
    def thread_of(self, reply: Reply) -> int | None:
        """The topic a reply is aimed at (its thread_key resolved through the topic row);
        None for the group itself (also when that topic was never created)."""
        if reply.thread_id is not None or not reply.thread_key:
            return reply.thread_id
        status, thread_id = outgoing.key_state(reply.thread_key)
        return thread_id if status == outgoing.SENT else None

    def name(self, chat_id: int, thread_id: int | None) -> str:
        topic = self.chats.get(chat_id, {}).get(thread_id) if thread_id is not None else None
        return topic.name if topic else ""

    def _live(self, chat_id: int) -> list[ConsoleTopic]:
        return sorted((t for t in self.chats.get(chat_id, {}).values() if not t.deleted),
                      key=lambda t: t.thread_id)

    def listing(self, chat_id: int) -> list[tuple[int, str, bool]]:
        """(number for /topic N, name, closed) of the chat's topics, oldest first."""
        return [(n, t.name, t.closed) for n, t in enumerate(self._live(chat_id), 1)]

    def pick(self, chat_id: int, number: int) -> ConsoleTopic | None:
        topics = self._live(chat_id)
        return topics[number - 1] if 1 <= number <= len(topics) else None

    # -- copies ---------------------------------------------------------------------------
    def remember(self, event: Event) -> None:
        if event.message_id is not None and event.kind in ("text", "file", "command"):
            self.typed[(event.chat_id, event.message_id)] = event

    def copied(self, reply: Reply) -> Event | None:
        """What a copy copies: the message typed in the console it names."""
        source = reply.copy_from or {}
        return self.typed.get((source.get("chat_id"), source.get("message_id")))
