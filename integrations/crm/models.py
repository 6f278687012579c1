"""Plain data exchanged with a CRM: no Telegram, no database models.

Ids the CRM gives are `crm_id` strings (1C guids, REST ids). Money is always an integer
number of kopecks. Datetimes are what the caller passes (aware ones are preferred).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["TradePoint", "Company", "Membership", "Person", "ContactData", "TicketData",
           "PaymentData", "PersonErasure"]


@dataclass
class TradePoint:
    """A counterparty's shop / office (1C Department)."""

    crm_id: str | None
    name: str
    address: str = ""
    contract_crm_id: str | None = None     # 1C Department.guidContract


@dataclass
class Company:
    """A counterparty (legal entity or sole trader)."""

    name: str
    inn: str
    kpp: str = ""
    ogrn: str = ""
    address: str = ""
    crm_id: str | None = None
    balance_kopecks: int | None = None
    trade_points: list[TradePoint] = field(default_factory=list)
    contract_crm_id: str | None = None     # 1C guidDefaultContract, else its one contract


@dataclass
class Membership:
    """One person's place in one company. `role` is DIRECTOR / ADMINISTRATOR / USER when
    the CRM states it, None when the caller must derive it from `post` (1C does that)."""

    company: Company
    post: str = ""
    role: str | None = None


@dataclass
class Person:
    """A contact found by phone, with every company they belong to."""

    full_name: str
    phone: str
    crm_id: str | None
    memberships: list[Membership] = field(default_factory=list)
    is_employee: bool = False


@dataclass
class ContactData:
    """A contact person to create or update in the CRM."""

    full_name: str
    phone: str
    company_crm_id: str | None
    post: str = ""
    role: str | None = None
    crm_id: str | None = None


@dataclass
class TicketData:
    """A ticket to push (or read back). `number` is what users see once the CRM gave one.

    `status` is the bot's status and `type` the type's name (the 1C adapter turns both
    into 1C's guids through its references); `master_crm_id`, `contract_crm_id` are CRM
    ids; None leaves the CRM's default. Read back from 1C, `status` is 1C's guidStatus.
    `bot_guid` is the ticket's one identity for a CRM that takes the client's id (1C's
    guid): crm_id once linked, else the guid the bot minted; the same in every push.
    """

    description: str
    company_crm_id: str | None = None
    trade_point_crm_id: str | None = None
    author_crm_id: str | None = None
    crm_id: str | None = None
    number: str | None = None
    status: str | None = None
    type: str | None = None
    master_crm_id: str | None = None
    decision: str = ""
    comment: str = ""
    high_priority: bool = False
    created_at: datetime | None = None
    closed_at: datetime | None = None
    contract_crm_id: str | None = None
    is_billing: bool = False
    bot_guid: str | None = None


@dataclass
class PaymentData:
    """A payment received by the bot (card / SBP), reported once.

    `reference` is the provider's charge id; `ticket_number` is set when the payment pays a
    ticket, None for a balance top-up.
    """

    amount_kopecks: int
    company_crm_id: str | None
    paid_at: datetime
    ticket_number: str | None = None
    ticket_crm_id: str | None = None
    reference: str = ""
    method: str = "card"
    comment: str = ""
    crm_id: str | None = None


@dataclass
class PersonErasure:
    """A person who withdrew their consent and had the bot erase their data (152-ФЗ): the
    CRM is asked to erase or anonymise them too. Carries no name: the person is their
    Telegram id, the phone Telegram proved to be theirs (the CRM found them by it; a typed
    number is never sent, it proves nothing) and the CRM's ids of their contacts.
    """

    telegram_user_id: int
    phones: list[str] = field(default_factory=list)
    contact_crm_ids: list[str] = field(default_factory=list)
    requested_at: datetime | None = None
