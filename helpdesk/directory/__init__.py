"""The directory: people, companies and who may do what in which company.

    tables.py       Counterparty, TradePoint, ContactPerson, TelegramUser, Membership
    roles.py        roles and rights: the one permission table
    phones.py       phone numbers in E.164
    users.py        Telegram users: phones, name, language (display_name, language_of)
    memberships.py  memberships and access (access_in, companies_where, company_people)
    companies.py    counterparties, trade points, contact persons: upserts and lookups

Rights are enforced here, not in the dialogs. Every write runs inside
`engine.storage.write_tx()`. The names below are re-exported so `from helpdesk import
directory; directory.access_in(...)` reads as before.
"""
from __future__ import annotations

from .companies import (
    clean_inn,
    contacts_by_phone,
    find_counterparty_by_inn,
    upsert_contact,
    upsert_counterparty,
    upsert_trade_point,
)
from .errors import DirectoryError, NotFound, row_id
from .memberships import (
    access_in,
    access_of,
    companies_where,
    company_people,
    confirm_membership,
    link_user,
    listed_unproven,
    memberships_of,
    pending_memberships,
    reject_membership,
    role_in,
)
from .users import (
    chosen_name,
    display_name,
    get_or_create_user,
    get_user,
    introduced_name,
    known_name,
    language_of,
    set_user_full_name,
    set_user_language,
    set_user_phone,
    users_by_phone,
    users_of_contact,
)

__all__ = ["DirectoryError", "NotFound", "row_id", "clean_inn", "get_or_create_user", "get_user",
           "set_user_phone", "set_user_full_name", "set_user_language", "memberships_of",
           "users_by_phone", "users_of_contact", "display_name", "chosen_name", "known_name", "introduced_name",
           "language_of", "access_of",
           "companies_where", "access_in", "role_in", "link_user", "listed_unproven",
           "upsert_counterparty", "upsert_trade_point", "upsert_contact",
           "find_counterparty_by_inn", "contacts_by_phone", "confirm_membership",
           "reject_membership", "pending_memberships", "company_people"]
