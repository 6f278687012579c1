"""The directory's tables: counterparties, their trade points and contact persons, Telegram
users and their memberships in counterparties.

Counterparty -> TradePoint -> ContactPerson mirrors the CRM (1C partner -> department -> contact
person). A TelegramUser belongs to counterparties through Membership, which carries the
role *in that counterparty* and how far the link is proven (MEMBERSHIP_STATUSES).
A TelegramUser's `phone` is only ever a number Telegram proved (the person shared their
own contact); a typed number is kept apart in `unverified_phone` and finds nobody. Money is an integer
number of kopecks, as in the CRM contract. Times are naive UTC. Ticket tables live with
the tickets, not here.
"""
from __future__ import annotations

from datetime import datetime, timezone

import peewee as pw

from engine.storage import Table

from .roles import Role

__all__ = ["utcnow", "ERASED_USER_ID", "Counterparty", "TradePoint", "ContactPerson", "TelegramUser", "Membership",
           "CONFIRMED", "UNVERIFIED", "PENDING", "MEMBERSHIP_STATUSES", "DIRECTORY_MODELS"]

# How far a membership is proven. Only CONFIRMED gives company rights (roles.Scope).
CONFIRMED = "confirmed"    # the CRM lists the person's verified phone, or the company/support said yes
UNVERIFIED = "unverified"  # the person typed the company's INN: own tickets for it, nothing else
PENDING = "pending"        # a request made from a typed phone: no rights, nothing shown to them
MEMBERSHIP_STATUSES = (CONFIRMED, UNVERIFIED, PENDING)

# The author of the tickets of people who erased their data (helpdesk.privacy.forget): a
# TelegramUser row with no name, phone or link. Telegram never gives a person the id 0;
# nothing is ever sent to it (helpdesk.notices) and it belongs to no company.
ERASED_USER_ID = 0


def utcnow() -> datetime:
    """Now in UTC without tzinfo: peewee stores naive datetimes the same on SQLite and PG."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Counterparty(Table):
    """A client company or sole trader, identified by its INN."""

    inn = pw.CharField(max_length=12, unique=True)
    kpp = pw.CharField(max_length=9, null=True)
    ogrn = pw.CharField(max_length=15, null=True)
    name = pw.CharField(max_length=500)
    legal_address = pw.TextField(null=True)
    balance = pw.BigIntegerField(default=0)                  # kopecks
    crm_id = pw.CharField(max_length=64, unique=True, null=True)
    contract_crm_id = pw.CharField(max_length=64, null=True)   # 1C default contract's guid
    created = pw.DateTimeField(default=utcnow)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "counterparty"

    def __str__(self) -> str:
        return f"{self.name} (ИНН {self.inn})"


class TradePoint(Table):
    """A shop or office of a counterparty (1C "department"); tickets may point to one."""

    counterparty = pw.ForeignKeyField(Counterparty, backref="trade_points",
                                      on_delete="CASCADE")
    name = pw.CharField(max_length=500)
    address = pw.TextField(null=True)
    crm_id = pw.CharField(max_length=64, unique=True, null=True)
    contract_crm_id = pw.CharField(max_length=64, null=True)   # 1C Department.guidContract
    created = pw.DateTimeField(default=utcnow)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "trade_point"


class ContactPerson(Table):
    """A contact person the CRM knows (table `contact`); a Telegram user is matched to one
    by phone. Not `engine.events.Contact`, which is a phone number shared in a chat."""

    counterparty = pw.ForeignKeyField(Counterparty, backref="contacts", on_delete="CASCADE")
    trade_point = pw.ForeignKeyField(TradePoint, backref="contacts", null=True,
                                     on_delete="SET NULL")
    full_name = pw.CharField(max_length=300)
    phone = pw.CharField(max_length=20, null=True, index=True)      # E.164
    position = pw.CharField(max_length=300, null=True)
    role = pw.CharField(max_length=20, default=Role.USER.name)      # Role name
    crm_id = pw.CharField(max_length=64, unique=True, null=True)
    # The person's 1C guid (userdata `guid`): one person, a contact row per company, so
    # not unique; what tasks posted to 1C carry as guidAuthor.
    person_crm_id = pw.CharField(max_length=64, null=True, index=True)
    created = pw.DateTimeField(default=utcnow)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "contact"

    @property
    def role_enum(self) -> Role:
        return Role[self.role]


class TelegramUser(Table):
    """A person who wrote to the bot; the primary key is their Telegram id."""

    id = pw.BigIntegerField(primary_key=True)
    username = pw.CharField(max_length=64, null=True)
    first_name = pw.CharField(max_length=300, null=True)
    language = pw.CharField(max_length=8, null=True)
    phone = pw.CharField(max_length=20, null=True, index=True)      # E.164, proven by Telegram
    unverified_phone = pw.CharField(max_length=20, null=True)       # E.164, typed: finds nobody
    full_name = pw.CharField(max_length=300, null=True)             # from the questionnaire
    created = pw.DateTimeField(default=utcnow)
    last_seen = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "telegram_user"


class Membership(Table):
    """A person's role in one counterparty; unverified or pending until proven."""

    telegram_user = pw.ForeignKeyField(TelegramUser, backref="memberships",
                                       on_delete="CASCADE")
    counterparty = pw.ForeignKeyField(Counterparty, backref="memberships", on_delete="CASCADE")
    contact = pw.ForeignKeyField(ContactPerson, backref="memberships", null=True,
                                 on_delete="SET NULL")
    role = pw.CharField(max_length=20, default=Role.USER.name)      # Role name
    status = pw.CharField(max_length=10, default=PENDING)           # MEMBERSHIP_STATUSES
    created = pw.DateTimeField(default=utcnow)
    confirmed_by = pw.ForeignKeyField(TelegramUser, null=True, backref="confirmed_memberships",
                                      on_delete="SET NULL")
    confirmed_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "membership"
        indexes = ((("telegram_user", "counterparty"), True),)

    @property
    def role_enum(self) -> Role:
        return Role[self.role]

    @property
    def is_confirmed(self) -> bool:
        return self.status == CONFIRMED

    @property
    def is_unverified(self) -> bool:
        return self.status == UNVERIFIED


DIRECTORY_MODELS = (Counterparty, TradePoint, ContactPerson, TelegramUser, Membership)
