"""Actions of the ticket flows (flows/ticket_create.yaml, tickets.yaml, stats.yaml,
wg_comment.yaml). Thin: they call TicketService / stats, which check every right again,
and report an outcome the flow maps in `on:`; a refusal is the outcome `refused`, after
the action has said why (from the error's template).
"""
from __future__ import annotations

import logging
import uuid

from engine.contracts import ActionContext, Outcome
from helpdesk import directory, registration
from helpdesk import payments as pay
from helpdesk.desk.names import staff_name
from helpdesk.directory import NotFound, phones
from helpdesk.directory.phones import PhoneError
from helpdesk.directory.roles import PermissionDenied, Right
from helpdesk.directory.tables import TradePoint
from helpdesk.registry import registry
from helpdesk.sync import references
from helpdesk.tickets import (
    MAX_ATTACHMENTS,
    TicketConflict,
    TicketError,
    TicketNotFound,
    stats,
    supported_file,
    ticket_view,
)
from helpdesk.tickets.history import event_view
from helpdesk.tickets.states import reopen_deadline

__all__: list[str] = []

log = logging.getLogger(__name__)

DRAFT_SLOTS = ("draft_key", "counterparty_id", "trade_point_id", "type", "description",
               "attachments", "duplicate", "created", "contact_phone", "contact_name",
               "create_anyway", "draft_company", "company_count")
# what a refusal may say: the service's errors name their template (helpdesk.tickets)
REFUSALS = ("ticket/conflict", "ticket/denied", "ticket/error", "ticket/too_short",
            "ticket/too_long", "ticket/too_many_files", "ticket/unsupported_file",
            "ticket/need_phone", "ticket/bad_type", "ticket/reopen_expired")
REFUSED = "refused"


def _svc(ctx: ActionContext):
    return ctx.services.tickets


def _refused(ctx: ActionContext, error: Exception) -> Outcome:
    """Say why (from the error's template); the flow is told `refused`."""
    if isinstance(error, TicketConflict):
        ctx.say("ticket/conflict", ticket=ticket_view(error.ticket))
    elif isinstance(error, (PermissionDenied, TicketNotFound)):
        log.info("refused for user %s: %s", ctx.user_id, error)
        ctx.say("ticket/denied")
    else:
        ctx.say(getattr(error, "template", "ticket/error"))
    return Outcome(REFUSED)


# --- creating ---------------------------------------------------------------------------
def _companies(user_id: int) -> list:
    """Companies the user may file for: confirmed links, and unverified ones (typed INN)."""
    return directory.companies_where(user_id, Right.TICKET_ON_BEHALF_OF_COMPANY)


@registry.action("ticket_draft_start", gives=("draft_key", "need_name"),
                 outcomes=("need_phone", "need_name", "ready"))
def draft_start(ctx: ActionContext) -> Outcome:
    """A fresh draft (a new idempotency key); what the dialog must still ask: a person with
    no company and no stored phone or name is asked for them."""
    for name in DRAFT_SLOTS:
        ctx.slots.pop(name, None)
    ev = ctx.event
    user = directory.get_or_create_user(ctx.user_id, ev.username, ev.first_name, ev.language)
    alone = not _companies(ctx.user_id)
    need_phone = alone and not (user.phone or user.unverified_phone)
    need_name = alone and not user.full_name
    first = "need_phone" if need_phone else "need_name" if need_name else "ready"
    return Outcome(first, draft_key=uuid.uuid4().hex, need_name=need_name)


@registry.action("ticket_save_phone", reads=("contact_phone", "need_name"), gives=("contact_phone",),
                 outcomes=("need_name", "ready"))
def save_phone(ctx: ActionContext) -> Outcome:
    """Keep the phone the draft asked for (if it asked); then: is a name still needed?"""
    phone = ctx.slots.get("contact_phone")
    if phone:
        try:
            directory.set_user_phone(ctx.user_id, phone, verified=phones.is_own_contact(ctx.event))
        except PhoneError:
            phone = None
    return Outcome("need_name" if ctx.slots.get("need_name") else "ready", contact_phone=phone)


@registry.action("ticket_save_name", reads=("contact_name",))
def save_name(ctx: ActionContext) -> None:
    """Keep the name the draft asked for (if it asked)."""
    if ctx.slots.get("contact_name"):
        directory.set_user_full_name(ctx.user_id, ctx.slots["contact_name"])


@registry.action("ticket_company_prepare", gives=("company_count", "counterparty_id", "draft_company"),
                 outcomes=("choose", "chosen"))
def company_prepare(ctx: ActionContext) -> Outcome:
    """The current company is taken (chosen in "👤 Мои компании", or the only one; the
    dialog offers to change it when there are several); several and none chosen: the
    dialog asks; none: the ticket is the person's."""
    companies = _companies(ctx.user_id)
    current = registration.current_company(ctx.user_id)
    if current is None and len(companies) > 1:
        return Outcome("choose", company_count=len(companies), counterparty_id=None, draft_company=None)
    return Outcome("chosen", company_count=len(companies), counterparty_id=current.id if current else None,
                   draft_company=current.name if current else None)


@registry.action("ticket_companies")
def company_buttons(ctx: ActionContext) -> list[dict]:
    return [{"text": c.name, "value": c.id} for c in _companies(ctx.user_id)]


def _points(ctx: ActionContext) -> list[TradePoint]:
    """The company's trade points, for a confirmed member only: an unverified one (a typed
    INN) files for the company but must not see its shops and addresses."""
    cp = ctx.slots.get("counterparty_id")
    if not cp or not directory.access_in(ctx.user_id, int(cp)).confirmed:
        return []
    return list(TradePoint.select().where(TradePoint.counterparty == int(cp)).order_by(TradePoint.name))


@registry.action("ticket_points_prepare", reads=("counterparty_id",),
                 gives=("point_count", "trade_point_id", "draft_company"), outcomes=("choose", "chosen"))
def points_prepare(ctx: ActionContext) -> Outcome:
    """Several trade points: the dialog asks; one is taken (none: no trade point).
    `draft_company` names the company the draft is for (it may just have been changed),
    only when the user may file for it."""
    points = _points(ctx)
    cp = str(ctx.slots.get("counterparty_id") or "")
    name = next((c.name for c in _companies(ctx.user_id) if str(c.id) == cp), None)
    return Outcome("choose" if len(points) > 1 else "chosen", point_count=len(points),
                   trade_point_id=points[0].id if len(points) == 1 else None, draft_company=name)


@registry.action("ticket_points", reads=("counterparty_id",))
def point_buttons(ctx: ActionContext) -> list[dict]:
    return [{"text": p.name, "value": p.id} for p in _points(ctx)]


@registry.action("ticket_types")
def type_buttons(ctx: ActionContext) -> list[dict]:
    """1C's task types once read (defaultData), else settings tickets.types."""
    return [{"text": t, "value": t} for t in references.ticket_types(ctx.services.settings)]


@registry.action("ticket_draft_check", reads=("attachments", "counterparty_id", "trade_point_id",
                                              "type", "description"),
                 gives=("draft", "attachments"), templates=("ticket/unsupported_file", "ticket/too_many_files"))
def draft_check(ctx: ActionContext) -> dict:
    """The confirm screen's data; more than MAX_ATTACHMENTS files are cut with a warning."""
    files = ctx.slots.get("attachments") or []
    if not all(supported_file(f) for f in files):
        ctx.say("ticket/unsupported_file")
        files = [f for f in files if supported_file(f)]
    if len(files) > MAX_ATTACHMENTS:
        ctx.say("ticket/too_many_files")
        files = files[:MAX_ATTACHMENTS]
    s = ctx.slots
    cp, tp = s.get("counterparty_id"), s.get("trade_point_id")
    names = {c.id: c.name for c in _companies(ctx.user_id)}
    point = TradePoint.get_or_none(TradePoint.id == int(tp)) if tp else None
    return {"attachments": files,
            "draft": {"company": names.get(int(cp), "") if cp else "", "point": point.name if point else "",
                      "type": s.get("type") or "", "description": s.get("description") or "",
                      "files": len(files)}}


@registry.action("ticket_submit", reads=("type", "description", "counterparty_id", "trade_point_id",
                                         "attachments", "contact_phone", "contact_name", "draft_key",
                                         "create_anyway"),
                 gives=("created", "duplicate"), outcomes=("created", "duplicate", REFUSED),
                 templates=REFUSALS)
def submit(ctx: ActionContext) -> Outcome:
    """Create the ticket, once per draft key whatever is pressed twice; a similar open
    ticket is offered first (`duplicate`) unless the person chose to create anyway."""
    s = ctx.slots
    if not s.get("create_anyway"):
        found = _svc(ctx).duplicates(ctx.user_id, counterparty_id=s.get("counterparty_id"),
                                     trade_point_id=s.get("trade_point_id"),
                                     description=s.get("description") or "")
        if found:
            return Outcome("duplicate", duplicate=ticket_view(found[0]))
    try:
        ticket, _ = _svc(ctx).create(
            ctx.user_id, type=s.get("type") or "", description=s.get("description") or "",
            counterparty_id=s.get("counterparty_id"), trade_point_id=s.get("trade_point_id"),
            attachments=s.get("attachments") or [], contact_phone=s.get("contact_phone"),
            contact_name=s.get("contact_name"), draft_key=s.get("draft_key"))
    except (TicketError, PermissionDenied) as e:
        return _refused(ctx, e)
    return Outcome("created", created=ticket_view(ticket))


@registry.action("ticket_add_to_duplicate", reads=("duplicate", "description"),
                 outcomes=("added", REFUSED), templates=REFUSALS)
def add_to_duplicate(ctx: ActionContext) -> Outcome:
    """The description goes to the similar ticket as a comment instead of a new ticket."""
    dup = ctx.slots.get("duplicate") or {}
    try:
        _svc(ctx).add_to(ctx.user_id, dup.get("id"), ctx.slots.get("description") or "")
    except (TicketError, PermissionDenied) as e:
        return _refused(ctx, e)
    return Outcome("added")


# --- my tickets -------------------------------------------------------------------------
@registry.action("tickets_load", reads=("page", "page_delta"),
                 gives=("page", "page_delta", "tickets_items", "tickets_total", "tickets_page_size",
                        "tickets_pages", "tickets_closed"), templates=("ticket/list_item",))
def tickets_load(ctx: ActionContext, closed: bool = False) -> dict:
    """A page of the tickets the person may see, moved by `page_delta` (a paging button);
    back to the first page when that one is empty now. Active ones ("My tickets"), or with
    `closed` those closed in the last tickets.closed_days days; `tickets_closed` tells the
    card which list to go back to."""
    size, closed = ctx.services.settings.tickets.page_size, bool(closed)
    page = max(0, int(ctx.slots.get("page") or 0) + int(ctx.slots.get("page_delta") or 0))
    rows, total = _svc(ctx).visible(ctx.user_id, page=page, page_size=size, closed=closed)
    if not rows and page:
        page = 0
        rows, total = _svc(ctx).visible(ctx.user_id, page=0, page_size=size, closed=closed)
    items = [{"text": ctx.label("ticket/list_item", ticket=ticket_view(t)), "value": t.id} for t in rows]
    return {"page": page, "page_delta": None, "tickets_items": items, "tickets_total": total,
            "tickets_page_size": size, "tickets_pages": -(-total // size), "tickets_closed": closed}


@registry.action("tickets_buttons", reads=("tickets_items",))
def tickets_buttons(ctx: ActionContext) -> list[dict]:
    return list(ctx.slots.get("tickets_items") or [])


@registry.action("ticket_open", reads=("ticket_id",),
                 gives=("ticket", "ticket_events", "can_edit", "can_cancel", "can_close", "can_reopen",
                        "can_write", "reopen_until", "pay_request", "pay_amount"),
                 outcomes=("opened", REFUSED), templates=REFUSALS)
def ticket_open(ctx: ActionContext) -> Outcome:
    """The card of slot ticket_id (checked again: the id may be forged): what it offers
    follows the rights and the state (helpdesk.tickets.states); an open payment request
    the person may pay is offered (pay_request, pay_amount) when a method can take money.
    Writing on the ticket (can_write) is the author's alone, as conversation.from_client
    checks: a colleague who may see the card is not offered what would be refused."""
    svc = _svc(ctx)
    try:
        ticket = svc.get(ctx.user_id, ctx.slots.get("ticket_id"))
    except (TicketError, PermissionDenied) as e:
        return _refused(ctx, e)
    rights = svc.buttons_for(ctx.user_id, ticket)
    until = reopen_deadline(ticket.closed, ctx.services.settings.tickets.reopen_days)
    request = _payable_request(ctx, ticket)
    return Outcome("opened", ticket=ticket_view(ticket), ticket_events=[event_view(e) for e in svc.events(ticket)],
                   can_edit=rights["edit"], can_cancel=rights["cancel"], can_close=rights["close"],
                   can_reopen=rights["reopen"], can_write=ticket.active and ticket.author_id == ctx.user_id,
                   reopen_until=until.isoformat(timespec="minutes") if until else "",
                   pay_request=request.id if request else None, pay_amount=request.amount if request else None)


def _payable_request(ctx: ActionContext, ticket):
    """The ticket's open payment request, if this person may pay it and a method can."""
    if not ticket.active or not pay.payable(ctx.services.settings):
        return None
    request = pay.open_request_for(ticket.id)
    if request is None:
        return None
    try:
        return pay.request_for_payer(ctx.user_id, request.id)
    except (NotFound, PermissionDenied):
        return None                 # a colleague who may see the ticket but not pay for it


def _version(ctx: ActionContext) -> int | None:
    return (ctx.slots.get("ticket") or {}).get("version")


def _change(ctx: ActionContext, done: str, fn, *args, **kw) -> Outcome:
    try:
        fn(ctx.user_id, ctx.slots.get("ticket_id"), *args, expected_version=_version(ctx), **kw)
    except (TicketError, PermissionDenied) as e:
        return _refused(ctx, e)
    return Outcome(done)


@registry.action("ticket_edit", reads=("ticket_id", "ticket", "new_description", "new_type"),
                 outcomes=("saved", REFUSED), templates=REFUSALS)
def ticket_edit(ctx: ActionContext, field: str) -> Outcome:
    """Save the new description or type (slot new_description / new_type)."""
    value = ctx.slots.get(f"new_{field}")
    if field not in ("description", "type"):
        raise ValueError(f"ticket_edit: field must be description or type, got {field!r}")
    return _change(ctx, "saved", _svc(ctx).edit, **{field: value})


@registry.action("ticket_cancel", reads=("ticket_id", "ticket", "cancel_reason"),
                 outcomes=("cancelled", REFUSED), templates=REFUSALS)
def ticket_cancel(ctx: ActionContext) -> Outcome:
    return _change(ctx, "cancelled", _svc(ctx).cancel, ctx.slots.get("cancel_reason") or "")


@registry.action("ticket_close", reads=("ticket_id", "ticket"), outcomes=("closed", REFUSED),
                 templates=REFUSALS)
def ticket_close(ctx: ActionContext) -> Outcome:
    return _change(ctx, "closed", _svc(ctx).close)


@registry.action("ticket_reopen", reads=("ticket_id", "ticket"), gives=("ticket", "tickets_closed"),
                 outcomes=("reopened", REFUSED), templates=REFUSALS)
def ticket_reopen(ctx: ActionContext) -> Outcome:
    """The author reopens a closed ticket (TicketService checks who and how long ago);
    `ticket` is then its new state (the text says where it went back to) and the card's
    way back leads to the active list, where the ticket now is."""
    try:
        ticket = _svc(ctx).reopen(ctx.user_id, ctx.slots.get("ticket_id"), expected_version=_version(ctx))
    except (TicketError, PermissionDenied) as e:
        return _refused(ctx, e)
    return Outcome("reopened", ticket=ticket_view(ticket), tickets_closed=False)


# --- statistics -------------------------------------------------------------------------
@registry.action("stats_allowed", outcomes=("allowed", "denied"))
def stats_allowed(ctx: ActionContext) -> Outcome:
    """Statistics are for the desk's staff and ADMINISTRATOR+ of some company."""
    return Outcome("allowed" if stats.may_see(ctx.user_id) else "denied")


@registry.action("stats_compute", reads=("days",), gives=("stats",), outcomes=("computed", REFUSED),
                 templates=REFUSALS)
def stats_compute(ctx: ActionContext) -> Outcome:
    try:
        return Outcome("computed", stats=stats.for_user(ctx.user_id, int(ctx.slots.get("days") or 7)))
    except PermissionDenied as e:
        return _refused(ctx, e)


# --- the technician's comment (work group) ----------------------------------------------
@registry.action("wg_save_comment", reads=("wg_ticket_id", "wg_comment"), outcomes=("saved", REFUSED),
                 templates=REFUSALS)
def wg_save_comment(ctx: ActionContext) -> Outcome:
    name = staff_name(ctx.event)           # the CRM's or the full name, not a first name
    try:
        _svc(ctx).comment(ctx.user_id, name, ctx.slots.get("wg_ticket_id"), ctx.slots.get("wg_comment") or "")
    except (TicketError, PermissionDenied) as e:
        return _refused(ctx, e)
    return Outcome("saved")
