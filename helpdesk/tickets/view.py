"""A ticket as plain data for templates and JSON: names resolved, times as ISO text."""
from __future__ import annotations

from helpdesk import directory
from helpdesk.directory.tables import ERASED_USER_ID, Counterparty, TelegramUser, TradePoint

from .tables import Ticket, TicketEvent

__all__ = ["ticket_view"]


def ticket_view(ticket: Ticket) -> dict:
    """A ticket as plain data for templates and JSON (names resolved, times as datetimes)."""
    author = TelegramUser.get_or_none(TelegramUser.id == ticket.author_id)
    cp = Counterparty.get_or_none(Counterparty.id == ticket.counterparty_id) if ticket.counterparty_id else None
    tp = TradePoint.get_or_none(TradePoint.id == ticket.trade_point_id) if ticket.trade_point_id else None
    return {"id": ticket.id, "number": ticket.number, "label": ticket.label, "type": ticket.type,
            "description": ticket.description, "status": ticket.status, "active": ticket.active,
            "master": ticket.master_name or "", "author": ticket.contact_name or directory.display_name(author),
            "author_erased": ticket.author_id == ERASED_USER_ID,   # helpdesk.privacy.forget
            "phone": ticket.contact_phone or (author.phone if author else "") or "",
            "counterparty": cp.name if cp else "", "trade_point": tp.name if tp else "",
            "attachments": len(ticket.attachments or []), "created": _time(ticket.created),
            "updated": _time(ticket.updated), "closed": _time(ticket.closed), "version": ticket.version,
            **crm_notes(ticket)}


_NOTE_KINDS = {"note": "note", "decision": "decision"}     # event kind -> view key


def crm_notes(ticket: Ticket) -> dict:
    """The CRM's latest note ("Примечание") and decision on the ticket ("" when none): the
    newest `comment` event by "crm" of each kind (helpdesk.api.legacy.incoming)."""
    found = {key: "" for key in _NOTE_KINDS.values()}
    events = (TicketEvent.select(TicketEvent.details)
              .where((TicketEvent.ticket == ticket.id) & (TicketEvent.source == "crm")
                     & (TicketEvent.what == "comment"))
              .order_by(TicketEvent.id.desc()).limit(50))
    for e in events:
        key = _NOTE_KINDS.get((e.details or {}).get("kind"))
        if key and not found[key]:
            found[key] = str(e.details.get("text") or "")
    return found


def _time(value) -> str:
    """ISO text in UTC (views end up in JSON session slots); templates show it in the
    display zone with the `localtime` filter (settings engine.timezone)."""
    return value.isoformat(timespec="minutes") if value else ""
