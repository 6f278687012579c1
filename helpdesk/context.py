"""What every template and condition can read about the person in the chat.

`user` (computed once per step, refreshed after an action runs):
    id, name, phone (proven by Telegram), unverified_phone (typed), lang,
    registered (a confirmed membership in some company),
    pending (a link or request is not confirmed yet),
    role (the highest confirmed role: UNAUTHORIZED, USER, ADMINISTRATOR, DIRECTOR),
    companies: [{id, name, inn, role, confirmed, unverified}]: confirmed links and the
        unverified ones the person made by typing an INN; a request made from a typed
        phone is never listed (the person must not learn whose number it is).
`settings`: only the settings listed in engine.template_settings (pay flags, ticket types ...);
    no secret can be listed there (helpdesk.config refuses it).
`delivery`: who receives what with the current settings (helpdesk.deliveries): callbacks,
    tickets_seen, status_notices, bug_reports, card_payments; a text promises only what is true.
`support`: the desk's phone, email and working hours (settings `support`), whether it is
    open now and when it opens next (local time; helpdesk.hours).
"""
from __future__ import annotations

from functools import lru_cache

from engine.session import utcnow

from . import directory
from .config import template_view
from .deliveries import Deliveries
from .directory.roles import Role
from .directory.tables import CONFIRMED, ERASED_USER_ID, PENDING, UNVERIFIED, TelegramUser
from .hours import WorkingHours
from .registry import registry

__all__ = ["user_info", "support_info"]


def user_info(telegram_id: int) -> dict:
    """The `user` template variable for a Telegram id (works for unknown ids too). One
    statement: the person, the CRM's name for them and their memberships (a row each)."""
    database = TelegramUser._meta.database
    rows = database.execute_sql(_user_sql(database.param), (CONFIRMED, int(telegram_id))).fetchall()
    first = rows[0] if rows else (None,) * 6
    members = [(row[6], row[7], row[8:]) for row in rows if row[7] is not None]
    confirmed = [Role[role] for role, status, _ in members if status == CONFIRMED]
    known, full_name, first_name, phone, unverified_phone, language = first[:6]
    return {
        "id": telegram_id,
        "name": "" if not rows or telegram_id == ERASED_USER_ID
        else directory.chosen_name(known, full_name, first_name),
        "phone": phone,
        "unverified_phone": unverified_phone,
        "lang": language,
        "registered": bool(confirmed),
        "pending": any(status != CONFIRMED for _, status, _ in members),
        "role": max(confirmed, default=Role.UNAUTHORIZED).name,
        "companies": [{"id": cid, "name": name, "inn": inn, "role": role,
                       "confirmed": status == CONFIRMED, "unverified": status == UNVERIFIED}
                      for role, status, (cid, name, inn) in members if status != PENDING],
    }


# Hand-written, as engine/session.py's: read on most steps (every menu's conditions), and
# peewee's builder for its three queries (user, memberships, the CRM's name) cost more than
# the rest of the step (cProfile of bench/e2e.py's bot). Per placeholder style.
@lru_cache(maxsize=4)
def _user_sql(p: str) -> str:
    known = ("SELECT k.full_name FROM contact k JOIN membership km ON km.contact_id = k.id "
             f"WHERE km.telegram_user_id = u.id AND km.status = {p} ORDER BY km.id DESC LIMIT 1")
    return (f"SELECT ({known}), u.full_name, u.first_name, u.phone, u.unverified_phone, u.language, "
            "m.role, m.status, c.id, c.name, c.inn FROM telegram_user u "
            "LEFT JOIN membership m ON m.telegram_user_id = u.id "
            "LEFT JOIN counterparty c ON c.id = m.counterparty_id "
            f"WHERE u.id = {p} ORDER BY c.name, c.id")


@registry.provider("user")
def _user(step) -> dict:
    return user_info(step.user_id)


@registry.provider("settings")
def _settings(step) -> dict:
    return template_view(step.services.settings)


@registry.provider("support")
def _support(step) -> dict:
    settings = step.services.settings
    return support_info(settings, utcnow())


def support_info(settings, now) -> dict:
    """The `support` template variable at `now` (UTC)."""
    s, hours = settings.support, WorkingHours.from_settings(settings)
    return {"phone": s.phone, "email": s.email, "days": sorted(hours.days),
            "start": hours.start, "end": hours.end, "open_now": hours.is_open(now),
            "opens_at": hours.opens_at(now)}


@registry.provider("delivery")
def _delivery(step) -> dict:
    return Deliveries.from_settings(step.services.settings).as_dict()
