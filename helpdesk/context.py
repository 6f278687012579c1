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

from engine.session import utcnow

from . import directory
from .config import template_view
from .deliveries import Deliveries
from .directory.roles import Role
from .directory.tables import PENDING, TelegramUser
from .hours import WorkingHours
from .registry import registry

__all__ = ["user_info", "support_info"]


def user_info(telegram_id: int) -> dict:
    """The `user` template variable for a Telegram id (works for unknown ids too)."""
    user = TelegramUser.get_or_none(TelegramUser.id == telegram_id)
    members = directory.memberships_of(telegram_id) if user else []
    confirmed = [m for m in members if m.is_confirmed]
    role = max((m.role_enum for m in confirmed), default=Role.UNAUTHORIZED)
    return {
        "id": telegram_id,
        "name": directory.display_name(user, or_handle=False),
        "phone": user.phone if user else None,
        "unverified_phone": user.unverified_phone if user else None,
        "lang": user.language if user else None,
        "registered": bool(confirmed),
        "pending": any(not m.is_confirmed for m in members),
        "role": role.name,
        "companies": [{"id": m.counterparty.id, "name": m.counterparty.name,
                       "inn": m.counterparty.inn, "role": m.role, "confirmed": m.is_confirmed,
                       "unverified": m.is_unverified}
                      for m in members if m.status != PENDING],
    }


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
