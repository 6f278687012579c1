"""Actions of the ticket flows (flows/ticket_create.yaml, tickets.yaml, stats.yaml,
wg_comment.yaml). Thin: they call TicketService / stats, which check every right again,
and turn refusals into `outcome` values the flows branch on (the action has already said
why, from a template).
"""
from __future__ import annotations

import logging
import uuid

from helpdesk import directory, phones, stats, workgroup  # noqa: F401 - workgroup registers wg:*
from helpdesk.models import TradePoint
from helpdesk.phones import PhoneError
from helpdesk.registry import registry
from helpdesk.roles import PermissionDenied, Right
from helpdesk.tickets import (
    MAX_ATTACHMENTS,
    TicketConflict,
    TicketError,
    TicketNotFound,
    supported_file,
    ticket_view,
)

__all__: list[str] = []

log = logging.getLogger(__name__)

DRAFT_SLOTS = ("draft_key", "counterparty_id", "trade_point_id", "type", "description",
               "attachments", "duplicate", "created", "contact_phone", "contact_name")


def _svc(step):
    return step.services.tickets


def _refused(step, error: Exception) -> dict:
    """Say why (from the error's template) and tell the flow."""
    if isinstance(error, TicketConflict):
        step.say("ticket/conflict", ticket=ticket_view(error.ticket))
        return {"outcome": "conflict"}
    if isinstance(error, (PermissionDenied, TicketNotFound)):
        log.info("refused for user %s: %s", step.user_id, error)
        step.say("ticket/denied")
        return {"outcome": "denied"}
    step.say(getattr(error, "template", "ticket/error"))
    return {"outcome": "failed"}


# --- creating ---------------------------------------------------------------------------
def _companies(user_id: int) -> list:
    """Companies the user may file for: confirmed links, and unverified ones (typed INN)."""
    return directory.companies_where(user_id, Right.TICKET_ON_BEHALF_OF_COMPANY)


@registry.action("ticket_draft_start", provides=["draft_key", "need_phone", "need_name",
                                                 "company_count", "counterparty_id"])
def draft_start(step) -> dict:
    """A fresh draft (a new idempotency key); what the dialog must still ask."""
    for name in DRAFT_SLOTS:
        step.slots.pop(name, None)
    user = directory.get_or_create_user(step.user_id, step.event.username, step.event.first_name,
                                        step.event.language)
    companies = _companies(step.user_id)
    alone = not companies
    return {"draft_key": uuid.uuid4().hex, "company_count": len(companies),
            "need_phone": alone and not (user.phone or user.unverified_phone), "need_name": alone and not user.full_name,
            "counterparty_id": companies[0].id if len(companies) == 1 else None}


@registry.action("ticket_save_phone")
def save_phone(step) -> None:
    try:
        directory.set_user_phone(step.user_id, step.slots.get("contact_phone") or "",
                                 verified=phones.is_own_contact(step.event))
    except PhoneError:
        step.slots["contact_phone"] = None


@registry.action("ticket_save_name")
def save_name(step) -> None:
    directory.set_user_full_name(step.user_id, step.slots.get("contact_name") or "")


@registry.action("ticket_companies")
def company_buttons(step) -> list[dict]:
    return [{"text": c.name, "value": c.id} for c in _companies(step.user_id)]


def _points(step) -> list[TradePoint]:
    """The company's trade points, for a confirmed member only: an unverified one (a typed
    INN) files for the company but must not see its shops and addresses."""
    cp = step.slots.get("counterparty_id")
    if not cp or not directory.access_in(step.user_id, int(cp)).confirmed:
        return []
    return list(TradePoint.select().where(TradePoint.counterparty == int(cp)).order_by(TradePoint.name))


@registry.action("ticket_points_prepare", provides=["point_count", "trade_point_id"])
def points_prepare(step) -> dict:
    points = _points(step)
    return {"point_count": len(points), "trade_point_id": points[0].id if len(points) == 1 else None}


@registry.action("ticket_points")
def point_buttons(step) -> list[dict]:
    return [{"text": p.name, "value": p.id} for p in _points(step)]


@registry.action("ticket_types")
def type_buttons(step) -> list[dict]:
    return [{"text": t, "value": t} for t in step.services.settings.tickets.types]


@registry.action("ticket_draft_check", provides=["draft"])
def draft_check(step) -> dict:
    """The confirm screen's data; more than MAX_ATTACHMENTS files are cut with a warning."""
    files = step.slots.get("attachments") or []
    if not all(supported_file(f) for f in files):
        step.say("ticket/unsupported_file")
        step.slots["attachments"] = files = [f for f in files if supported_file(f)]
    if len(files) > MAX_ATTACHMENTS:
        step.say("ticket/too_many_files")
        step.slots["attachments"] = files = files[:MAX_ATTACHMENTS]
    cp, tp = step.slots.get("counterparty_id"), step.slots.get("trade_point_id")
    names = {c.id: c.name for c in _companies(step.user_id)}
    point = TradePoint.get_or_none(TradePoint.id == int(tp)) if tp else None
    return {"draft": {"company": names.get(int(cp), "") if cp else "", "point": point.name if point else "",
                      "type": step.slots.get("type") or "", "description": step.slots.get("description") or "",
                      "files": len(files)}}


@registry.action("ticket_find_duplicate", provides=["duplicate"])
def find_duplicate(step) -> dict:
    s = step.slots
    found = _svc(step).duplicates(step.user_id, counterparty_id=s.get("counterparty_id"),
                                  trade_point_id=s.get("trade_point_id"),
                                  description=s.get("description") or "")
    return {"duplicate": ticket_view(found[0]) if found else None}


@registry.action("ticket_add_to_duplicate", provides=["outcome"])
def add_to_duplicate(step) -> dict:
    dup = step.slots.get("duplicate") or {}
    try:
        _svc(step).add_to(step.user_id, dup.get("id"), step.slots.get("description") or "")
    except (TicketError, PermissionDenied) as e:
        return _refused(step, e)
    return {"outcome": "ok"}


@registry.action("ticket_submit", provides=["created", "outcome"])
def submit(step) -> dict:
    """Create the ticket; the draft key makes a repeated press create it once."""
    s = step.slots
    try:
        ticket, _ = _svc(step).create(
            step.user_id, type=s.get("type") or "", description=s.get("description") or "",
            counterparty_id=s.get("counterparty_id"), trade_point_id=s.get("trade_point_id"),
            attachments=s.get("attachments") or [], contact_phone=s.get("contact_phone"),
            contact_name=s.get("contact_name"), draft_key=s.get("draft_key"))
    except (TicketError, PermissionDenied) as e:
        return _refused(step, e)
    return {"created": ticket_view(ticket), "outcome": "ok"}


# --- my tickets -------------------------------------------------------------------------
@registry.action("tickets_load", provides=["tickets_total", "tickets_page_size", "tickets_pages"])
def tickets_load(step) -> dict:
    size = step.services.settings.tickets.page_size
    page = max(0, int(step.slots.get("page") or 0))
    rows, total = _svc(step).visible(step.user_id, page=page, page_size=size)
    if not rows and page:
        step.slots["page"] = page = 0
        rows, total = _svc(step).visible(step.user_id, page=0, page_size=size)
    step.slots["tickets_items"] = [_list_item(step, t) for t in rows]
    return {"tickets_total": total, "tickets_page_size": size, "tickets_pages": -(-total // size)}


def _list_item(step, ticket) -> dict:
    label = step.fs.templates.render_label("ticket/list_item", step.lang, {"ticket": ticket_view(ticket)})
    return {"text": label, "value": ticket.id}


@registry.action("tickets_buttons")
def tickets_buttons(step) -> list[dict]:
    return list(step.slots.get("tickets_items") or [])


@registry.action("tickets_page")
def tickets_page(step, delta: int = 1) -> None:
    step.slots["page"] = max(0, int(step.slots.get("page") or 0) + int(delta))


@registry.action("ticket_open", provides=["ticket", "ticket_events", "can_edit", "can_cancel",
                                          "can_close", "outcome"])
def ticket_open(step) -> dict:
    """The card of slot ticket_id (checked again: the id may be forged)."""
    svc = _svc(step)
    try:
        ticket = svc.get(step.user_id, step.slots.get("ticket_id"))
    except (TicketError, PermissionDenied) as e:
        return _refused(step, e)
    rights = svc.buttons_for(step.user_id, ticket)
    return {"ticket": ticket_view(ticket), "ticket_events": [_event(e) for e in svc.events(ticket)],
            "can_edit": rights["edit"], "can_cancel": rights["cancel"], "can_close": rights["close"],
            "outcome": "ok"}


def _event(e) -> dict:
    return {"at": e.at.isoformat(timespec="minutes"), "what": e.what, "source": e.source,
            "text": str((e.details or {}).get("text") or (e.details or {}).get("reason") or "")[:200]}


def _version(step) -> int | None:
    return (step.slots.get("ticket") or {}).get("version")


def _change(step, fn, *args, **kw) -> dict:
    try:
        fn(step.user_id, step.slots.get("ticket_id"), *args, expected_version=_version(step), **kw)
    except (TicketError, PermissionDenied) as e:
        return _refused(step, e)
    return {"outcome": "ok"}


@registry.action("ticket_edit", provides=["outcome"])
def ticket_edit(step, field: str) -> dict:
    """Save the new description or type (slot new_description / new_type)."""
    value = step.slots.get(f"new_{field}")
    if field not in ("description", "type"):
        raise ValueError(f"ticket_edit: field must be description or type, got {field!r}")
    return _change(step, _svc(step).edit, **{field: value})


@registry.action("ticket_cancel", provides=["outcome"])
def ticket_cancel(step) -> dict:
    return _change(step, _svc(step).cancel, step.slots.get("cancel_reason") or "")


@registry.action("ticket_close", provides=["outcome"])
def ticket_close(step) -> dict:
    return _change(step, _svc(step).close)


# --- statistics -------------------------------------------------------------------------
@registry.action("stats_allowed", provides=["stats_allowed"])
def stats_allowed(step) -> dict:
    return {"stats_allowed": bool(stats.stats_companies(step.user_id))}


@registry.action("stats_compute", provides=["stats", "outcome"])
def stats_compute(step) -> dict:
    try:
        return {"stats": stats.for_user(step.user_id, int(step.slots.get("days") or 7)), "outcome": "ok"}
    except PermissionDenied as e:
        return _refused(step, e)


# --- the technician's comment (work group) ----------------------------------------------
@registry.action("wg_save_comment", provides=["outcome", "wg_ticket_label"])
def wg_save_comment(step) -> dict:
    name = step.event.first_name or step.event.username or str(step.user_id)
    try:
        _svc(step).comment(step.user_id, name, step.slots.get("wg_ticket_id"),
                           step.slots.get("wg_comment") or "")
    except (TicketError, PermissionDenied) as e:
        return _refused(step, e)
    return {"outcome": "ok"}


