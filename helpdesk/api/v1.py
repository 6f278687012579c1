"""`/api/v1`: the bot's own REST API for a CRM (token: `Authorization: Bearer`).

Every handler is a plain `def`: FastAPI runs it in its threadpool, so database work never
blocks the event loop, and each request's writes are one `write_tx()` (see
helpdesk.api.apply). PUTs are upserts by the CRM's id, idempotent by construction.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request

from engine.storage import is_postgres, write_tx
from helpdesk import directory
from helpdesk.directory.tables import ContactPerson, TelegramUser, utcnow
from helpdesk.notices import queue_notice
from helpdesk.sync.outbox import OutboxItem

from . import apply, limits, schemas, views

__all__ = ["router", "changes", "FEED_SETTLE_SECONDS"]

CrmIdPath = Annotated[str, Path(min_length=1, max_length=64, description="the CRM's id")]
NumberPath = Annotated[int, Path(ge=1, le=2 ** 31, description="the bot's ticket number")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200,
                                              pattern=r"^[\x21-\x7e]+$")]
FEED_SETTLE_SECONDS = 5     # PostgreSQL: rows younger than this may still commit out of order


def helpdesk_app(request: Request):
    return request.app.state.helpdesk


def bounded(request: Request, body):
    """The body, once its lists and money are within settings api.* (else a 422)."""
    return limits.check(body, helpdesk_app(request).settings.api)


def router(auth) -> APIRouter:
    r = APIRouter(prefix="/api/v1", dependencies=[auth], tags=["v1"],
                  responses={401: {"description": "missing or wrong token"},
                             422: {"description": "invalid request; `detail` names the field"}})
    _directory_routes(r)
    _ticket_routes(r)
    _other_routes(r)
    return r


def _directory_routes(r: APIRouter) -> None:
    @r.put("/counterparties/{crm_id}", response_model=schemas.CounterpartyOut,
           summary="Create or update a counterparty (and its trade points)")
    def put_counterparty(crm_id: CrmIdPath, body: schemas.CounterpartyIn, request: Request):
        return views.counterparty(apply.counterparty(crm_id, bounded(request, body)))

    @r.get("/counterparties/{crm_id}", response_model=schemas.CounterpartyOut,
           responses={404: {"description": "unknown counterparty"}})
    def get_counterparty(crm_id: CrmIdPath):
        return views.counterparty(apply._counterparty_by_crm_id(crm_id, "crm_id"))

    @r.put("/trade-points/{crm_id}", response_model=schemas.TradePointOut,
           responses={404: {"description": "unknown counterparty"}})
    def put_trade_point(crm_id: CrmIdPath, body: schemas.TradePointUpsert):
        return views.trade_point(apply.trade_point(crm_id, body))

    @r.put("/contacts/{crm_id}", response_model=schemas.ContactOut,
           responses={404: {"description": "unknown counterparty or trade point"}},
           summary="Create or update a contact; the role from `role`, else from `post`")
    def put_contact(crm_id: CrmIdPath, body: schemas.ContactIn, request: Request):
        rules = helpdesk_app(request).settings.crm.post_roles
        return views.contact(apply.contact(crm_id, bounded(request, body), rules))

    @r.put("/counterparties/{crm_id}/balance", response_model=schemas.BalanceOut,
           responses={404: {"description": "unknown counterparty"}},
           summary="Set the absolute balance (never added: a repeat changes nothing)")
    def put_balance(crm_id: CrmIdPath, body: schemas.BalanceIn, request: Request):
        bounded(request, body)
        cp = apply._counterparty_by_crm_id(crm_id, "crm_id")
        return views.balance(apply.set_balance(cp, body.balance_kopecks))


_TICKET_ERRORS = {404: {"description": "unknown ticket"},
                  409: {"description": "the ticket is newer than `version`"}}


def _ticket_routes(r: APIRouter) -> None:
    @r.get("/tickets/{number}", response_model=schemas.TicketOut, responses=_TICKET_ERRORS)
    def get_ticket(number: NumberPath):
        return views.ticket(apply.ticket_by_number(number))

    @r.patch("/tickets/{number}", response_model=schemas.TicketOut, responses=_TICKET_ERRORS,
             summary="Change a ticket: status, master, comment, payment required, CRM link")
    def patch_ticket(number: NumberPath, body: schemas.TicketPatch, request: Request):
        ticket = apply.ticket_by_number(number)
        return views.ticket(apply.patch_ticket(helpdesk_app(request), ticket, bounded(request, body)))

    @r.patch("/tickets/by-crm-id/{crm_id}", response_model=schemas.TicketOut,
             responses=_TICKET_ERRORS, summary="The same, by the CRM's id of the ticket")
    def patch_ticket_by_crm_id(crm_id: CrmIdPath, body: schemas.TicketPatch, request: Request):
        ticket = apply.ticket_by_crm_id(crm_id)
        return views.ticket(apply.patch_ticket(helpdesk_app(request), ticket, bounded(request, body)))


def _other_routes(r: APIRouter) -> None:
    @r.post("/messages", response_model=schemas.MessageOut,
            responses={404: {"description": "no such recipient"}},
            summary="Send a message to clients (queued; the same Idempotency-Key sends once)")
    def post_message(body: schemas.MessageIn, request: Request,
                     idempotency_key: IdempotencyKey = None):
        return send_message(helpdesk_app(request), body, idempotency_key)

    @r.get("/changes", response_model=schemas.ChangesOut,
           summary="Bot-side changes after `cursor`, oldest first")
    def get_changes(cursor: Annotated[str, Query(max_length=18, pattern=r"^\d*$")] = "",
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100):
        return changes(int(cursor or 0), limit)


# ---- messages ---------------------------------------------------------------------------

def _recipients(body: schemas.MessageIn) -> list[TelegramUser]:
    if body.telegram_user_id is not None:
        users = TelegramUser.select().where(TelegramUser.id == body.telegram_user_id)
    elif body.phone is not None:       # proven phones only: a typed one finds nobody
        users = directory.users_by_phone(body.phone)
    elif body.contact_id is not None:
        users = _contact_users(body.contact_id)
    else:
        users = TelegramUser.select().where(
            TelegramUser.id == apply.ticket_by_number(body.ticket_number).author_id)
    found = list(users)
    if not found:
        raise apply.NotFound(_target_field(body), "no Telegram user of the bot matches")
    return found


def _contact_users(crm_id: str):
    c = ContactPerson.get_or_none(ContactPerson.crm_id == crm_id)
    if c is None:
        raise apply.NotFound("contact_id", f"no contact with crm id {crm_id!r}")
    return directory.users_of_contact(c)   # confirmed links and proven phones only


def _target_field(body: schemas.MessageIn) -> str:
    return next(n for n in ("telegram_user_id", "contact_id", "phone", "ticket_number")
                if getattr(body, n) is not None)


def send_message(app, body: schemas.MessageIn, key: str | None) -> schemas.MessageOut:
    """Queue the CRM's text to every matching user (template api/crm_message, in their
    language); with an Idempotency-Key a repeat queues nothing."""
    templates = app.engine.flowset.templates
    queued, ids = 0, []
    with write_tx():
        for user in _recipients(body):
            row = queue_notice(templates, user.id, "api/crm_message", {"text": body.text},
                               key=f"api-msg:{key}:{user.id}" if key else None)
            queued += 1 if row else 0
            ids.append(user.id)
    return schemas.MessageOut(queued=queued, recipients=ids)


# ---- the changes feed -------------------------------------------------------------------

def changes(after: int, limit: int) -> schemas.ChangesOut:
    """Outbox rows after id `after`: the bot-side change log (kept after delivery for sync.retention_days).

    On PostgreSQL ids are taken at insert and rows commit in any order, so rows younger
    than FEED_SETTLE_SECONDS are held back; on SQLite writers are serialised and ids
    commit in order."""
    query = OutboxItem.select().where(OutboxItem.id > after)
    if is_postgres():
        query = query.where(OutboxItem.created_at <= utcnow() - timedelta(seconds=FEED_SETTLE_SECONDS))
    rows = list(query.order_by(OutboxItem.id).limit(limit))
    items = [schemas.Change(cursor=str(i.id), entity=i.entity, op=i.op, id=i.entity_id,
                            at=i.created_at, data=views.data_of(i.entity, i.entity_id))
             for i in rows]
    return schemas.ChangesOut(items=items, next_cursor=str(rows[-1].id if rows else after))
