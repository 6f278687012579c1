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

Each refresh also asks getChatMember about the next ROSTER_CHECKS people of the roster who
are not administrators (round the roster across refreshes, so the calls per refresh are
bounded): one Telegram says left (or kicked, or restricted and out) is handled as the
chat_member update a bot that is no administrator never gets (helpdesk/desk/members.py).

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

from engine.storage import write_tx
from helpdesk.directory.tables import utcnow
from helpdesk.registry import registry
from helpdesk.sync.pull import SyncState

from . import members, staff
from .group import follow_moves, learn_forum

__all__ = ["refresh_admins", "fetch_group", "group_lost", "LOST"]

log = logging.getLogger(__name__)
ROSTER_CHECKS = 20        # roster members asked about per refresh (getChatMember each)
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
    _check_roster(app, group, {int(a["id"]) for a in admins})
    return added, removed


def _check_roster(app, group: int, admins: set[int]) -> int:
    """Ask Telegram about the next ROSTER_CHECKS people of the roster (round the roster,
    from where the last refresh stopped): a chat_member update reaches only a bot that is
    an administrator, so without this a technician who left would stay staff for good.
    Those gone are handled as the update would be (helpdesk/desk/members.py); how many."""
    roster = [uid for uid in staff.staff_ids() if uid not in admins]
    if not roster:
        return 0
    state = SyncState.get_or_none(SyncState.name == f"desk:roster:{int(group)}")
    after = int(state.value) if state and (state.value or "").lstrip("-").isdigit() else 0
    batch = ([uid for uid in roster if uid > after] + [uid for uid in roster if uid <= after])
    batch = batch[:ROSTER_CHECKS]
    gone = asyncio.run(_departed(app.settings, group, batch))
    with write_tx():
        (SyncState.insert(name=f"desk:roster:{int(group)}", value=str(batch[-1]), updated=utcnow())
         .on_conflict(conflict_target=[SyncState.name],
                      update={SyncState.value: str(batch[-1]), SyncState.updated: utcnow()}).execute())
    for member in gone:
        log.info("work group %s: roster member %s is %s there (getChatMember)", group, member["id"],
                 member["new"])
        members.person(app.engine.flowset.templates, group, member)
    return len(gone)


async def _departed(settings, group: int, ids: list[int]) -> list[dict]:
    """Those of `ids` Telegram says are no member of the group (left, kicked, or restricted
    and out), as the adapter words a membership change; one not known to Telegram is skipped."""
    from telegram.error import BadRequest

    from engine.telegram.bot import BotConfig, make_bot  # the transport, only when asked
    bot, gone = make_bot(BotConfig(token=settings.bot.token.get_secret_value(),
                                   api_url=settings.bot.api_url)), []
    async with bot:
        for uid in ids:
            try:
                m = await bot.get_chat_member(group, uid)
            except BadRequest as e:       # "user not found": nothing to conclude from
                log.info("work group %s: getChatMember %s refused: %s", group, uid, e)
                continue
            out = m.status in members.LEFT or (m.status == "restricted" and not m.is_member)
            if out:
                gone.append({"id": uid, "first_name": m.user.first_name or "",
                             "last_name": m.user.last_name or "", "username": m.user.username or "",
                             "is_bot": bool(m.user.is_bot), "old": "member", "new": "left", "me": False})
    return gone


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
