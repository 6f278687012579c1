"""The CRM outbox: every change the CRM must learn is a row written in the same transaction
as the change itself (so a crash or a CRM outage loses nothing). helpdesk.sync.push
drains it through integrations.crm with backoff, an idempotency key per item, per-entity
ordering and a dead-letter state.

    with write_tx():
        ticket.save()
        outbox.push("ticket", ticket.id, "upsert")

Life of an item: pending -> sending (claimed by one drainer, with a lease) -> done, or back
to pending with a later `next_at` (retryable failure), or dead (refused, or too many
attempts). A drainer that dies mid-send leaves `sending` rows, sent again later under the
same idempotency key (the CRM applies a key once):
- a claim names its holder (`claimed_by`: host and PID namespace, pid and a token of the
  process), so a process in the same namespace frees the claims of a dead one at once
  (`release_orphans()`: that pid runs no more, or it is this very pid restarted); a claim
  from another namespace (another container, even with the same host name) waits for its
  lease;
- the lease is short, and renewed by its holder while it works (`holding()`: a thread
  renews this process's claims every third of the lease), so a holder elsewhere that died
  or hangs loses its items within seconds (`release_expired()`), and one that merely waits
  on a slow CRM keeps them.

The rows also serve as the bot-side change log that the REST API's changes feed reads
(`GET /api/v1/changes`): done items are kept for `sync.retention_days`, then
helpdesk.sync.retention deletes them in batches (job sync_prune); pending, sending and
dead rows stay.

A drain works in batches (helpdesk.sync.push): one statement claims up to BATCH items,
`freeze_many` stores their bodies in one, `mark_done_many` / `release_many` settle them in
one each, so a batch costs three transactions, not three an item. Those statements are
hand-written SQL made once (helpdesk.sync.batch_sql): peewee rebuilt each 100-id statement
on every call, about a fifth of the drainer's CPU under cProfile.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import socket
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta

import peewee

from engine import storage
from engine.session import utcnow
from engine.storage import Table, db, write_tx

from . import batch_sql

__all__ = ["OutboxItem", "push", "claim", "release_expired", "release", "mark_done", "waiting_count",
           "mark_failed", "payload_of", "holder", "holding", "renew", "release_orphans", "PENDING", "SENDING", "DONE", "DEAD", "STATUSES",
           "release_many", "mark_done_many", "freeze_many"]

PENDING, SENDING, DONE, DEAD = "pending", "sending", "done", "dead"
STATUSES = (PENDING, SENDING, DONE, DEAD)
_WAITING = (PENDING, SENDING)     # statuses that hold back younger items of the same entity

log = logging.getLogger(__name__)


class OutboxItem(Table):
    entity = peewee.CharField(max_length=30)           # counterparty, contact, ticket, payment
    entity_id = peewee.BigIntegerField()
    op = peewee.CharField(max_length=20, default="upsert")
    payload = peewee.TextField(default="{}")           # extra data the push needs (JSON)
    key = peewee.CharField(max_length=64, unique=True)  # idempotency key sent to the CRM
    status = peewee.CharField(max_length=10, default=PENDING, index=True)
    attempts = peewee.IntegerField(default=0)
    next_at = peewee.DateTimeField(default=utcnow, index=True)
    last_error = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    done_at = peewee.DateTimeField(null=True)
    claimed_by = peewee.CharField(max_length=255, null=True)   # holder(): who has it sending

    class Meta:
        table_name = "outbox"
        # (status, id): the claim reads pending rows in id order and stops at `limit`,
        # so its cost does not grow with the done rows kept for the changes feed.
        indexes = ((("entity", "entity_id", "id"), False), (("status", "id"), False))


def push(entity: str, entity_id: int, op: str = "upsert", payload: dict | None = None) -> int:
    """Queue a change for the CRM; call inside the transaction that makes the change."""
    if not db.in_transaction():
        raise RuntimeError("outbox.push must run inside the change's transaction (write_tx)")
    return OutboxItem.insert(entity=entity, entity_id=entity_id, op=op,
                             payload=json.dumps(payload or {}, ensure_ascii=False, default=str),
                             key=uuid.uuid4().hex).execute()


def payload_of(item: OutboxItem) -> dict:
    """The item's payload as a dict ({} when it is not valid JSON)."""
    try:
        value = json.loads(item.payload or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def claim(limit: int = 100, *, lease_seconds: float = 15) -> list[OutboxItem]:
    """Take up to `limit` due pending items, oldest first, skipping any item whose entity
    has an older item still waiting; they become `sending`, held by this process, until
    the lease runs out (see `holding`). One statement (UPDATE ... RETURNING: the rows as
    they are now, `sending`); on PostgreSQL the rows are locked FOR UPDATE SKIP LOCKED, so
    concurrent drainers in several processes never take the same item."""
    now = utcnow()
    until = now + timedelta(seconds=lease_seconds)
    with write_tx():
        rows = list(OutboxItem.raw(_claim_sql(storage.is_postgres()), SENDING, until, holder(),
                                   PENDING, now, *_WAITING, limit))
    return sorted(rows, key=lambda r: r.id)


@functools.lru_cache(maxsize=2)
def _claim_sql(postgres: bool) -> str:
    """The claim's text, made once: due pending rows with no older waiting item of their
    entity (the (entity, entity_id, id) index), in id order (the (status, id) index)."""
    p = "%s" if postgres else "?"
    columns = ", ".join(f'"{f.column_name}"' for f in OutboxItem._meta.sorted_fields)
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    return (f'UPDATE "outbox" SET "status" = {p}, "next_at" = {p}, "claimed_by" = {p} '
            f'WHERE "id" IN (SELECT o."id" FROM "outbox" AS o '
            f'WHERE o."status" = {p} AND o."next_at" <= {p} AND NOT EXISTS ('
            f'SELECT 1 FROM "outbox" AS older WHERE older."entity" = o."entity" '
            f'AND older."entity_id" = o."entity_id" AND older."id" < o."id" '
            f'AND older."status" IN ({p}, {p})) '
            f'ORDER BY o."id" LIMIT {p}{lock}) RETURNING {columns}')


def release_expired() -> int:
    """Items whose holder stopped renewing them (lease over) become pending again; returns
    how many."""
    with write_tx():
        return (OutboxItem.update(status=PENDING)
                .where((OutboxItem.status == SENDING) & (OutboxItem.next_at <= utcnow()))
                .execute())


# ---- who holds a claim ------------------------------------------------------------------------

def holder() -> str:
    """This process as a claim's holder: host, pid, and a token told apart from a dead
    process that had the same pid (a restarted container's bot is pid 1 again)."""
    return _holder(_host(), os.getpid())


def _host() -> str:
    """This machine *and PID namespace*: two containers may share a host name (compose's
    `hostname:`) and both run the bot as pid 1; a pid says something only inside its own
    namespace, so a claim from another namespace is left to its lease."""
    return f"{socket.gethostname()[:180]}@{_pid_namespace()}"


@functools.lru_cache(maxsize=1)
def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:                      # not Linux: the host name alone
        return "-"


@functools.lru_cache(maxsize=None)
def _holder(host: str, pid: int) -> str:
    return f"{host}:{pid}:{uuid.uuid4().hex[:12]}"


def _gone(claimant: str) -> bool:
    """True when `claimant` was a process on this host that runs no more."""
    try:
        host, pid_text, _token = claimant.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != _host() or claimant == holder():
        return False
    if pid == os.getpid():
        return True                     # this pid, another token: our predecessor
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:                     # alive, another user's: not ours to judge
        return False
    return False


def release_orphans() -> int:
    """Claims of dead processes on this host become pending at once (a restarted bot does
    not wait for its predecessor's leases); returns how many."""
    prefix = _host() + ":"
    claimants = [c for (c,) in OutboxItem.select(OutboxItem.claimed_by).distinct()
                 .where((OutboxItem.status == SENDING)
                        & OutboxItem.claimed_by.startswith(prefix)).tuples()]
    dead = [c for c in claimants if _gone(c)]
    if not dead:
        return 0
    with write_tx():
        n = (OutboxItem.update(status=PENDING, next_at=utcnow())
             .where((OutboxItem.status == SENDING) & OutboxItem.claimed_by.in_(dead))
             .execute())
    log.info("outbox: %d item(s) claimed by a process that died are due again", n)
    return n


def renew(lease_seconds: float) -> int:
    """Extend the leases of every item this process holds; returns how many."""
    with write_tx():
        return (OutboxItem.update(next_at=utcnow() + timedelta(seconds=lease_seconds))
                .where((OutboxItem.status == SENDING) & (OutboxItem.claimed_by == holder()))
                .execute())


@contextmanager
def holding(lease_seconds: float):
    """While the block runs, a thread renews this process's claims every third of the
    lease, so a slow CRM call does not let another drainer take (and send again) an item
    that is still being worked on."""
    stop = threading.Event()
    thread = threading.Thread(target=_renew_loop, args=(stop, lease_seconds),
                              name="outbox-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _renew_loop(stop: threading.Event, lease_seconds: float) -> None:
    try:
        while not stop.wait(lease_seconds / 3):
            try:
                renew(lease_seconds)
            except peewee.DatabaseError as e:   # the next beat tries again
                log.warning("outbox: renewing the leases failed: %s", e)
    finally:
        storage.close()                         # this thread's connection


def waiting_count() -> int:
    """Items not yet delivered (pending or being sent)."""
    return OutboxItem.select().where(OutboxItem.status.in_(_WAITING)).count()


def _held(item_id: int):
    """The item, while this process still holds it: a holder whose lease ran out (another
    drainer took the item, maybe delivered it) must not put it back or count a failure."""
    return ((OutboxItem.id == item_id) & (OutboxItem.status == SENDING)
            & (OutboxItem.claimed_by == holder()))


def release(item_id: int, *, delay: float = 0.0, payload: dict | None = None) -> None:
    """Give a claimed item back untried (no attempt counted), due after `delay` seconds."""
    values = {OutboxItem.status: PENDING,
              OutboxItem.next_at: utcnow() + timedelta(seconds=delay)}
    if payload is not None:
        values[OutboxItem.payload] = json.dumps(payload, ensure_ascii=False, default=str)
    OutboxItem.update(values).where(_held(item_id)).execute()


def mark_done(item_id: int, note: str | None = None) -> None:
    """Delivered (or nothing to deliver: `note` says why). Call inside the write-back tx.
    Whoever holds it now: a delivery is a fact (the CRM applies its key once)."""
    (OutboxItem.update(status=DONE, done_at=utcnow(), last_error=note,
                       attempts=OutboxItem.attempts + 1)
     .where(OutboxItem.id == item_id).execute())


def mark_failed(item_id: int, error: str, *, retry_in: float | None,
                max_attempts: int) -> str:
    """Count a failed attempt: pending again after `retry_in` seconds, or dead when
    `retry_in` is None (the CRM refused it) or the attempts are used up. Returns the new
    status."""
    with write_tx():
        row = OutboxItem.get_by_id(item_id)
        attempts = row.attempts + 1
        status = DEAD if retry_in is None or attempts >= max_attempts else PENDING
        changed = (OutboxItem.update(status=status, attempts=attempts, last_error=error[:2000],
                                     next_at=utcnow() + timedelta(seconds=retry_in or 0))
                   .where(_held(item_id)).execute())
    if not changed:
        log.info("outbox item %s: failure not recorded, another drainer holds it now", item_id)
        return row.status
    return status


# ---- batches ----------------------------------------------------------------------------------

def release_many(item_ids: list[int], *, delay: float = 0.0) -> int:
    """`release` for many items at once (untried, no attempt counted); returns how many
    were still held by this process."""
    return batch_sql.update_where_ids(
        "outbox", '"status" = ?, "next_at" = ?', [PENDING, utcnow() + timedelta(seconds=delay)],
        item_ids, '"status" = ? AND "claimed_by" = ?', [SENDING, holder()])


def mark_done_many(item_ids: list[int]) -> int:
    """`mark_done` (no note) for many delivered items in one statement; call inside the
    write-back transaction."""
    return batch_sql.update_where_ids(
        "outbox", '"status" = ?, "done_at" = ?, "last_error" = NULL, "attempts" = "attempts" + 1',
        [DONE, utcnow()], item_ids)


def freeze_many(payloads: dict[int, str]) -> None:
    """Store the frozen payloads (item id -> JSON text) of a batch in one UPDATE."""
    batch_sql.update_case("outbox", "payload", payloads)
