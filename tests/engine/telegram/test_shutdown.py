"""Stopping the bot never waits out a rate limit: a work group's backlog (20 messages a
minute) is left queued for the next start instead of holding SIGTERM for minutes."""
from __future__ import annotations

from engine import outgoing
from engine.events import Reply
from engine.storage import write_tx
from helpdesk.app import build_app
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot

GROUP = -100777
POSTS = 60          # three minutes of a group's rate limit


def test_a_group_backlog_does_not_hold_the_shutdown_and_is_sent_after_the_restart(database, settings):
    engine = build_app(settings, connect=False).engine
    with write_tx():
        for i in range(POSTS):
            outgoing.enqueue(Reply(GROUP, f"post {i}"), key=f"post-{i}", priority=3)
    with FakeTelegramAPI() as api:
        with running_bot(engine, api):          # its exit fails when the stop takes over 30 s
            api.wait_for(GROUP, contains="post 0", timeout=30)
        sent = outgoing.Outgoing.select().where(outgoing.Outgoing.status == outgoing.SENT).count()
        assert 0 < sent < POSTS                                   # stopped mid-backlog
        assert outgoing.pending_count() == POSTS - sent           # nothing lost: still queued
        with running_bot(engine, api):                            # the restart goes on with it
            api.wait_for(GROUP, contains=f"post {sent}", timeout=30)
