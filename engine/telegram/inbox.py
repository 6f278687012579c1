"""The inbox: every raw Telegram update is stored here before Telegram is told we have it.

python-telegram-bot's Updater confirms a getUpdates batch (the next offset) before any handler
runs, and its webhook answers 200 before handling (so measured with PTB 22), so
a crash there loses updates. We store first, acknowledge second: the poller writes a whole
batch in one transaction and only then asks for the next offset; the webhook route answers
200 only after the row is committed. `update_id` is unique, so a re-delivered update is
ignored. A row is marked done in the same transaction as its effect (see `UpdateTx`), and
rows still pending at start are replayed.

Several worker processes (PostgreSQL) share the inbox: `lock_chat` takes a per-chat advisory
lock for the rest of the transaction, and whoever holds it applies that chat's
`pending_head` row, so one chat's updates are applied one at a time, in update_id order,
whichever worker stored them (see `SharedDispatcher`). A batch of chats takes the locks it
can get at once (`try_lock_chats`), then reads their heads (`pending_heads`) in a statement
of its own: one started after the locks were taken sees every row their last holder
committed (READ COMMITTED takes a snapshot per statement).
"""
from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache

import peewee

from ..outgoing import SENDING, Outgoing
from ..session import utcnow
from ..storage import Table, db, is_postgres, write_tx

__all__ = ["InboxItem", "store", "drop_handled", "pending", "mark_done", "mark_failed", "prune",
           "chat_of", "lock_chat", "try_hold_chats", "release_chats", "pending_head", "pending_heads", "stale_chats", "backlog", "PENDING", "DONE", "FAILED"]

PENDING, DONE, FAILED = "pending", "done", "failed"   # failed: could not be applied, kept for a look
IN_FLIGHT = 20                      # a chat's replies in flight read with its head, at most


class InboxItem(Table):
    update_id = peewee.BigIntegerField(unique=True)
    chat_id = peewee.BigIntegerField(index=True)
    raw = peewee.TextField()                      # the update exactly as Telegram sent it
    status = peewee.CharField(max_length=10, default=PENDING, index=True)
    received_at = peewee.DateTimeField(default=utcnow)
    done_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "telegram_inbox"


def chat_of(update: dict) -> int:
    """The chat whose order this update belongs to (the user's id when there is no chat)."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if chat and "id" in chat:
            return int(chat["id"])
        sender = value.get("from") or value.get("user")
        if sender and "id" in sender:
            return int(sender["id"])
    return 0


def store(updates: list[dict]) -> list[InboxItem]:
    """Insert the updates; return the rows that are new (duplicates of an already stored
    update_id are ignored). One statement, atomic by itself, so no transaction around it:
    the database itself tells which rows it took (ON CONFLICT DO NOTHING / OR IGNORE with
    RETURNING), where a read of the known ids first cost two more round trips. Should the
    connection drop after the server committed, the reconnecting retry finds the rows
    stored and returns them as known: they are not lost, they wait pending for the sweep
    (shared) or the next start's replay."""
    if not updates:
        return []
    rows = {int(u["update_id"]): dict(update_id=int(u["update_id"]), chat_id=chat_of(u),
                                      raw=json.dumps(u, ensure_ascii=False))
            for u in _unique(updates)}
    taken = {update_id for (update_id,) in InboxItem.insert_many(list(rows.values()))
             .on_conflict_ignore().returning(InboxItem.update_id).tuples().execute()}
    return [InboxItem(**row) for update_id, row in rows.items() if update_id in taken]


def _unique(updates) -> list[dict]:
    seen: dict[int, dict] = {}
    for u in updates:
        seen.setdefault(int(u["update_id"]), u)
    return list(seen.values())


def pending(limit: int = 10000) -> list[InboxItem]:
    """Rows not yet applied, oldest first (replayed at start)."""
    return list(InboxItem.select().where(InboxItem.status == PENDING)
                .order_by(InboxItem.update_id).limit(limit))


def mark_done(update_id: int) -> bool:
    """Mark a row applied (call inside the effect's transaction). False when it was not
    pending: somebody applied it already."""
    database = InboxItem._meta.database
    done_at = InboxItem._meta.fields["done_at"].db_value(utcnow())
    return bool(database.execute_sql(_done_sql(database.param),
                                     (DONE, done_at, update_id, PENDING)).rowcount)


# Hand-written, as engine/session.py's: every update runs it, and peewee's query builder
# cost more than the statement (cProfile of bench/e2e.py's bot). Per placeholder style.
@lru_cache(maxsize=8)
def _done_sql(p: str) -> str:
    return (f'UPDATE "telegram_inbox" SET "status" = {p}, "done_at" = {p} '
            f'WHERE "update_id" = {p} AND "status" = {p}')


def mark_failed(update_id: int) -> None:
    """Give a row up (it failed to apply several times): it no longer holds its chat back."""
    with write_tx():
        (InboxItem.update(status=FAILED, done_at=utcnow())
         .where((InboxItem.update_id == update_id) & (InboxItem.status == PENDING)).execute())


def lock_chat(chat_id: int) -> None:
    """Hold the chat's lock until the current transaction ends (PostgreSQL; a no-op elsewhere:
    one process, whose dispatcher already runs one task per chat). The single-bigint key
    space of advisory locks is used for chats only (other locks use the two-int4 space,
    which PostgreSQL keeps apart)."""
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (chat_id,))


def try_hold_chats(chat_ids: list[int]) -> set[int]:
    """Take, without waiting, the locks of those of `chat_ids` nobody holds, until
    `release_chats` (session-level: they outlive the transactions of the chats' steps, so
    each step commits on its own and no step's row locks are held while another chat's
    step waits -- one transaction for several steps turned two waits into a deadlock); the
    chats taken. One statement for a batch; never waiting is what makes holding several at
    once safe (no two workers can each hold one and wait for the other's). Call outside a
    transaction, on the connection that will release them. A no-op that takes every chat
    where `lock_chat` is one."""
    if not is_postgres():
        return set(chat_ids)
    rows = db.execute_sql("SELECT c FROM unnest(%s::bigint[]) AS c WHERE pg_try_advisory_lock(c)",
                          (list(chat_ids),)).fetchall()
    return {chat for (chat,) in rows}


def release_chats(chat_ids: set[int]) -> None:
    """Give back the locks `try_hold_chats` took, one statement. A connection that is lost
    gives them back too (PostgreSQL ends its session)."""
    if is_postgres() and chat_ids:
        db.execute_sql("SELECT pg_advisory_unlock(c) FROM unnest(%s::bigint[]) AS c",
                       (sorted(chat_ids),))


def pending_head(chat_id: int) -> tuple[InboxItem | None, bool, list[int]]:
    """The chat's oldest row not yet applied, whether another one waits behind it, and the
    chat's replies still being sent (outgoing row ids: interactive, leased; other workers'
    answers to the chat's earlier updates). Call under `lock_chat`. One statement tells a
    drainer what to apply, whether it may stop after it and whose replies go out first."""
    p = db.param
    sql = (f'SELECT 1, id, update_id, raw FROM (SELECT id, update_id, raw FROM "{InboxItem._meta.table_name}" '
           f"WHERE chat_id = {p} AND status = {p} ORDER BY update_id LIMIT 2) AS head "
           f"UNION ALL SELECT 2, id, NULL, NULL FROM (SELECT id FROM \"{Outgoing._meta.table_name}\" "
           f"WHERE chat_id = {p} AND status = {p} AND priority = 0 ORDER BY id LIMIT {IN_FLIGHT}) AS flight")
    rows = db.execute_sql(sql, (chat_id, PENDING, chat_id, SENDING)).fetchall()
    head = sorted((r for r in rows if r[0] == 1), key=lambda r: r[2])
    in_flight = sorted(r[1] for r in rows if r[0] == 2)
    item = (InboxItem(id=head[0][1], update_id=head[0][2], chat_id=chat_id, raw=head[0][3],
                      status=PENDING) if head else None)
    return item, len(head) > 1, in_flight


def pending_heads(chat_ids: list[int]) -> dict[int, tuple[InboxItem | None, bool, list[int]]]:
    """`pending_head` of each chat (call under their locks), in one statement on PostgreSQL
    (a round trip for the whole batch; elsewhere one per chat)."""
    if not is_postgres():
        return {chat: pending_head(chat) for chat in chat_ids}
    rows = db.execute_sql(_heads_sql(), (list(chat_ids), PENDING, list(chat_ids), SENDING)).fetchall()
    heads: dict[int, list] = {chat: [] for chat in chat_ids}
    flights: dict[int, list[int]] = {chat: [] for chat in chat_ids}
    for kind, chat, row_id, update_id, raw in rows:
        if kind == 1:
            heads[chat].append((update_id, row_id, raw))
        else:
            flights[chat].append(row_id)
    return {chat: _head(chat, sorted(heads[chat]), sorted(flights[chat])) for chat in chat_ids}


def _head(chat_id: int, head: list, in_flight: list[int]) -> tuple[InboxItem | None, bool, list[int]]:
    item = (InboxItem(id=head[0][1], update_id=head[0][0], chat_id=chat_id, raw=head[0][2],
                      status=PENDING) if head else None)
    return item, len(head) > 1, in_flight


@lru_cache(maxsize=1)
def _heads_sql() -> str:
    """`pending_head`'s statement for many chats: a LATERAL per chat keeps each lookup on
    the chat's index, with its own LIMIT."""
    return (f'SELECT 1, c.chat, h.id, h.update_id, h.raw FROM unnest(%s::bigint[]) AS c(chat) '
            f'CROSS JOIN LATERAL (SELECT id, update_id, raw FROM "{InboxItem._meta.table_name}" '
            f"WHERE chat_id = c.chat AND status = %s ORDER BY update_id LIMIT 2) AS h "
            f"UNION ALL SELECT 2, c.chat, f.id, NULL, NULL FROM unnest(%s::bigint[]) AS c(chat) "
            f'CROSS JOIN LATERAL (SELECT id FROM "{Outgoing._meta.table_name}" '
            f"WHERE chat_id = c.chat AND status = %s AND priority = 0 ORDER BY id LIMIT {IN_FLIGHT}) AS f")


def stale_chats(older_than: timedelta, limit: int = 1000) -> list[int]:
    """Chats with a row pending for longer than `older_than` (its worker died, say)."""
    rows = (InboxItem.select(InboxItem.chat_id).distinct()
            .where((InboxItem.status == PENDING) & (InboxItem.received_at < utcnow() - older_than))
            .limit(limit))
    return [r.chat_id for r in rows]


def backlog() -> dict:
    """{"pending": rows not yet applied, "oldest_age_seconds": age of the oldest (or None)}."""
    query = InboxItem.select(peewee.fn.COUNT(InboxItem.id), peewee.fn.MIN(InboxItem.received_at)) \
        .where(InboxItem.status == PENDING)
    count, oldest = query.scalar(as_tuple=True)
    if isinstance(oldest, str):               # SQLite returns MIN() of a datetime as text
        oldest = InboxItem.received_at.python_value(oldest)
    age = None if oldest is None else round(max(0.0, (utcnow() - oldest).total_seconds()), 1)
    return {"pending": count or 0, "oldest_age_seconds": age}


def prune(older_than: timedelta = timedelta(days=2)) -> int:
    """Delete applied rows older than `older_than` (Telegram never re-sends a day-old update)."""
    with write_tx():
        return (InboxItem.delete()
                .where(InboxItem.status.in_([DONE, FAILED]) & (InboxItem.received_at < utcnow() - older_than))
                .execute())


def drop_handled(chat_id: int) -> int:
    """Delete the handled raw updates of `chat_id` (they hold what was typed or shared);
    pending ones are left to be applied; returns how many."""
    return InboxItem.delete().where((InboxItem.chat_id == int(chat_id))
                                    & (InboxItem.status != PENDING)).execute()
