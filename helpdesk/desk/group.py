"""The work group itself: is it a forum now, and where is it (a group upgraded to a supergroup).

Settings `desk.topics`: true / false force topics on / off; `auto` (the default) follows
what the group is, learnt from Telegram and kept in `sync_state` (`desk:forum:<group>`:
"1" / "0" and what told us), so every worker and every restart agrees:

* `getChat` (`is_forum`) at start and at every refresh of the roster (the job
  `desk_admins`, helpdesk/desk/admins.py);
* the group's own incoming messages and presses (`Event.chat_is_forum`, Telegram's
  `message.chat.is_forum`): a group turned forum or plain is known at its next message;
* a topic creation Telegram refused with "the chat is not a forum": off at once (that
  ticket's card went to the group itself, engine/telegram/threads.py: nothing lost).

Until Telegram has said anything the desk posts plain cards (a plain post always lands).

An upgraded group (a `migrate_to_chat_id` service message): the desk follows the new id
(kept as `desk:moved:<configured id>`, applied to the settings at start and at every
refresh, logged), and the old group's rows still queued are moved along with it.
"""
from __future__ import annotations

import logging

from engine import outgoing
from engine.events import Event
from engine.outgoing import DEAD, Outgoing
from engine.storage import write_tx
from helpdesk.directory.tables import utcnow
from helpdesk.sync.pull import SyncState

__all__ = ["AUTO", "topics_on", "forum_state", "learn_forum", "learn_from", "follow_moves",
           "moved", "refused_topic"]

log = logging.getLogger(__name__)
AUTO = "auto"
NOT_A_FORUM = "not a forum"          # Telegram's 400 for a topic method in a plain group


def _forum_key(group: int) -> str:
    return f"desk:forum:{int(group)}"


def _moved_key(group: int) -> str:
    return f"desk:moved:{int(group)}"


def _get(name: str) -> str | None:
    row = SyncState.get_or_none(SyncState.name == name)
    return row.value if row else None


def _put(name: str, value: str) -> None:
    (SyncState.insert(name=name, value=value, updated=utcnow())
     .on_conflict(conflict_target=[SyncState.name],
                  update={SyncState.value: value, SyncState.updated: utcnow()}).execute())


# -- is it a forum ---------------------------------------------------------------------------
def forum_state(group: int) -> bool | None:
    """What Telegram last said the group is (True: a forum); None when it never said."""
    value = _get(_forum_key(group))
    return None if value is None else value.startswith("1")


def learn_forum(group: int, is_forum: bool, source: str) -> bool:
    """Record that the group is (not) a forum, as `source` told; True when that changed."""
    if not group or forum_state(group) is bool(is_forum):
        return False
    with write_tx():
        _put(_forum_key(group), f"{int(bool(is_forum))} {source}"[:200])
    log.info("work group %s is %s (learnt from %s)", group,
             "a forum: a topic per ticket" if is_forum else "not a forum: the card is the thread",
             source)
    return True


def topics_on(settings) -> bool:
    """Does a new ticket get a topic (see the module docstring)?"""
    mode, group = settings.desk.topics, settings.notify.system.work_group_id
    if mode != AUTO or not group:
        return bool(mode) and bool(group)
    if refused_topic(group):
        learn_forum(group, False, "a refused topic creation")
        return False
    return forum_state(group) is True


def refused_topic(group: int) -> bool:
    """The group's latest topic creation was refused as "not a forum" (its card went to
    the group itself); one indexed look at the newest topic row."""
    O = Outgoing
    row = (O.select(O.status, O.error)
           .where((O.chat_id == int(group)) & O.key.startswith("t") & O.key.endswith(":topic"))
           .order_by(O.id.desc()).first())
    return bool(row and row.status == DEAD and NOT_A_FORUM in (row.error or "").lower())


def learn_from(settings, event: Event) -> None:
    """A work group's message or press: what it says of the group (forum, upgraded)."""
    group = settings.notify.system.work_group_id
    if event.chat_id != group:
        return
    if event.migrate_to_chat_id:
        moved(settings, group, event.migrate_to_chat_id)
    elif event.chat_is_forum is not None and settings.desk.topics == AUTO:
        learn_forum(group, event.chat_is_forum, "a message in the group")


# -- upgraded to a supergroup ----------------------------------------------------------------
def moved(settings, old: int, new: int) -> int:
    """The work group `old` is now the supergroup `new`: the desk follows it (in memory at
    once; stored as `desk:moved:<old>` for the other workers and the next start), and the
    old group's queued rows go to the new one; how many rows moved."""
    with write_tx():
        _put(_moved_key(old), str(int(new)))
        count = outgoing.move_chat(old, new)
    log.warning("work group %s was upgraded to the supergroup %s: the desk follows it (%d queued "
                "message(s) moved); set notify.system.work_group_id: %s in settings.yaml",
                old, new, count, new)
    settings.notify.system.work_group_id = int(new)
    return count


def follow_moves(settings) -> int | None:
    """At start and at every refresh: the work group the settings name, followed through
    every upgrade recorded; the id now in use (None: no work group)."""
    group = settings.notify.system.work_group_id
    seen = set()
    while group and group not in seen and (new := _get(_moved_key(group))):
        seen.add(group)
        group = int(new)
    if group and group != settings.notify.system.work_group_id:
        log.info("work group %s was upgraded: using the supergroup %s",
                 settings.notify.system.work_group_id, group)
        settings.notify.system.work_group_id = group
    return group or None
