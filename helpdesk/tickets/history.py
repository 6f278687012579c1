"""A ticket's history: what each event records (who, and what changed from what to what)
and how one reads on the ticket's card.

Every change's event carries `by` (the actor's name at the time) and, for each field it
moved, `{field: {"old", "new"}}` (the status on every status change, the type and the
description on edits, whatever the CRM changed that a client can see). Older events, from
before this was recorded, read as before: what happened, without who or what.
"""
from __future__ import annotations

from datetime import datetime

from .states import CANCELLED, DONE, IN_PROGRESS, WAITING
from .tables import Ticket, TicketEvent

__all__ = ["record", "status_change", "crm_details", "crm_what", "event_view", "SHOWN_FIELDS"]


# the fields whose old -> new the history keeps (the CRM's ids are bookkeeping, not news)
SHOWN_FIELDS = ("status", "master_name", "type", "description")


CHANGE_CHARS = 60          # an old or new description on the card: its start only


TEXT_CHARS = 200           # a comment or a reason on the card


def record(ticket: Ticket, actor, what: str, details: dict, at: datetime) -> TicketEvent:
    """One history line; `by` keeps the actor's name as it was."""
    if getattr(actor, "name", ""):
        details = {**details, "by": actor.name}
    return TicketEvent.create(ticket=ticket.id, who=actor.who, source=actor.source, what=what,
                              details=details, at=at)


def status_change(ticket: Ticket, changes: dict) -> dict:
    """{"status": {"old", "new"}} when the change moves the status."""
    new = changes.get("status")
    return {"status": {"old": ticket.status, "new": new}} if new and new != ticket.status else {}


def crm_details(ticket: Ticket, changes: dict) -> dict:
    """What a CRM change moved, old -> new, of the fields a client sees."""
    return {k: {"old": _plain(getattr(ticket, k)), "new": _plain(v)} for k, v in changes.items()
            if k in SHOWN_FIELDS and _plain(v) != _plain(getattr(ticket, k))}


def crm_what(ticket: Ticket, changes: dict) -> str:
    """The event name of a CRM change (the same words as the bot's own changes)."""
    status = changes.get("status")
    if status and status != ticket.status:
        return {IN_PROGRESS: "taken", WAITING: "waiting", DONE: "done", CANCELLED: "cancelled"}.get(status, "status")
    if changes.get("master_name") and changes["master_name"] != ticket.master_name:
        return "assigned"
    return "synced"


def event_view(e: TicketEvent) -> dict:
    """An event for the card (session slots hold it: plain data only): {at, what, source,
    by, text, changes: [{field, old, new}]}."""
    d = e.details if isinstance(e.details, dict) else {}
    changes = [{"field": k, "old": _short(v.get("old")), "new": _short(v.get("new"))}
               for k, v in d.items() if k in SHOWN_FIELDS and isinstance(v, dict)]
    return {"at": e.at.isoformat(timespec="minutes"), "what": e.what, "source": e.source,
            "by": str(d.get("by") or "")[:100], "changes": changes,
            "text": str(d.get("text") or d.get("reason") or "")[:TEXT_CHARS]}


def _plain(value) -> str:
    return "" if value is None else str(value)


def _short(value) -> str:
    text = " ".join(_plain(value).split())
    return text if len(text) <= CHANGE_CHARS else text[:CHANGE_CHARS - 1] + "…"
