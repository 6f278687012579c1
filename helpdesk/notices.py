"""The one way the domain queues a message for a chat (a person, the work group, an admin).

`queue_notice()` renders a template in the recipient's language (the person's stored
language; the templates' default for a group chat or a stranger) with the button labels in
the same language, and puts it into the engine's outgoing queue; `queue_reply()` queues a
message already built (the work group's ticket post). Both write in the caller's
transaction: a rollback sends nothing, a crash after the commit loses nothing, and with a
`key` the same notice is never queued twice. The Telegram sender drains the queue within
Telegram's rate limits, lowest priority number first.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine import outgoing
from engine.events import Button, Reply
from helpdesk.directory import language_of
from helpdesk.directory.tables import ERASED_USER_ID

__all__ = ["queue_notice", "queue_reply", "OPS", "GROUP", "PERSON"]

# Queue priorities, lowest first (an interactive reply of the dialogs is 0).
OPS = 2         # the operators: bug reports, a rejected flow reload
GROUP = 3       # the work group, dead CRM items for the notify.bug user
PERSON = 5      # people: ticket, payment and registration news, the CRM's messages


def queue_notice(templates, chat_id: int, template: str, context: Mapping, *, key: str | None,
                 buttons: Iterable[Iterable[tuple[str, str]]] = (), lang: str | None = None,
                 priority: int = PERSON) -> int | None:
    """Queue `template` rendered for `chat_id`; returns what the insert returns (the row id;
    a `key` queued before inserts nothing).

    Args:
        templates: the engine's current `Templates` (flows may have been reloaded).
        buttons: rows of (label template, callback data); labels render in the same language.
        lang: the language to use instead of the recipient's stored one (a lookup deferred
            before the person was known keeps the language of that moment).
    """
    language = templates.lang(lang if lang is not None else language_of(chat_id))
    rows = [[Button(templates.render_label(label, language, dict(context)), data)
             for label, data in row] for row in buttons]
    text = templates.render(template, language, dict(context))
    return queue_reply(Reply(chat_id, text, buttons=rows), key=key, priority=priority)


def queue_reply(reply: Reply, *, key: str | None = None, priority: int = PERSON) -> int | None:
    """Queue a message already built (in the caller's transaction); nothing for the author
    of the tickets of people who erased their data (ERASED_USER_ID: nobody is there)."""
    if reply.chat_id == ERASED_USER_ID:
        return None
    return outgoing.enqueue(reply, key=key, priority=priority)
