"""SLA timers: working-time arithmetic, timers that follow a ticket, fired once.

The desk works Monday to Friday 09:00-18:00 Moscow time (UTC+3 all year: no DST), with
a holiday; a ticket of any type is answered within 2 working hours and done within 8,
ЕГАИС answered within 1. The clock is fixed (the service's clock, the job's `now`); the
week starts on Monday 1 December 2025.
"""
from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import outgoing, storage
from engine.events import Reply
from helpdesk.app import build_app
from helpdesk.desk import sla, staff, topics
from helpdesk.desk.settings import SlaTarget
from helpdesk.desk.tables import SlaTimer
from helpdesk.hours import WorkingHours
from helpdesk.notices import queue_reply
from helpdesk.ops import jobs
from helpdesk.tickets import history
from helpdesk.tickets.service import Actor
from tests.support.desk import MSK, Clock, msk
from tests.support.tickets import (
    GROUP,
    TECH,
    file_through_dialog,
    file_ticket,
    make_settings,
    make_world,
    queued,
    world_chat,
)

HOLIDAY = date(2025, 12, 9)                  # a Tuesday
HOURS = WorkingHours(frozenset({1, 2, 3, 4, 5}), time(9), time(18), MSK, frozenset({HOLIDAY}))
DISPATCHERS = (700, 701)


# -- working time ------------------------------------------------------------------------

def test_working_time_runs_inside_the_day():
    assert HOURS.after(msk(1, 10), timedelta(hours=2)) == msk(1, 12)
    assert HOURS.between(msk(1, 10), msk(1, 12)) == timedelta(hours=2)


def test_working_time_skips_the_night_and_the_weekend():
    assert HOURS.after(msk(1, 17), timedelta(hours=2)) == msk(2, 10)        # Mon -> Tue
    assert HOURS.after(msk(5, 17), timedelta(hours=2)) == msk(8, 10)        # Fri -> Mon
    assert HOURS.between(msk(5, 17), msk(8, 10)) == timedelta(hours=2)


def test_time_after_hours_starts_at_the_next_opening():
    assert HOURS.after(msk(1, 20), timedelta(hours=1)) == msk(2, 10)
    assert HOURS.after(msk(6, 12), timedelta(minutes=30)) == msk(8, 9, 30)   # a Saturday
    assert HOURS.between(msk(1, 19), msk(2, 8)) == timedelta(0)


def test_a_holiday_is_not_working_time():
    assert HOURS.after(msk(8, 17, 30), timedelta(hours=1)) == msk(10, 9, 30)   # Tue 9th off
    assert HOURS.between(msk(8, 18), msk(10, 9)) == timedelta(0)


def test_a_european_dst_change_moves_nothing_in_moscow():
    friday = datetime(2027, 3, 26, 17, tzinfo=MSK)       # Europe changes clocks on the 28th
    monday = datetime(2027, 3, 29, 10, tzinfo=MSK)
    assert HOURS.after(friday, timedelta(hours=2)) == monday.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def test_a_desk_that_never_opens_has_no_deadline():
    closed = WorkingHours(frozenset(), time(9), time(18), MSK)
    assert closed.after(msk(1, 10), timedelta(hours=1)) is None
    assert closed.between(msk(1, 10), msk(20, 10)) == timedelta(0)


@given(start=st.integers(0, 14 * 24 * 60), minutes=st.integers(0, 40 * 60))
def test_the_working_time_until_a_deadline_is_the_span_asked_for(start, minutes):
    begin = msk(1, 0) + timedelta(minutes=start)
    due = HOURS.after(begin, timedelta(minutes=minutes))
    assert HOURS.between(begin, due) == timedelta(minutes=minutes)


# -- timers follow the ticket --------------------------------------------------------------


def sla_settings(first: float = 2, resolution: float = 8):
    s = make_settings()
    s.support.hours.holidays = [HOLIDAY]
    s.sla.first_response_hours, s.sla.resolution_hours = first, resolution
    s.sla.types = {"ЕГАИС": SlaTarget(first_response_hours=1)}
    return s


@pytest.fixture(scope="module")
def sla_app():
    return build_app(sla_settings(), connect=False)


@pytest.fixture
def desk(database, sla_app):
    """The ticket world with SLA targets, its service on a clock at Monday 10:00, and two
    dispatchers."""
    world = world_of(sla_app)
    world.clock = Clock(msk(1, 10))
    sla_app.services.tickets.clock = world.clock
    for user_id in DISPATCHERS:
        staff.grant(user_id, staff.DISPATCHER, first_name="Дарья", last_name=f"Диспетчер{user_id}")
    return world


def world_of(app):
    """The ticket world (companies, people) served by `app`."""
    world = make_world()
    world.app = app
    return world


def timer(ticket, kind=sla.FIRST_RESPONSE) -> SlaTimer:
    return SlaTimer.get((SlaTimer.ticket == ticket.id) & (SlaTimer.kind == kind))


def fire(desk, when: datetime) -> int:
    return sla.fire_due(desk.app.settings, desk.app.engine.flowset.templates, when)


def test_a_new_ticket_gets_both_timers_due_in_working_time(desk):
    ticket = file_ticket(desk, 101)
    first, done = timer(ticket), timer(ticket, sla.RESOLUTION)
    assert (first.target, first.due_at, first.warn_at) == (7200, msk(1, 12), msk(1, 11, 36))
    assert (done.target, done.due_at, done.warn_at) == (28800, msk(1, 18), msk(1, 16, 24))
    assert sla.answer_by(ticket.id) == msk(1, 12)


def test_a_type_has_its_own_target_and_a_ticket_filed_at_night_starts_at_opening(desk):
    desk.clock.now = msk(5, 20)                                      # Friday evening
    ticket, _ = desk.svc.create(101, type="ЕГАИС", description="УТМ не отвечает с утра",
                                counterparty_id=desk.a)
    assert timer(ticket).due_at == msk(8, 10)                        # Monday 10:00
    assert timer(ticket, sla.RESOLUTION).due_at == msk(8, 17)


def test_no_target_no_timer_and_nothing_promised(database):
    app = build_app(sla_settings(first=0, resolution=0), connect=False)
    world = world_of(app)
    ticket = file_ticket(world, 101)
    assert SlaTimer.select().count() == 0 and sla.answer_by(ticket.id) is None
    assert sla.measure(ticket.id, app.settings) == {}


def test_waiting_for_the_client_pauses_and_the_deadline_moves_by_the_pause(desk):
    ticket = file_ticket(desk, 101)
    desk.clock.now = msk(1, 10, 30)
    desk.svc.take(TECH, "Мастер Иван", ticket.id)
    desk.clock.now = msk(1, 11)
    desk.svc.set_waiting(TECH, "Мастер Иван", ticket.id)
    paused = timer(ticket, sla.RESOLUTION)
    assert (paused.since, paused.next_at, paused.spent) == (None, None, 3600)
    desk.clock.now = msk(2, 10)                                      # the client answered
    desk.svc.crm_update(ticket.id, status="in_progress")
    resumed = timer(ticket, sla.RESOLUTION)
    assert resumed.due_at == msk(2, 17)                              # 7 working hours left
    assert resumed.warn_at == msk(2, 15, 24) and resumed.next_at == msk(2, 15, 24)


def test_the_first_response_stops_at_the_take_and_the_resolution_at_done(desk):
    ticket = file_ticket(desk, 101)
    desk.clock.now = msk(1, 11, 45)
    desk.svc.take(TECH, "Мастер Иван", ticket.id)
    desk.clock.now = msk(2, 12)
    desk.svc.done(TECH, "Мастер Иван", ticket.id)
    found = sla.measure(ticket.id, desk.app.settings, now=msk(20, 12))
    first, done = found[sla.FIRST_RESPONSE], found[sla.RESOLUTION]
    assert (first.spent, first.finished, first.met, first.breached) == (timedelta(minutes=105), True, True, False)
    assert (done.spent, done.met) == (timedelta(hours=11), False)    # 8 Monday + 3 Tuesday
    assert timer(ticket).stopped_by == "taken" and timer(ticket, sla.RESOLUTION).stopped_by == "done"


def test_a_technician_comment_is_a_response_a_cancel_is_no_resolution(desk):
    ticket = file_ticket(desk, 101)
    desk.clock.now = msk(1, 10, 20)
    desk.svc.comment(TECH, "Мастер Иван", ticket.id, "Перезагрузите кассу, пожалуйста")
    desk.clock.now = msk(1, 11)
    desk.svc.cancel(101, ticket.id, "Сами разобрались, спасибо")
    found = sla.measure(ticket.id, desk.app.settings)
    assert found[sla.FIRST_RESPONSE].met is True
    assert (found[sla.RESOLUTION].finished, found[sla.RESOLUTION].met) == (False, None)


def message(desk, ticket, actor) -> None:
    """A message event on the ticket, as the conversation records one (history + notifier)."""
    with storage.write_tx():
        history.record(ticket, actor, "message", {"text": "…"}, desk.clock())
        desk.svc.notifier.ticket_event(ticket, "message", actor=actor)


def test_a_client_message_is_no_response_a_staff_message_in_the_thread_is(desk):
    ticket = file_ticket(desk, 101)
    desk.clock.now = msk(1, 10, 10)
    message(desk, ticket, Actor("101", "bot", 101, "Имя101"))
    assert timer(ticket).stopped_at is None
    desk.clock.now = msk(1, 10, 40)
    message(desk, ticket, Actor(f"tech:{TECH}", "group", TECH, "Мастер Иван"))
    assert (timer(ticket).stopped_by, timer(ticket).spent) == ("message", 2400)
    assert timer(ticket, sla.RESOLUTION).stopped_at is None


def test_a_reopened_ticket_runs_its_resolution_timer_on(desk):
    ticket = file_ticket(desk, 101)
    desk.svc.take(TECH, "Мастер Иван", ticket.id)
    desk.clock.now = msk(1, 12)
    desk.svc.done(TECH, "Мастер Иван", ticket.id)
    desk.clock.now = msk(2, 9)
    desk.svc.reopen(101, ticket.id)
    reopened = timer(ticket, sla.RESOLUTION)
    assert (reopened.spent, reopened.stopped_at, reopened.due_at) == (7200, None, msk(2, 15))
    assert timer(ticket).stopped_by == "taken"                        # answered once is enough


# -- firing ------------------------------------------------------------------------------------

def test_the_warning_goes_into_the_ticket_thread_once(desk):
    ticket = file_ticket(desk, 101)
    assert fire(desk, msk(1, 11, 35)) == 0
    assert fire(desk, msk(1, 11, 36)) == 1
    assert fire(desk, msk(1, 11, 50)) == 0
    [warning] = queued(GROUP, ":sla:")
    assert f"Заявка <b>{ticket.label}</b>: срок первого ответа истекает 01.12.2025 12:00" in warning.text
    assert "цель — 2 ч рабочего времени" in warning.text


def test_a_warning_to_a_forum_goes_into_the_ticket_topic(desk):
    ticket = file_ticket(desk, 101)
    with storage.write_tx():
        queue_reply(Reply(GROUP, "", topic={"op": "create", "name": ticket.label}),
                    key=topics.topic_key(ticket.id))
    fire(desk, msk(1, 11, 36))
    [warning] = queued(GROUP, ":sla:")
    assert warning.thread_key == topics.topic_key(ticket.id)


def test_at_the_breach_the_thread_and_every_dispatcher_hear_of_it_once(desk):
    ticket = file_ticket(desk, 101)
    fire(desk, msk(1, 11, 40))
    assert fire(desk, msk(1, 12)) == 1 and fire(desk, msk(1, 12, 30)) == 0
    [line] = queued(GROUP, ":first_response:breach")
    assert "срок первого ответа истёк 01.12.2025 12:00" in line.text
    pings = [queued(uid, ":sla:") for uid in DISPATCHERS]
    assert [len(p) for p in pings] == [1, 1]
    assert f"Просрочена заявка <b>{ticket.label}</b> (Касса, ООО Ромашка)" in pings[0][0].text
    assert "Мастер: не назначен" in pings[0][0].text


def test_a_long_outage_fires_the_breach_alone_and_never_the_stale_warning(desk):
    ticket = file_ticket(desk, 101)
    assert fire(desk, msk(3, 10)) == 2                               # both targets breached
    assert [r.key for r in outgoing.Outgoing.select().where(outgoing.Outgoing.key.contains(":warn"))] == []
    assert timer(ticket).warned_at is not None and timer(ticket).next_at is None


def test_a_paused_or_answered_timer_never_fires(desk):
    ticket = file_ticket(desk, 101)
    desk.clock.now = msk(1, 10, 5)
    # answered first: waiting pauses the resolution timer only (test_attack2_sla.py)
    desk.svc.take(TECH, "Мастер Иван", ticket.id)
    desk.svc.set_waiting(TECH, "Мастер Иван", ticket.id)
    assert fire(desk, msk(30, 12)) == 0 and queued(key_part=":sla:") == []


def test_two_workers_claiming_at_once_fire_each_stage_once(desk):
    tickets = [file_ticket(desk, 101, description=f"Касса №{i} не печатает чеки") for i in range(30)]
    storage.close()
    results, barrier = [], threading.Barrier(2)

    def worker():
        barrier.wait()
        try:
            results.append(sla.fire_due(desk.app.settings, desk.app.engine.flowset.templates,
                                        msk(1, 12), batch=7))
        finally:
            storage.close()                                           # its own connection

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(results) == len(tickets) and len(results) == 2      # first-response breaches
    assert len(queued(GROUP, ":first_response:breach")) == len(tickets)
    assert [len(queued(uid, ":sla:")) for uid in DISPATCHERS] == [len(tickets)] * 2


def test_a_failed_run_fires_nothing_and_the_restarted_job_fires_it_once(desk, db_url):
    ticket = file_ticket(desk, 101)

    class Broken:                                  # a template that fails to render
        def render(self, *a, **kw):
            raise RuntimeError("template failed")

    with pytest.raises(RuntimeError):
        sla.fire_due(desk.app.settings, Broken(), msk(1, 12))
    assert queued(key_part=":sla:") == [] and timer(ticket).breached_at is None
    storage.close()
    storage.connect(db_url)                        # the bot starts again
    assert jobs.run_once(desk.app, "sla_timers") == 2               # due long ago: both
    assert jobs.run_once(desk.app, "sla_timers") == 0
    assert len(queued(GROUP, ":sla:")) == 2 and timer(ticket).breached_at is not None


# -- the client is told when to expect an answer ---------------------------------------------------

def test_the_confirmation_says_when_the_answer_comes(desk):
    chat = world_chat(desk, 101)
    file_through_dialog(chat)
    chat.click("📨 Отправить")
    assert chat.said("✅ Заявка <b>#1</b> создана") and chat.said("Ответим до 01.12.2025 12:00.")
