"""What other chats still hold of a person who erased their data (helpdesk.privacy.forget).

The bot keeps the messages it sent (the outgoing queue) to edit them in place later; those
about the person's tickets or their access requests carry their name and phone:

- the work group's post of each of their tickets is edited to the anonymised ticket (in
  Telegram and in the stored copy, which later edits start from);
- older messages about those tickets (versioned edits and notices, kept only in case of an
  edit that never comes) and the access requests sent to company heads are deleted, sent
  or not: a request naming the person must not go out after the erasure.

Runs in the erasure's transaction (the caller's), after the tickets were anonymised.
"""
from __future__ import annotations

from engine import outgoing
from engine.events import Reply
from engine.outgoing import SENT
from helpdesk.desk.topics import post_key
from helpdesk.notices import GROUP, queue_reply
from helpdesk.tickets.tables import Ticket
from helpdesk.tickets.workgroup import group_post

__all__ = ["scrub_messages", "request_keys"]


def request_keys(membership_ids: list[int]) -> list[str]:
    """The key prefixes of the access requests (helpdesk.registration.approval)."""
    return [f"mb-request:{int(m)}:" for m in membership_ids]


def scrub_messages(ticket_ids: list[int], request_prefixes: list[str], templates=None) -> int:
    """Edit the group posts of `ticket_ids` (with `templates`), drop the other stored
    messages about them and the access requests; how many group posts were edited."""
    for prefix in request_prefixes:
        outgoing.drop_keyed(prefix)
    edited = 0
    for ticket in Ticket.select().where(Ticket.id.in_(list(ticket_ids))):
        outgoing.drop_keyed(f"t{ticket.id}:v")
        edited += _edit_post(ticket, templates) if templates is not None else 0
    return edited


def _edit_post(ticket: Ticket, templates) -> int:
    text, buttons = group_post(ticket, templates)
    post = outgoing.rewrite(post_key(ticket.id), text, buttons)
    if post is None:
        return 0
    if post.status != SENT or not post.message_id:
        return 0                       # not out yet: it goes out as it now reads
    queue_reply(Reply(post.chat_id, text, buttons=buttons, edit_message_id=post.message_id),
                key=f"t{ticket.id}:erased:post", priority=GROUP)
    return 1
