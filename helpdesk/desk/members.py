"""Who is in the work group, as Telegram's membership updates tell (issue 16, point 3 and
"bad input": the bot removed from the group).

* `chat_member` (a person): a staff member who left or was kicked loses their role (the
  row stays REVOKED, as after /unstaff, so the settings' seed never gives it back); a
  Telegram administrator who leaves, or is demoted, is no dispatcher any more; one promoted
  is one at once (the refresh, helpdesk/desk/admins.py, would find both at its next run).
  A technician who leaves keeps his active tickets (their history names him) and the
  dispatchers are told, with the tickets, to assign them again (desk/staff_left).
* `my_chat_member` (the bot itself) removed or kicked: a warning in the log an operator can
  act on, the dispatchers and the notify.bug user told privately (once per outage, keyed
  as helpdesk/desk/admins.py keys it), and the group's queued messages given up once
  (dead, not each one tried against a 403). The outage is kept in `sync_state`
  (`desk:out:<group>`).
* the bot added back (or a refresh reaching the group again after an outage: a missed
  update): every given-up row of an active ticket is queued again, in the order written:
  the cards and topics that never reached the group current (a ticket filed while the bot
  was out is not lost), a card edit refused meanwhile redone as the ticket is now, and the
  rest (a client's message written around the outage, an SLA warning) as they were; a row
  refused for a reason of its own (a 400) is not tried again.
"""
from __future__ import annotations

import hashlib
import logging
import re

from engine import outgoing
from engine.contracts import ActionContext
from engine.events import Reply
from engine.storage import write_tx
from helpdesk.directory.tables import utcnow
from helpdesk.notices import OPS, queue_notice
from helpdesk.sync.pull import SyncState
from helpdesk.tickets import ACTIVE, Ticket, ticket_view
from helpdesk.tickets.workgroup import group_post

from . import cards, names, staff, topics
from .group import topics_on
from .tables import GroupAdmin

__all__ = ["on_member", "person", "bot_removed", "bot_back", "is_out", "LEFT", "ADMIN"]

log = logging.getLogger(__name__)
LEFT = ("left", "kicked")
ADMIN = ("administrator", "creator")
REPOST_MAX = 500                  # tickets queued again at once
LEFT_LISTED = 50                  # a leaver's tickets named in the dispatchers' notice
_TICKET_KEY = re.compile(r"t(\d+):")
_CARD_EDIT = re.compile(r"t\d+:v\d+:post$")
# the errors of a row given up because the bot was out (bot_removed's, the sender's 403/400)
_OUTAGE = ("removed from the work group", "forbidden", "kicked", "chat not found", "not a member")


def on_member(ctx: ActionContext) -> bool:
    """A membership change in the work group (talk.on_group hands it here)."""
    ev, settings = ctx.event, ctx.services.settings
    member, group = ev.member or {}, ev.chat_id
    if member.get("me"):
        if member.get("new") in LEFT:
            bot_removed(settings, ctx.templates, group, member["new"], by=ev.user_id)
        elif member.get("old") in LEFT:
            bot_back(settings, ctx.templates, group)
        return True
    _person(ctx.templates, group, member)
    return True


def person(templates, group: int, member: dict) -> None:
    """A person's status in the group as Telegram says it now (an update, or the refresh
    asking: helpdesk/desk/admins.py), handled as a membership change."""
    _person(templates, group, member)


def _person(templates, group: int, member: dict) -> None:
    uid, new = int(member.get("id") or 0), member.get("new")
    if not uid or member.get("is_bot"):
        return
    if new in LEFT:
        revoked, was_admin = staff.revoke(uid), _drop_admin(uid)
        if revoked or was_admin:
            log.info("work group %s: staff member %s %s the group: role revoked", group, uid, new)
            _orphaned(templates, uid, member)
    elif new in ADMIN:
        staff.add_admin(group, member)
    elif _drop_admin(uid):
        log.info("work group %s: %s is no administrator now: no dispatcher by that status", group, uid)


def _orphaned(templates, uid: int, member: dict) -> int:
    """The active tickets of a technician who left stay his (the history and the reports
    name who worked on them) but nobody can act as him now: the dispatchers are told, with
    the tickets, to assign them again; how many were told."""
    tickets = list(Ticket.select().where((Ticket.master_telegram_id == uid) & Ticket.status.in_(ACTIVE))
                   .order_by(Ticket.id).limit(LEFT_LISTED))
    if not tickets:
        return 0
    name = names.name_of(uid, member.get("first_name"), member.get("last_name"), member.get("username"))
    context = {"name": name, "tickets": [ticket_view(t) for t in tickets]}
    what = hashlib.sha256(",".join(f"{t.id}:{t.version}" for t in tickets).encode()).hexdigest()[:16]
    with write_tx():
        told = sum(bool(queue_notice(templates, to, "desk/staff_left", context, priority=OPS,
                                     key=f"desk:left:{uid}:{what}:{to}"))
                   for to in staff.dispatcher_ids())
    log.warning("technician %s left the work group with %d active ticket(s) (%s): %d dispatcher(s) "
                "told to assign them again", uid, len(tickets), ", ".join(t.label for t in tickets), told)
    return told


def _drop_admin(uid: int) -> bool:
    with write_tx():
        return bool(GroupAdmin.delete().where(GroupAdmin.telegram_user == uid).execute())


# -- the bot itself --------------------------------------------------------------------------
def _out_key(group: int) -> str:
    return f"desk:out:{int(group)}"


def is_out(group: int) -> bool:
    """The bot was removed from the group and is not back (as far as we heard)."""
    row = SyncState.get_or_none(SyncState.name == _out_key(group))
    return bool(row and row.value)


def _set_out(group: int, value: str) -> None:
    (SyncState.insert(name=_out_key(group), value=value, updated=utcnow())
     .on_conflict(conflict_target=[SyncState.name],
                  update={SyncState.value: value, SyncState.updated: utcnow()}).execute())


def bot_removed(settings, templates, group: int, reason: str, *, by: int | None = None) -> int:
    """See the module docstring; how many people were told."""
    since = GroupAdmin.select(GroupAdmin.seen_at).order_by(GroupAdmin.seen_at.desc()).scalar()
    since = since.isoformat() if since else "never"
    context = {"reason": str(reason)[:200]}
    with write_tx():
        dropped = outgoing.give_up_chat(group, f"the bot was removed from the work group ({reason})")
        _set_out(group, utcnow().isoformat())
        told = sum(bool(queue_notice(templates, uid, "desk/group_lost", context, priority=OPS,
                                     key=f"desk:group-lost:{group}:{since}:{uid}"))
                   for uid in staff.dispatcher_ids())
        bug = settings.notify.bug
        if bug.use and bug.telegram_user_id:
            told += bool(queue_notice(templates, bug.telegram_user_id, "desk/group_lost", context,
                                      key=f"desk:bot-out:{group}:{since}", priority=OPS))
    log.warning("the bot was removed from the work group %s (%s, by %s): %d queued message(s) "
                "to it given up; tickets are still stored. Add the bot back to the group (as an "
                "administrator, to manage topics): their cards are posted again then",
                group, reason, by or "?", dropped)
    return told


def bot_back(settings, templates, group: int) -> int:
    """The bot is in the group again: every message to it given up for an active ticket
    queued again (see the module docstring); how many tickets."""
    with write_tx():
        _set_out(group, "")
        dead = _given_up(group)
        tickets = list(Ticket.select().where(Ticket.id.in_(list(dead) or [0])
                                             & Ticket.status.in_(ACTIVE)).order_by(Ticket.id))
        count = sum(_repost(settings, templates, ticket, dead[ticket.id]) for ticket in tickets)
    log.info("the bot is back in the work group %s: %d ticket(s) queued again", group, count)
    return count


def _given_up(group: int) -> dict[int, list[tuple[int, str, bool]]]:
    """The group's given-up rows of each ticket (keyed t<N>:...), oldest first, each with
    whether the outage gave it up (not a refusal of its own, which would only fail again)."""
    O, found = outgoing.Outgoing, {}
    rows = (O.select(O.id, O.key, O.error).where((O.chat_id == int(group)) & (O.status == outgoing.DEAD)
                                         & O.key.startswith("t"))
            .order_by(O.id).limit(REPOST_MAX * 20).tuples())
    for row_id, key, error in rows:
        head = _TICKET_KEY.match(key)
        if head:
            outage = any(w in (error or "").lower() for w in _OUTAGE)
            found.setdefault(int(head.group(1)), []).append((row_id, key, outage))
    return dict(list(found.items())[:REPOST_MAX])


def _repost(settings, templates, ticket: Ticket, dead: list[tuple[int, str, bool]]) -> int:
    """The ticket's thread made whole, in the order it was written: its topic and card
    (when they never went out) queued again current, a card edit refused meanwhile redone
    as the ticket is now (the older ones are history), every other message as it was."""
    post, edits = topics.post_key(ticket.id), [k for _, k, _ in dead if _CARD_EDIT.match(k)]
    if topics_on(settings):
        topics.open_again(settings, templates, ticket_view(ticket))
    text, buttons = group_post(ticket, templates)
    group = settings.notify.system.work_group_id
    cards.card_changed(ticket.id, text, buttons)
    revived = outgoing.revive(post, topics.into_thread(ticket.id, Reply(group, text, buttons=buttons)))
    status, message_id = outgoing.key_state(post)
    if edits and not revived and status == outgoing.SENT and message_id:
        outgoing.revive(edits[-1], Reply(group, text, buttons=buttons, edit_message_id=message_id))
    skip = {post, topics.topic_key(ticket.id), *edits}
    outgoing.revive_rows([row_id for row_id, key, outage in dead if outage and key not in skip])
    return 1
