"""Request and answer bodies of the REST API (`/api/v1`), as pydantic models.

They are the one validation of CRM data: the API validates requests with them, and the
reconcile job (helpdesk.sync.pull) validates the CRM's change feed with the same models, so a
bad value is refused the same way, naming the field, whichever way it arrived.

Unknown fields are ignored (forward compatibility, as docs/crm-api.md promises). Lengths
match the database columns, so nothing valid here fails in the database (PostgreSQL checks
lengths, SQLite does not). Money is an integer number of kopecks, parsed by
helpdesk.money (bounded text, never float/Decimal); the settings' bounds on money and list
sizes are checked after parsing (helpdesk.api.limits).
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from helpdesk.directory import clean_inn, phones
from helpdesk.money import KOPECKS, MAX_KOPECKS, MoneyError, parse_money

__all__ = ["CrmId", "Kopecks", "TradePointIn", "CounterpartyIn", "TradePointUpsert",
           "ContactIn", "PaymentRequired", "TicketPatch", "BalanceIn", "MessageIn",
           "TradePointOut", "CounterpartyOut", "ContactOut", "TicketOut", "BalanceOut",
           "MessageOut", "Change", "ChangesOut", "ROLES", "TICKET_STATUSES", "MAX_KOPECKS", "kopecks"]

ROLES = ("DIRECTOR", "ADMINISTRATOR", "USER")
TICKET_STATUSES = ("new", "in_progress", "waiting", "done", "cancelled")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps the 422 instead of a 500
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _text(max_length: int, min_length: int = 0):
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,
                                            max_length=max_length), AfterValidator(_no_nul)]


def _inn(value: str) -> str:
    return clean_inn(value)


def _phone(value: str) -> str:
    return phones.parse(value)


CrmId = _text(64, 1)
Name = _text(500, 1)
Inn = Annotated[str, StringConstraints(max_length=20), AfterValidator(_inn)]
Phone = Annotated[str, StringConstraints(max_length=40), AfterValidator(_no_nul),
                  AfterValidator(_phone)]
def kopecks(value) -> int:
    """A money value in kopecks (a JSON integer, or a string of digits), within MAX_KOPECKS;
    the field's name is added by pydantic (`loc`)."""
    try:
        return parse_money(value, "", unit=KOPECKS, limit=MAX_KOPECKS)
    except MoneyError as e:
        raise ValueError(str(e).removeprefix(": ")) from None


Kopecks = Annotated[int, BeforeValidator(kopecks), Field(ge=-MAX_KOPECKS, le=MAX_KOPECKS)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TradePointIn(_In):
    """A trade point inside a counterparty upsert."""
    id: CrmId = Field(description="the CRM's id of the trade point")
    name: Name
    address: _text(2000) | None = None


class CounterpartyIn(_In):
    """A counterparty as the CRM knows it (PUT by the CRM's id: idempotent)."""
    inn: Inn = Field(description="10 or 12 digits")
    name: Name
    kpp: _text(9) | None = None
    ogrn: _text(15) | None = None
    address: _text(2000) | None = None
    balance_kopecks: Kopecks | None = Field(
        None, description="absolute balance; omitted or null leaves it unchanged")
    trade_points: list[TradePointIn] | None = Field(
        None, max_length=500, description="upserted by id; trade points not listed are kept")


class TradePointUpsert(_In):
    counterparty_id: CrmId = Field(description="the CRM's id of the counterparty")
    name: Name
    address: _text(2000) | None = None


class ContactIn(_In):
    """A contact person; `role` is derived from `post` when it is not given."""
    counterparty_id: CrmId = Field(description="the CRM's id of the counterparty")
    full_name: _text(300, 1)
    phone: Phone | None = Field(None, description="any spelling; stored as E.164")
    post: _text(300) | None = None
    role: Literal[ROLES] | None = None
    trade_point_id: CrmId | None = None


class PaymentRequired(_In):
    amount_kopecks: Annotated[int, BeforeValidator(kopecks), Field(gt=0, le=MAX_KOPECKS)]


class TicketPatch(_In):
    """A change of a ticket by the CRM; absent fields stay as they are."""
    status: Literal[TICKET_STATUSES] | None = None
    master: _text(300) | None = Field(None, description="the technician's name")
    comment: _text(3000, 1) | None = Field(None, description="added to the ticket's history")
    payment_required: PaymentRequired | None = None
    crm_id: CrmId | None = Field(None, description="link a bot ticket to the CRM's record")
    crm_number: _text(32, 1) | None = Field(None, description="the number users see")
    version: Annotated[int, Field(ge=1, le=2 ** 31)] | None = Field(
        None, description="the version the CRM saw: a newer ticket answers 409")


class BalanceIn(_In):
    balance_kopecks: Kopecks = Field(description="the absolute balance (set, never added)")


class MessageIn(_In):
    """A message to clients: exactly one of the recipients' fields."""
    telegram_user_id: Annotated[int, Field(ge=1, le=2 ** 53)] | None = None
    contact_id: CrmId | None = Field(None, description="the CRM's id of a contact")
    phone: Phone | None = None
    ticket_number: Annotated[int, Field(ge=1, le=2 ** 31)] | None = Field(
        None, description="the ticket's author")
    text: _text(3500, 1)

    @model_validator(mode="after")
    def _one_target(self):
        given = [n for n in ("telegram_user_id", "contact_id", "phone", "ticket_number")
                 if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of telegram_user_id, contact_id, phone, "
                             f"ticket_number (got {', '.join(given) or 'none'})")
        return self


class TradePointOut(BaseModel):
    id: int
    crm_id: str | None
    name: str
    address: str | None


class CounterpartyOut(BaseModel):
    id: int
    crm_id: str | None
    inn: str
    kpp: str | None
    ogrn: str | None
    name: str
    address: str | None
    balance_kopecks: int
    trade_points: list[TradePointOut]


class ContactOut(BaseModel):
    id: int
    crm_id: str | None
    counterparty_id: int
    full_name: str
    phone: str | None
    post: str | None
    role: str


class TicketOut(BaseModel):
    id: int
    number: int
    crm_id: str | None
    crm_number: str | None
    counterparty_id: int | None
    trade_point_id: int | None
    type: str
    description: str
    status: str
    master: str | None
    created: datetime
    updated: datetime
    closed: datetime | None
    version: int


class BalanceOut(BaseModel):
    counterparty_id: int
    crm_id: str | None
    balance_kopecks: int


class MessageOut(BaseModel):
    queued: int = Field(description="messages queued (0 when this key was already used)")
    recipients: list[int]


class Change(BaseModel):
    cursor: str
    entity: str
    op: str
    id: int = Field(description="the bot's id of the record")
    at: datetime
    data: dict = Field(description="the record now; {} when it is gone")


class ChangesOut(BaseModel):
    items: list[Change]
    next_cursor: str
