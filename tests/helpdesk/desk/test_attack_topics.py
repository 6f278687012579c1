"""Outside attack (issue 16, point 1: a topic "is closed when the ticket closes"): a ticket
the CRM files already done (1C records a job fixed on the phone) got its topic opened and
never closed, so the work group's list of open topics filled with finished work. Through
the real transport and the fake Bot API: its topic is created under the done name and icon
and closed, once; a ticket the CRM files open keeps its topic open."""
from __future__ import annotations

import time

import pytest

from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import GROUP


def _until(condition, timeout: float = 120):
    """A liveness bound, not a timing assertion: the condition usually holds at once."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


@pytest.mark.timeout(300)
def test_a_ticket_the_crm_files_as_done_gets_its_topic_closed(forum):
    with FakeTelegramAPI() as api, running_bot(forum.app.engine, api):
        api.group(GROUP, "Заявки", forum=True)
        done = forum.svc.crm_create(101, description="Починили по телефону", type="Касса",
                                    counterparty_id=forum.a, crm_id="1c-done-1", status="done")
        open_ = forum.svc.crm_create(101, description="Приехать на объект", type="Касса",
                                     counterparty_id=forum.a, crm_id="1c-open-1", status="new")
        topics = _until(lambda: len(api.topics(GROUP)) == 2 and api.topics(GROUP))
        by_ticket = {f"#{t.id}": t for t in (done, open_)}
        topic_of = {label: next(tp for tp in topics if label in tp.name) for label in by_ticket}
        closed = _until(lambda: api.topic(GROUP, topic_of[f"#{done.id}"].thread_id).closed)
        assert closed
        assert api.topic(GROUP, topic_of[f"#{done.id}"].thread_id).name.startswith("✅")
        _until(lambda: [m for m in api.in_topic(GROUP, topic_of[f"#{open_.id}"].thread_id)
                        if f"#{open_.id}" in (m.plain_text or "")])
        assert not api.topic(GROUP, topic_of[f"#{open_.id}"].thread_id).closed
        assert api.topic(GROUP, topic_of[f"#{open_.id}"].thread_id).name.startswith("🆕")
    assert len(api.topics(GROUP)) == 2                                 # one each, never two
