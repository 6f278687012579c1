"""The work group's Telegram administrators, dispatchers by that status (issue 16, point 3).

Learnt by asking Telegram (getChatAdministrators; getChat in the same session says whether
the group is a forum: helpdesk/desk/group.py) once at start and every
`tickets.admins_refresh_seconds` (the job `desk_admins`), not from chat_member updates: those
reach a bot only while it is an administrator itself and only for changes made after it
joined, so the set of admins already there would never be known; one call gives the whole
set every time, whatever the bot's own rights, and a missed update heals at the next run.
The cost is the lag: a new administrator is one for us at the next refresh (the refusal of
a granting command says so). The call goes through the transport's own Bot API client
(`engine.telegram.bot.make_bot`), imported when the job runs: building the app imports no
transport.

The bot removed from the group: Telegram answers 403 (kicked) or 400 (chat not found). The
last known roster stays as it is (the people did not change), nothing of the tickets is
lost (they are recorded; the group's queued messages are given up), and the dispatchers
are told privately, once per outage: the notice's key names the last time the group was
reachable, which the next successful refresh moves on. That refresh also posts the cards
that never reached the group meanwhile (helpdesk/desk/members.py, as when Telegram's
my_chat_member update says the bot is back).
"""
from __future__ import annotations

import asyncio
import logging

from helpdesk.registry import registry

from . import members, staff
from .group import follow_moves, learn_forum

__all__ = ["refresh_admins", "fetch_group", "group_lost", "LOST"]

log = logging.getLogger(__name__)
LOST = ("kicked", "not found", "not a member", "bot was blocked", "have no rights", "deleted")


@registry.job("desk_admins", every=lambda s: s.tickets.admins_refresh_seconds, at_start=True)
def refresh_admins(app) -> tuple[list[int], list[int]] | None:
    """One refresh: (added, removed) administrators, or None when there is no work group,
    no token, or the group cannot be asked (see the module docstring)."""
    settings = app.settings
    group = follow_moves(settings)
    if not group or not settings.bot.token.get_secret_value():
        return None
    try:
        admins, is_forum = asyncio.run(fetch_group(settings, group))
    except Exception as e:
        if not _is_lost(e):
            raise
        log.warning("work group %s cannot be asked for its administrators: %s", group, e)
        group_lost(app, group, str(e))
        return None
    learn_forum(group, is_forum, "getChat")
    if members.is_out(group):                # back, and no update told us (or it is late)
        members.bot_back(app.settings, app.engine.flowset.templates, group)
    added, removed = staff.set_admins(group, admins)
    if added or removed:
        log.info("work group %s administrators: +%s -%s", group, added, removed)
    return added, removed


async def fetch_group(settings, group: int) -> tuple[list[dict], bool]:
    """The group's human administrators as plain dicts ({id, first_name, last_name,
    username}) and whether it is a forum (getChat), in one session."""
    from engine.telegram.bot import BotConfig, make_bot  # the transport, only when asked
    bot = make_bot(BotConfig(token=settings.bot.token.get_secret_value(), api_url=settings.bot.api_url))
    async with bot:
        members = await bot.get_chat_administrators(group)
        chat = await bot.get_chat(group)
    return [{"id": m.user.id, "first_name": m.user.first_name or "",
             "last_name": m.user.last_name or "", "username": m.user.username or ""}
            for m in members if not m.user.is_bot], bool(chat.is_forum)


def _is_lost(error: Exception) -> bool:
    from telegram.error import BadRequest, Forbidden
    return isinstance(error, Forbidden) or (
        isinstance(error, BadRequest) and any(w in str(error).lower() for w in LOST))


def group_lost(app, group: int, reason: str) -> int:
    """The group is out of reach: as when Telegram says the bot was removed (members.py):
    the dispatchers told privately once per outage, its queued messages given up."""
    return members.bot_removed(app.settings, app.engine.flowset.templates, group, reason)
