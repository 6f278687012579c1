"""The outgoing message queue: every message a transport sends is first a row of the
`outgoing` table (interactive replies, notifications, group posts, bug reports).

This module is the table's only writer: whoever else needs a row's status or lease changed
calls a function here, so the life of a row reads in one place (tests/engine/test_outgoing.py
fails on any other module that writes it):

    enqueue ──> pending ──claim──> sending (leased until next_at) ──mark_sent──> sent
                   ^                   │
                   ├──── defer ────────┤    (not sent yet: waits for its forum topic)
                   └──── mark_failed ──┴──> dead (given up)

`enqueue()` writes a row in the caller's transaction, so a domain change and the message it
causes commit together: a crash after commit loses nothing, a rollback sends nothing.
A sender `claim()`s due rows (FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers
never take the same row) with a lease: a row not marked by then is due again (its sender
died). The replies to the update being handled are leased at once (`hold`), since the
transport sends them itself right after the commit.
"""
from __future__ import annotations

import base64
import json
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from functools import lru_cache

import peewee

from .events import Button, KeyButton, Reply
from .session import utcnow
from .storage import Table, lease_rows, write_tx

__all__ = ["Outgoing", "enqueue", "enqueue_many", "drop_sent", "hold", "claim", "renew", "release_leases",
           "mark_sent", "mark_all_sent", "mark_failed", "give_up_chat", "move_chat", "revive", "defer",
           "waiting_before", "last_content",
           "unsent_before", "message_id_for", "key_state", "replace_pending", "rewrite", "drop_keyed", "to_reply",
           "pending_count",
           "PENDING", "SENDING", "SENT", "DEAD"]

PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"


class Outgoing(Table):
    chat_id = peewee.BigIntegerField(index=True)
    body = peewee.TextField()                        # a Reply as JSON
    key = peewee.CharField(max_length=200, null=True, unique=True)   # dedupe / edit-in-place key
    status = peewee.CharField(max_length=10, default=PENDING, index=True)
    priority = peewee.IntegerField(default=5)        # lower goes first (interactive = 0)
    attempts = peewee.IntegerField(default=0)
    next_at = peewee.DateTimeField(default=utcnow, index=True)   # due at; while sending: the lease
    message_id = peewee.BigIntegerField(null=True)
    error = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "outgoing"
        # what was last sent as a message (to skip an edit that changes nothing)
        indexes = ((("chat_id", "message_id"), False),)


# -- queueing (in the caller's transaction) -----------------------------------------------
def enqueue(reply: Reply, *, key: str | None = None, priority: int = 5) -> int | None:
    """Queue `reply` (in the current transaction). With a `key`, a second enqueue of the same
    key is ignored: the same notification is never queued twice. Returns the row id."""
    body = json.dumps(_encode(reply), ensure_ascii=False)
    query = Outgoing.insert(chat_id=reply.chat_id, body=body, key=key, priority=priority)
    if key is not None:
        query = query.on_conflict_ignore()
    return query.execute()


def enqueue_many(replies: list[Reply], *, priority: int = 5, held_chat: int | None = None,
                 lease: timedelta | None = None) -> list[int]:
    """Queue a step's replies in one statement (in the current transaction), in their order;
    the row ids, in the same order. Replies to `held_chat` are leased to the caller for
    `lease` at once (as `hold` does, in the same statement): it sends them itself now. A
    reply's `key` must be new (`key_state`): no dedupe here."""
    if not replies:
        return []
    now = utcnow()
    stamp = _stamp(now)
    due = _stamp(now + lease) if lease is not None else None
    values: list = []
    for r in replies:
        held = lease is not None and r.chat_id == held_chat
        values += (r.chat_id, json.dumps(_encode(r), ensure_ascii=False), r.key, priority,
                   SENDING if held else PENDING, due if held else stamp, stamp)
    database = Outgoing._meta.database
    cursor = database.execute_sql(_insert_sql(len(replies), database.param), values)
    # one statement numbers its rows in VALUES order; RETURNING's order is not promised
    return sorted(row_id for (row_id,) in cursor.fetchall())


# Hand-written, as engine/session.py's: every step runs it, and peewee's query builder cost
# more than the insert (cProfile of bench/e2e.py's bot). Per row count and placeholder style.
@lru_cache(maxsize=64)
def _insert_sql(rows: int, p: str) -> str:
    row = f"({p}, {p}, {p}, {p}, 0, {p}, {p}, {p})"
    return ('INSERT INTO "outgoing" ("chat_id", "body", "key", "priority", "attempts", "status", '
            f'"next_at", "created_at") VALUES {", ".join([row] * rows)} RETURNING "id"')


def _stamp(value: datetime):
    return Outgoing._meta.fields["next_at"].db_value(value)


def replace_pending(key: str, reply: Reply) -> bool:
    """The row of `key`, while no sender has claimed it yet, is to send `reply` instead (in
    the current transaction): a message changed before it went out is sent as it is now,
    with no edit after it. False when the row is claimed, sent or gone (then edit it)."""
    body = json.dumps(_encode(reply), ensure_ascii=False)
    return bool(Outgoing.update(body=body)
                .where((Outgoing.key == key) & (Outgoing.status == PENDING)).execute())


def rewrite(key: str, text: str, buttons: list) -> Outgoing | None:
    """The stored text and buttons of the row of `key`, whatever its status, are now these
    (what later edits start from, and what it sends if not out yet); the row, None if none."""
    row = Outgoing.get_or_none(Outgoing.key == key)
    if row is None:
        return None
    body = json.loads(row.body)
    body.update(text=text, buttons=[[asdict(b) for b in r] for r in buttons])
    Outgoing.update(body=json.dumps(body, ensure_ascii=False)).where(Outgoing.id == row.id).execute()
    return row


def drop_keyed(prefix: str) -> int:
    """Delete every row whose key starts with `prefix`, sent or not (what must not go out
    any more, nor be kept: messages naming a person who erased their data); how many."""
    return Outgoing.delete().where(Outgoing.key.startswith(prefix)).execute()


def hold(row_ids: list[int], lease: timedelta) -> None:
    """Lease rows just queued to their enqueuer, who sends them itself right away: the queue
    leaves them alone until the lease runs out (then they are due again, as after a crash)."""
    (Outgoing.update(status=SENDING, next_at=utcnow() + lease)
     .where(Outgoing.id.in_(row_ids)).execute())


# -- leases (a sender's claim on a row) ---------------------------------------------------
def claim(limit: int = 50, *, lease_seconds: float = 60) -> tuple[list[Outgoing], datetime | None]:
    """Take up to `limit` due rows for sending, leased for `lease_seconds`. Returns the rows
    and the lease as stored (the same `next_at` for all; None when no row was due): `renew`
    extends a lease only while the row still carries it."""
    now = utcnow()
    query = (Outgoing.select()
             .where((Outgoing.status.in_([PENDING, SENDING])) & (Outgoing.next_at <= now))
             .order_by(Outgoing.priority, Outgoing.id).limit(limit))
    rows = lease_rows(query, status=SENDING, until=now + timedelta(seconds=lease_seconds))
    if not rows:
        return [], None
    return rows, Outgoing.select(Outgoing.next_at).where(Outgoing.id == rows[0].id).scalar()


def renew(row_id: int, until: datetime, lease_seconds: float) -> datetime | None:
    """Extend a lease that still carries `until`; the new lease, or None when the row was
    claimed by another sender meanwhile (or already marked)."""
    new = utcnow() + timedelta(seconds=lease_seconds)
    with write_tx():
        changed = (Outgoing.update(next_at=new)
                   .where((Outgoing.id == row_id) & (Outgoing.status == SENDING)
                          & (Outgoing.next_at == until))
                   .execute())
    return new if changed else None


def release_held(leases: dict[int, datetime]) -> int:
    """A stopping sender gives back the rows it holds and will not send (row id -> its lease
    as claimed): they are due at once for whichever sender runs next; a row marked meanwhile
    or claimed again by another sender is left alone. How many."""
    released = 0
    with write_tx():
        for row_id, until in leases.items():
            released += (Outgoing.update(next_at=utcnow())
                         .where((Outgoing.id == row_id) & (Outgoing.status == SENDING)
                                & (Outgoing.next_at == until))
                         .execute())
    return released


def release_leases() -> int:
    """Every leased row is due now: for a process that knows it is the only sender (its
    previous run was killed with rows leased); how many."""
    with write_tx():
        return Outgoing.update(next_at=utcnow()).where(Outgoing.status == SENDING).execute()


# -- marks (what Telegram answered) --------------------------------------------------------
def mark_sent(row_id: int, message_id: int | None) -> None:
    Outgoing.update(status=SENT, message_id=message_id, sent_at=utcnow(), error=None) \
        .where(Outgoing.id == row_id).execute()


def mark_all_sent(sent: dict[int, int | None]) -> int:
    """Mark rows sent (row id -> Telegram's message id) in one statement; how many."""
    if not sent:
        return 0
    values = [SENT, *(x for pair in sent.items() for x in pair), _stamp(utcnow()), *sent]
    database = Outgoing._meta.database
    return database.execute_sql(_mark_sent_sql(len(sent), database.param), values).rowcount


# Hand-written, as enqueue_many's: the sender marks every batch it sent, and peewee's
# builder cost more than the update (cProfile of bench/e2e.py's bot). Typed: a batch of
# answers that are no message (a pre-checkout's, an invoice's None) leaves PostgreSQL a
# CASE of NULLs it reads as text.
@lru_cache(maxsize=64)
def _mark_sent_sql(rows: int, p: str) -> str:
    cases = " ".join([f"WHEN {p} THEN {p}"] * rows)
    return (f'UPDATE "outgoing" SET "status" = {p}, "message_id" = CAST(CASE "id" {cases} END AS BIGINT), '
            f'"sent_at" = {p}, "error" = NULL WHERE "id" IN ({", ".join([p] * rows)})')


def mark_failed(row_id: int, error: str, *, retry_in: float | None, max_attempts: int = 10) -> None:
    """Reschedule after `retry_in` seconds, or give up (status dead) when None or too many."""
    row = Outgoing.get_by_id(row_id)
    attempts = row.attempts + 1
    dead = retry_in is None or attempts >= max_attempts
    Outgoing.update(status=DEAD if dead else PENDING, attempts=attempts, error=error[:2000],
                    next_at=utcnow() + timedelta(seconds=retry_in or 0)) \
        .where(Outgoing.id == row_id).execute()


def give_up_chat(chat_id: int, error: str) -> int:
    """Every queued row of a chat dead at once (the bot was removed from a group: each row
    would cost a call that can only fail); rows being sent are left to their sender."""
    return (Outgoing.update(status=DEAD, error=error[:2000])
            .where((Outgoing.chat_id == int(chat_id)) & (Outgoing.status == PENDING)).execute())


def move_chat(old: int, new: int) -> int:
    """A chat's queued rows go to another chat id (a group upgraded to a supergroup)."""
    return (Outgoing.update(chat_id=int(new))
            .where((Outgoing.chat_id == int(old)) & (Outgoing.status == PENDING)).execute())


def revive(key: str, reply: Reply) -> bool:
    """Queue a given-up keyed row again, as `reply` (the bot is back where it was refused);
    False when the row is not dead (sent, still queued, never queued)."""
    body = json.dumps(_encode(reply), ensure_ascii=False)
    return bool(Outgoing.update(status=PENDING, body=body, chat_id=reply.chat_id, attempts=0,
                                error=None, message_id=None, next_at=utcnow())
                .where((Outgoing.key == key) & (Outgoing.status == DEAD)).execute())


def revive_rows(row_ids: list[int]) -> int:
    """Given-up rows queued again as they were: their ids, so their order in the chat, kept
    (a client's message written while the bot was out of the group reaches it once back)."""
    if not row_ids:
        return 0
    return (Outgoing.update(status=PENDING, attempts=0, error=None, next_at=utcnow())
            .where(Outgoing.id.in_(list(row_ids)) & (Outgoing.status == DEAD)).execute())


def defer(row_id: int, seconds: float, reason: str) -> None:
    """Not sent yet, and not a failure (no attempt counted): due again in `seconds`. The
    reason stays in `error` ("waits for t5:topic"): later rows of the chat waiting for the
    same find it there and keep their order behind it."""
    Outgoing.update(status=PENDING, error=reason[:2000],
                    next_at=utcnow() + timedelta(seconds=seconds)) \
        .where(Outgoing.id == row_id).execute()


# -- reads ---------------------------------------------------------------------------------
def waiting_before(chat_id: int, row_id: int, reason: str) -> bool:
    """An older row of the chat, not sent yet, deferred for the same reason."""
    O = Outgoing
    return O.select().where((O.chat_id == chat_id) & (O.id < row_id) & (O.error == reason)
                            & O.status.in_([PENDING, SENDING])).exists()


def last_content(chat_id: int, message_id: int, before: int) -> tuple[str, list] | None:
    """(text, buttons as JSON) of what the queue last put into message `message_id` of the
    chat (its send or its latest edit, rows older than `before`); None when unknown."""
    O = Outgoing
    row = (O.select(O.body).where((O.chat_id == chat_id) & (O.message_id == message_id)
                                  & (O.status == SENT) & (O.id < before))
           .order_by(O.sent_at.desc(), O.id.desc()).first())
    if row is None:
        return None
    body = json.loads(row.body)
    if body.get("photo") is not None or body.get("document") is not None or body.get("topic"):
        return None
    return body.get("text") or "", body.get("buttons") or []



def unsent_before(chat_id: int, row_id: int, limit: int = 20) -> list[int]:
    """Interactive rows of this chat older than `row_id` that are still being sent."""
    O = Outgoing
    return [r for (r,) in O.select(O.id).where(
        (O.chat_id == chat_id) & (O.status == SENDING) & (O.priority == 0)
        & (O.id < row_id)).limit(limit).tuples()]


def message_id_for(key: str) -> int | None:
    """Telegram's id of the message sent for `key` (to edit it in place later)."""
    row = Outgoing.select(Outgoing.message_id).where(Outgoing.key == key).first()
    return row.message_id if row else None


def key_state(key: str) -> tuple[str | None, int | None]:
    """(status, Telegram's message id) of the row of `key`; (None, None) when there is none."""
    row = Outgoing.select(Outgoing.status, Outgoing.message_id).where(Outgoing.key == key).first()
    return (row.status, row.message_id) if row else (None, None)


def pending_count() -> int:
    return Outgoing.select().where(Outgoing.status.in_([PENDING, SENDING])).count()


def to_reply(row: Outgoing) -> Reply:
    data = json.loads(row.body)
    data["buttons"] = [[Button(**b) for b in r] for r in data.get("buttons", [])]
    data["keyboard"] = [[KeyButton(**b) for b in r] for r in data.get("keyboard", [])]
    for field in ("photo", "document"):
        if isinstance(data.get(field), dict):
            data[field] = base64.b64decode(data[field]["b64"])
    return Reply(**data)


def _encode(reply: Reply) -> dict:
    """The row's body: `asdict(reply)` by hand (asdict deep-copies every value and was a
    twentieth of the bot's CPU per update, cProfile of bench/e2e.py's bot); the dict fields
    (invoice, topic ...) are plain JSON data, dumped at once, so they are not copied."""
    data = {name: getattr(reply, name) for name in _REPLY_FIELDS}
    data["buttons"] = [[{"text": b.text, "data": b.data, "url": b.url} for b in row] for row in reply.buttons]
    data["keyboard"] = [[{"text": b.text, "request_contact": b.request_contact} for b in row]
                        for row in reply.keyboard]
    for field in ("photo", "document"):
        if isinstance(data[field], bytes):
            data[field] = {"b64": base64.b64encode(data[field]).decode()}
    return data


_REPLY_FIELDS = tuple(f.name for f in fields(Reply))


def drop_sent(chat_id: int) -> int:
    """Delete the rows already sent to `chat_id` (kept for edits in place): their texts may
    hold what the person asked to forget; returns how many."""
    return Outgoing.delete().where((Outgoing.chat_id == int(chat_id))
                                   & (Outgoing.status == SENT)).execute()
