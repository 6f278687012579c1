"""One path for every outgoing message: per-chat order, Telegram's limits, 429s, retries.

Why not PTB's `AIORateLimiter`: on a `RetryAfter` it halts *every* request of the bot for the
whole wait, it has no per-private-chat pacing, and it knows nothing of our durable queue. Here
each chat has a lane (an `asyncio.Lock` that keeps that chat's messages in order, plus the time
until which Telegram asked us to wait); a 429 pauses that lane only, other chats keep flowing,
and the message is sent again after `retry_after`, never dropped.

Limits (Telegram's FAQ): about 30 messages/s overall, 1/s per private chat for bulk sends,
20/min per group. Interactive replies (the answer to what a user just did) are sent at once:
a step that answers with two messages does not wait a second. Bulk messages (notifications:
outgoing rows with priority > 0) are paced: 1/s per private chat, and together with every
other send at most `overall_per_second`. Group chats get at most `group_per_minute` messages
in any 60 s, interactive or not, since Telegram refuses more. Every window counts a send
from when its answer arrived (a request in flight counts as now): Telegram stamps it in
between, so ours is never ahead of Telegram's (stamped at departure, a send at the edge of
the window drew a 429 and cost its chat a second).

Every message is a row of the outgoing queue (`engine.outgoing`, the rows' only writer):
the dispatcher enqueues replies in the update's transaction and hands them here;
`drain_forever` sends whatever else is due (notifications, retries, replies left by a
crash). Each row is marked sent or failed as soon as Telegram answered it, while its chat's
lane stays locked (`marks.MarkWriter`): a crash repeats at most the one message in flight
in each chat.

Forum topics (engine/telegram/threads.py, asked before every send): a row aimed at a topic
by key waits for the topic's row, a gone topic's message goes to the group itself, topics
are created exactly once, and an edit that changes nothing is not sent.

Leases (several workers on one database): a claimed row is `sending` until its lease runs
out; then any worker may claim it again (that is how a killed worker's rows get sent). So a
row must not outlive its lease waiting here: a row claimed by `drain_once` is remembered
with its lease (the `next_at` the claim wrote); before it is sent, if half the lease is
gone, the lease is renewed only if the row still carries that same `next_at` (nobody else
claimed it meanwhile), else the row is left to whoever took it. A 429 longer than half the
lease gives the row back to the queue instead of waiting here.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from typing import Callable

from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from .. import outgoing
from ..events import Reply
from .marks import MarkWriter, SendResult
from .pacing import Lane, Limits, prune, retry_seconds, window_wait
from .threads import Threads, TopicGone

__all__ = ["Sender", "Limits", "SendResult"]

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0       # seconds a stopping sender lets started sends finish


class Sender:
    """Sends `Reply`s within Telegram's limits; see the module docstring.

    Args:
        bot: an initialized `telegram.Bot`.
        limits: the rate limits (tests shrink them).
        provider_token: payment provider token for invoices.
        on_error: called with (what, exception) when a message is given up for a reason that
            is a bug (bad request, a reply that cannot be sent); not for a user blocking us.
        lease_seconds: how long a claimed row stays ours (see the module docstring).
    """

    def __init__(self, bot: Bot, *, limits: Limits | None = None, provider_token: str = "",
                 on_error: Callable[[str, BaseException], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, lease_seconds: float = 60,
                 topic_grace: float = 15.0):
        limits = limits or Limits()
        if limits.max_retry_after > lease_seconds / 2:
            limits = dataclasses.replace(limits, max_retry_after=lease_seconds / 2)
        self.bot, self.limits, self.provider_token = bot, limits, provider_token
        self.on_error, self.clock, self.lease_seconds = on_error, clock, lease_seconds
        self._leases: dict[int, tuple[object, float]] = {}   # row id -> (next_at, claimed at)
        self._lanes: dict[int, Lane] = {}
        self._overall: collections.deque = collections.deque()   # when recent sends were answered
        self._in_flight = 0                   # requests sent, not yet answered (count as now)
        self._gate = asyncio.Lock()           # bulk sends queue here (FIFO) for the overall window
        self._answered = asyncio.Event()      # set whenever a request is answered
        self._inflight: set[int] = set()
        self._kick = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._chats: dict[int, collections.deque] = {}   # chat -> rows its one task has yet to send
        self._recording: set[int] = set()     # rows sent here whose outcome is being written
        self._marks = MarkWriter()
        self.threads = Threads(bot, grace=topic_grace)   # forum topics, no-op edits (threads.py)
        self.stats = collections.Counter()

    # -- the interactive path ------------------------------------------------------------
    async def send_rows(self, rows: list[tuple[int, Reply]], *, bulk: bool = False) -> list[SendResult]:
        """Send rows (one chat's, in order) now; each is marked as soon as it is answered."""
        self._inflight.update(r for r, _ in rows)
        try:
            return [await self.send(reply, row_id=row_id, bulk=bulk) for row_id, reply in rows]
        finally:
            self._inflight.difference_update(r for r, _ in rows)

    async def _mark(self, outcome: SendResult) -> None:
        """Record a row's outcome now (the writer thread commits it); the caller holds the
        chat's lane, so the chat's next message waits for this mark."""
        if outcome.row_id is None or outcome.lost:
            return
        self._recording.add(outcome.row_id)
        try:
            await asyncio.wrap_future(self._marks.submit(outcome))
        finally:
            self._recording.discard(outcome.row_id)

    def foreign(self, row_ids: list[int]) -> list[int]:
        """The rows of `row_ids` this sender is not sending and has not just sent."""
        mine = self._inflight | self._recording
        return [r for r in row_ids if r not in mine]

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        """Stop the button's spinner; a stale query (after a restart) is not an error."""
        try:
            await self.bot.answer_callback_query(callback_id, text=text or None)
            self.stats["callback_answers"] += 1
        except TelegramError as e:
            log.info("callback query %s not answered: %s", callback_id, e)

    # -- one message ---------------------------------------------------------------------
    async def send(self, reply: Reply, *, row_id: int | None = None, bulk: bool = False) -> SendResult:
        lane = self._lane(reply.chat_id)
        async with lane.lock:
            reply = await self._resolve_edit_key(reply)
            if reply is None:             # its message is not sent yet: due again after the lease
                return SendResult(row_id, lost=True)
            outcome = await self._attempts(lane, reply, row_id, bulk)
            await self._mark(outcome)
            return outcome

    async def _resolve_edit_key(self, reply: Reply) -> Reply | None:
        """An edit that names its message by an outgoing key (`Reply.edit_key`: it was queued
        before that message went out) edits the message that row was sent as; None while
        that row is still to be sent (the edit waits for it: its lease runs out, then it is
        due again); a row given up or gone: sent as a message of its own (as an edit of a
        message that is gone is)."""
        if not reply.edit_key or reply.edit_message_id:
            return reply
        status, message_id = await asyncio.to_thread(outgoing.key_state, reply.edit_key)
        if message_id:
            return dataclasses.replace(reply, edit_message_id=message_id)
        if status in (outgoing.PENDING, outgoing.SENDING):
            log.info("edit of %s waits: that message is not sent yet", reply.edit_key)
            self.stats["edit_waits"] += 1
            return None
        return dataclasses.replace(reply, edit_key=None)

    async def _attempts(self, lane: Lane, reply: Reply, row_id: int | None, bulk: bool) -> SendResult:
        failures = 0
        while True:
            await self._wait_turn(lane, reply.chat_id, bulk)
            counted = True                    # does the server count this request?
            try:
                if not await self._still_ours(row_id):
                    counted = False
                    return SendResult(row_id, lost=True)
                ready, outcome = await self.threads.prepare(reply, row_id)
                if outcome is not None:       # deferred, skipped or adopted: no request
                    counted = False
                    return outcome
                message_id = await self.threads.send(ready, row_id, self.provider_token)
            except ChatMigrated as e:         # a group upgraded to a supergroup: follow it
                log.warning("chat %s is now the supergroup %s: outgoing row %s sent there",
                            reply.chat_id, e.new_chat_id, row_id)
                if int(e.new_chat_id) == reply.chat_id or failures > self.limits.network_retries:
                    return SendResult(row_id, error=str(e))
                failures += 1
                reply = dataclasses.replace(reply, chat_id=int(e.new_chat_id))
                continue
            except RetryAfter as e:
                counted = False               # refused: not in Telegram's window
                wait = retry_seconds(e)
                lane.blocked_until = self.clock() + wait
                self.stats["retry_after"] += 1
                log.warning("429 for chat %s: waiting %.0f s for this chat only", reply.chat_id, wait)
                if wait > self.limits.max_retry_after:
                    return SendResult(row_id, error=str(e), retry_in=wait)
                continue
            except Exception as e:  # noqa: BLE001 - sorted by _failure; the loop survives
                failures += 1
                outcome = self._failure(reply, row_id, e, failures)
                if outcome:
                    return outcome
                await asyncio.sleep(min(0.2 * 2 ** failures, 5))
                continue
            finally:
                self._end_turn(lane, reply.chat_id, counted)
            self.stats["sent"] += 1
            return SendResult(row_id, message_id)

    def _failure(self, reply: Reply, row_id: int | None, e: Exception, failures: int) -> SendResult | None:
        """What to do after an error: None = retry now, else the outcome to record."""
        where = f"sending to chat {reply.chat_id} (outgoing row {row_id})"
        if isinstance(e, (Forbidden, TopicGone)):
            log.info("%s: %s (%s)", where, e, "the topic is gone" if isinstance(e, TopicGone)
                     else "the user blocked the bot, or the bot was removed from the group")
            return SendResult(row_id, error=str(e))
        if isinstance(e, NetworkError) and not isinstance(e, BadRequest):
            if failures <= self.limits.network_retries:
                log.info("%s: %s; retrying", where, e)
                return None
            return SendResult(row_id, error=str(e), retry_in=30)
        log.error("%s failed: %s: %s", where, type(e).__name__, e, exc_info=not isinstance(e, TelegramError))
        self.stats["failed"] += 1
        if self.on_error:
            self.on_error(where, e)
        return SendResult(row_id, error=f"{type(e).__name__}: {e}",
                       retry_in=None if isinstance(e, (BadRequest, ValueError, KeyError, TypeError)) else 60)

    async def _still_ours(self, row_id: int | None) -> bool:
        """Renew a claimed row's lease when half of it is gone; False when another sender
        claimed it meanwhile (it sends it, not us)."""
        lease = self._leases.get(row_id) if row_id is not None else None
        if lease is None or self.clock() - lease[1] < self.lease_seconds / 2:
            return True
        renewed = await asyncio.to_thread(outgoing.renew, row_id, lease[0],
                                        self.lease_seconds)
        if renewed is None:
            log.info("outgoing row %s: lease lost while waiting; another sender has it", row_id)
            self._leases.pop(row_id, None)
            self.stats["lease_lost"] += 1
            return False
        self._leases[row_id] = (renewed, self.clock())
        return True

    # -- pacing --------------------------------------------------------------------------
    def _lane(self, chat_id: int) -> Lane:
        lane = self._lanes.get(chat_id)
        if lane is None:
            lane = self._lanes[chat_id] = Lane()
        lane.used = self.clock()
        return lane

    async def _wait_turn(self, lane: Lane, chat_id: int, bulk: bool) -> None:
        """Wait for this chat's limits, then (bulk) for a place in the overall window, and
        take it: the request counts as in flight until `_end_turn`."""
        while (wait := self._lane_wait(lane, chat_id, bulk)) > 0:
            await asyncio.sleep(wait)
        if bulk and chat_id > 0:
            async with self._gate:            # one waiter at a time, first come first served
                await self._overall_room()
                self._in_flight += 1
        elif bulk:
            # a group does not queue behind a fan-out to private chats: its own window (20
            # a minute) already keeps it to a sliver of the overall limit, and behind the
            # gate it got one message per pass over every waiting chat (~33 s for 1,000)
            await self._overall_room()
            self._in_flight += 1
        else:
            self._in_flight += 1              # interactive: never waits, but counts

    def _end_turn(self, lane: Lane, chat_id: int, counted: bool) -> None:
        """The request was answered. Times are taken now, not when it was sent: Telegram
        stamped it somewhere in between, so a window counted from the answer can only be
        later than Telegram's, never earlier (sending at the window's edge drew 429s)."""
        self._in_flight -= 1
        if counted:
            now = self.clock()
            lane.last_sent = now
            prune(self._overall, 1.0, now)
            self._overall.append(now)
            if chat_id < 0:
                lane.recent.append(now)
        self._answered.set()

    async def _overall_room(self) -> None:
        """Until one more request fits in `overall_per_second` per 1 s, counting the
        requests in flight as sent just now."""
        limit = max(1, int(self.limits.overall_per_second))
        while True:
            now = self.clock()
            prune(self._overall, 1.0, now)
            excess = len(self._overall) + self._in_flight - limit + 1
            if excess <= 0:
                return
            if excess <= len(self._overall):      # answered ones leave the window in time
                await asyncio.sleep(self._overall[excess - 1] + 1.0 - now)
            else:                                  # the in-flight ones must be answered first
                self._answered.clear()
                await self._answered.wait()

    def _lane_wait(self, lane: Lane, chat_id: int, bulk: bool) -> float:
        now = self.clock()
        wait = lane.blocked_until - now
        if chat_id < 0:
            wait = max(wait, window_wait(lane.recent, self.limits.group_per_minute, 60.0, now))
        elif bulk:
            wait = max(wait, lane.last_sent + self.limits.private_interval - now)
        return wait

    # -- the queue -----------------------------------------------------------------------
    def kick(self) -> None:
        """Something was queued: drain now rather than at the next tick."""
        self._kick.set()

    async def drain_forever(self, interval: float = 0.5) -> None:
        """Send due outgoing rows (notifications, retries, replies left by a crash), forever.
        A database error ends it: it runs under the supervisor, which logs, reports and
        restarts it with backoff (engine.supervisor)."""
        while True:
            started = await self.drain_once()
            if not started:
                self._kick.clear()
                try:
                    await asyncio.wait_for(self._kick.wait(), interval)
                except asyncio.TimeoutError:
                    pass
                self._prune_lanes()

    async def drain_once(self) -> int:
        """Claim due rows and start sending them (one task per chat, see `_send_chat`); how
        many started."""
        claimed, until = await asyncio.to_thread(outgoing.claim, 200, lease_seconds=self.lease_seconds)
        now = self.clock()
        for row in claimed:
            self._leases[row.id] = (until, now)      # also renews rows already waiting here
        rows = [r for r in claimed if r.id not in self._inflight]
        self._inflight.update(r.id for r in rows)
        by_chat: dict[int, list] = collections.defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append((row.id, outgoing.to_reply(row), row.priority > 0))
        for chat_id, chat_rows in by_chat.items():
            waiting = self._chats.get(chat_id)
            if waiting is not None:           # the chat's task is still at it: these go after
                waiting.extend(chat_rows)
            else:
                self._chats[chat_id] = collections.deque(chat_rows)
                self._spawn(self._send_chat(chat_id))
        return len(rows)

    async def _send_chat(self, chat_id: int) -> None:
        """The one task sending a chat's claimed rows, oldest claim first. One per chat: a
        second task would wait on the chat's lane lock and take it before this one's next
        row (asyncio.Lock is FIFO), so rows claimed later overtook rows still waiting here
        (behind a 429, say)."""
        rows = self._chats[chat_id]
        try:
            while rows:
                row_id, reply, bulk = rows[0]
                await self.send_rows([(row_id, reply)], bulk=bulk)
                rows.popleft()
                self._leases.pop(row_id, None)
        finally:
            del self._chats[chat_id]
            self._inflight.difference_update(r for r, _, _ in rows)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Wait for sends started by `drain_once`, for `grace` seconds at most, then stop the
        mark writer (used at shutdown; a later mark starts it again). A chat with a backlog
        behind its rate limit (a work group takes 20 messages a minute) would otherwise hold
        the shutdown for minutes: what is left is cancelled and stays queued under its
        lease, sent again by the next start (at most the one message in flight per chat
        twice, as after a crash): its rows are given back at once, not at the end of their
        lease, so another worker or the next start sends them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                left = list(self._tasks)
                log.info("stopping with %d chat(s) still sending: the rest is sent after the "
                         "restart", len(left))
                for task in left:
                    task.cancel()
                await asyncio.gather(*left, return_exceptions=True)
                break
            await asyncio.wait(list(self._tasks), timeout=remaining)
        await asyncio.to_thread(self._marks.close)          # what was sent is marked first
        held = {row_id: until for row_id, (until, _) in self._leases.items()}
        self._leases.clear()
        if held:
            await asyncio.to_thread(outgoing.release_held, held)

    def _prune_lanes(self) -> None:
        old = self.clock() - 300
        for chat_id, lane in list(self._lanes.items()):
            if lane.used < old and not lane.lock.locked() and lane.blocked_until < self.clock():
                del self._lanes[chat_id]
