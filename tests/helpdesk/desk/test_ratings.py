"""The client's rating of a done ticket, as the author and everybody else press it: the
request with 1..5 and "reopen", one tap recorded once (history, CRM comment), the comment
flow, the one reminder, low scores to the dispatchers and the thread, reopen instead."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from engine.session import load_session
from helpdesk.desk import ratings, staff
from helpdesk.desk.tables import Rating
from helpdesk.sync.outbox import OutboxItem
from helpdesk.tickets import DONE, IN_PROGRESS, Ticket, TicketEvent
from tests.support.refusals import (
    DIRECTOR,
    OTHER_ADMIN,
    REFUSED,
    STRANGER,
    USER,
    assert_refused,
    done_world,
    press,
    refusal_world,
)
from tests.support.tickets import GROUP, TECH, queued

DISPATCHERS = (700, 701)
COLLEAGUE = 106


@pytest.fixture
def world(database, monkeypatch):
    """USER's ticket (company A), taken and done by TECH: the request is queued."""
    return done_world(monkeypatch)


def templates(w):
    return w.app.engine.flowset.templates


def requests(ticket_id: int) -> list:
    return [r for r in queued(USER) if f"rt:{ticket_id}:" in json.dumps(r.buttons and
            [[b.data for b in row] for row in r.buttons])]


def rated_events(ticket_id: int) -> list[TicketEvent]:
    return list(TicketEvent.select().where((TicketEvent.ticket == ticket_id)
                                           & (TicketEvent.what == "rated")).order_by(TicketEvent.id))


def crm_comments(ticket_id: int) -> list[str]:
    items = OutboxItem.select().where((OutboxItem.entity == "ticket") & (OutboxItem.entity_id == ticket_id))
    return [c for c in (json.loads(i.payload).get("comment") for i in items) if c]


# --- the request ---------------------------------------------------------------------------

def test_a_done_ticket_asks_its_author_for_one_to_five_or_reopen(world):
    t = world.ticket
    [request] = requests(t.id)
    assert "выполнена" in request.text and t.label in request.text
    assert [[b.data for b in row] for row in request.buttons] == [
        [f"rt:{t.id}:{n}" for n in range(1, 6)], [f"rt:{t.id}:r"]]
    assert [b.text for b in request.buttons[0]] == [f"{n} ⭐" for n in range(1, 6)]
    row = Rating.get_by_id(t.id)
    assert (row.author_id, row.score, row.remind_at) == (USER, None, t.closed + timedelta(hours=24))


def test_a_cancelled_ticket_is_not_rated(database, monkeypatch):
    w = refusal_world(monkeypatch)
    w.svc.cancel(USER, w.ticket.id, "Уже не нужно, справились сами")
    assert requests(w.ticket.id) == [] and Rating.select().count() == 0


# --- one tap, once -------------------------------------------------------------------------

def test_one_tap_records_the_score_in_the_history_and_for_the_crm(world):
    t = world.ticket
    replies = press(world, USER, f"rt:{t.id}:4")
    edit = next(r for r in replies if r.edit_message_id)
    assert edit.callback_answer == "Спасибо за оценку!" and "4 из 5" in edit.text and not edit.buttons
    assert Rating.get_by_id(t.id).score == 4
    [event] = rated_events(t.id)
    assert (event.who, event.details["score"], event.details["text"]) == (str(USER), 4, "4/5")
    assert crm_comments(t.id) == [f"Оценка клиента по заявке {t.label}: 4 из 5."]
    assert load_session(USER, USER).flow == "ticket_rate"          # the comment is asked next
    assert any("комментарий" in (r.text or "") for r in replies if not r.edit_message_id)


def test_a_second_press_answers_already_rated_and_changes_nothing(world):
    t = world.ticket
    press(world, USER, f"rt:{t.id}:5")
    outbox_before = OutboxItem.select().count()
    replies = press(world, USER, f"rt:{t.id}:1")
    assert [(r.answer_only, r.callback_answer) for r in replies] == [(True, "Вы уже оценили эту заявку")]
    assert Rating.get_by_id(t.id).score == 5
    assert len(rated_events(t.id)) == 1 and OutboxItem.select().count() == outbox_before


@pytest.mark.parametrize("who", [STRANGER, COLLEAGUE, DIRECTOR, OTHER_ADMIN, TECH])
def test_a_forged_press_by_anyone_but_the_author_shows_nothing(world, caplog, who):
    for verb in ("1", "5", "r"):
        assert_refused(world, who, f"rt:{world.ticket.id}:{verb}", caplog)
    assert Rating.get_by_id(world.ticket.id).score is None


@pytest.mark.parametrize("data", ["rt:{t}:0", "rt:{t}:6", "rt:{t}:", "rt:{t}", "rt:²:5",
                                  "rt:{t}:5:5", "rt:424242:5", "rt:-1:5", "rt::5", "rt:{t}:x"])
def test_a_malformed_press_even_by_the_author_is_a_stale_button(world, caplog, data):
    assert_refused(world, USER, data.format(t=world.ticket.id), caplog)


def test_the_authors_press_from_the_group_is_refused(world, caplog):
    assert_refused(world, USER, f"rt:{world.ticket.id}:5", caplog, chat_id=GROUP)


def test_a_ticket_nobody_asked_about_cannot_be_rated(world, caplog):
    other = world.svc.create(USER, type="Касса", description="Весы не взвешивают товар",
                             counterparty_id=world.a)[0]
    assert_refused(world, USER, f"rt:{other.id}:5", caplog)


# --- the comment ---------------------------------------------------------------------------

def test_the_comment_is_saved_once_and_goes_to_the_crm(world):
    from engine.testing import Chat
    t = world.ticket
    c = Chat(world.app.engine, USER)
    c.event(kind="button", data=f"rt:{t.id}:5", message_id=1)
    c.send("Приехали быстро, всё починили")
    assert c.said("Комментарий сохранён")
    assert Rating.get_by_id(t.id).comment == "Приехали быстро, всё починили"
    assert rated_events(t.id)[-1].details["text"] == "5/5: Приехали быстро, всё починили"
    assert crm_comments(t.id)[-1].endswith("Комментарий: Приехали быстро, всё починили")
    with pytest.raises(ratings.AlreadyRated):
        ratings.add_comment(templates(world), world.app.settings, USER, t.id, "Ещё раз")
    with pytest.raises(ratings.RatingRefused):
        ratings.add_comment(templates(world), world.app.settings, STRANGER, t.id, "Чужой")
    assert Rating.get_by_id(t.id).comment == "Приехали быстро, всё починили"


def test_the_comment_can_be_skipped(world):
    from engine.testing import Chat
    c = Chat(world.app.engine, USER)
    c.event(kind="button", data=f"rt:{world.ticket.id}:5", message_id=1)
    c.click("Без комментария")
    assert c.said("Хорошо, спасибо!") and Rating.get_by_id(world.ticket.id).comment is None


# --- the one reminder ----------------------------------------------------------------------

def test_the_reminder_fires_once_when_due(world):
    t, s = world.ticket, world.app.settings
    assert ratings.send_reminders(templates(world), s, now=t.closed + timedelta(hours=23)) == 0
    due = t.closed + timedelta(hours=25)
    assert ratings.send_reminders(templates(world), s, now=due) == 1
    assert ratings.send_reminders(templates(world), s, now=due + timedelta(days=3)) == 0
    [reminder] = queued(USER, f"t{t.id}:rate:remind")
    assert "ещё не оценили" in reminder.text and len(reminder.buttons[0]) == 5
    assert Rating.get_by_id(t.id).reminded_at == due


def test_no_reminder_after_a_score_or_a_reopen(world):
    s = world.app.settings
    press(world, USER, f"rt:{world.ticket.id}:3")
    later = world.ticket.closed + timedelta(days=2)
    assert ratings.send_reminders(templates(world), s, now=later) == 0
    t2 = world.svc.create(USER, type="Касса", description="Сканер не читает коды",
                          counterparty_id=world.a)[0]                # a second ticket, reopened
    world.svc.done(TECH, "Иван Петров", t2.id)
    world.svc.reopen(USER, t2.id)
    assert ratings.send_reminders(templates(world), s, now=later) == 0
    assert queued(USER, ":rate:remind") == []


# --- low scores ----------------------------------------------------------------------------

def test_a_low_score_goes_to_each_dispatcher_and_into_the_thread(world):
    for d in DISPATCHERS:
        staff.grant(d, staff.DISPATCHER)
    staff.grant(702, staff.TECHNICIAN)
    t = world.ticket
    press(world, USER, f"rt:{t.id}:2")
    for d in DISPATCHERS:
        [alert] = queued(d, f"t{t.id}:rate:low")
        assert "Низкая оценка" in alert.text and "2 из 5" in alert.text and t.label in alert.text
        assert "ООО Ромашка" in alert.text and "Иван Петров" in alert.text
    assert queued(702, ":rate:") == []
    [line] = queued(GROUP, f"t{t.id}:rate:low:group")
    assert "2 из 5" in line.text


def test_a_low_scores_comment_follows_it_and_a_fair_score_tells_nobody(world):
    staff.grant(700, staff.DISPATCHER)
    t = world.ticket
    press(world, USER, f"rt:{t.id}:1")
    ratings.add_comment(templates(world), world.app.settings, USER, t.id, "Никто не приехал")
    assert "Никто не приехал" in queued(700, f"t{t.id}:rate:lowc")[0].text
    t2 = world.svc.create(USER, type="Касса", description="Сканер не читает коды",
                          counterparty_id=world.a)[0]
    world.svc.done(TECH, "Иван Петров", t2.id)
    press(world, USER, f"rt:{t2.id}:3")
    assert queued(700, f"t{t2.id}:rate") == [] and queued(GROUP, f"t{t2.id}:rate") == []


# --- reopen instead ------------------------------------------------------------------------

def test_reopen_instead_of_a_score(world):
    t = world.ticket
    replies = press(world, USER, f"rt:{t.id}:r")
    edit = next(r for r in replies if r.edit_message_id)
    assert "снова открыта" in edit.text and edit.callback_answer == "Заявка возобновлена"
    assert Ticket.get_by_id(t.id).status == IN_PROGRESS          # back to its technician
    assert Rating.get_by_id(t.id).remind_at is None
    again = press(world, USER, f"rt:{t.id}:5")                    # the old request's buttons
    assert [r.callback_answer for r in again] == ["Заявка снова в работе: оценить её можно, "
                                                  "когда она будет выполнена"]
    assert Rating.get_by_id(t.id).score is None


def test_done_again_asks_again_but_a_rated_ticket_is_asked_once(world):
    t = world.ticket
    press(world, USER, f"rt:{t.id}:r")
    world.svc.done(TECH, "Иван Петров", t.id)
    assert len(requests(t.id)) == 2
    press(world, USER, f"rt:{t.id}:5")
    world.svc.reopen(USER, t.id)
    world.svc.done(TECH, "Иван Петров", t.id)
    assert len(requests(t.id)) == 2 and Rating.get_by_id(t.id).score == 5


def test_reopen_past_the_period_is_refused_with_the_reason(world):
    t = world.ticket
    Ticket.update(closed=t.closed - timedelta(days=30)).where(Ticket.id == t.id).execute()
    replies = press(world, USER, f"rt:{t.id}:r")
    assert replies[0].answer_only and "возобновить только в течение" in replies[0].callback_answer
    assert Ticket.get_by_id(t.id).status == DONE
    assert REFUSED not in replies[0].callback_answer


# --- exactly once across workers -----------------------------------------------------------

def _at_once(fn, n: int = 4) -> list:
    """`fn` in `n` threads started together (each its own database connection)."""
    import threading

    from engine import storage
    results, lock, gate = [], threading.Lock(), threading.Barrier(n)

    def run():
        try:
            gate.wait(10)
            value = fn()
        except (ratings.AlreadyRated, ratings.NotRateable) as e:   # a loser's answer
            value = type(e).__name__
        finally:
            storage.close()
        with lock:
            results.append(value)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_reminder_runs_send_one_reminder(world):
    due = world.ticket.closed + timedelta(hours=25)
    sent = _at_once(lambda: ratings.send_reminders(templates(world), world.app.settings, now=due))
    assert sorted(sent) == [0, 0, 0, 1]
    assert len(queued(USER, ":rate:remind")) == 1


def test_concurrent_presses_record_one_score(world):
    def one():
        return ratings.rate(templates(world), world.app.settings, USER, world.ticket.id, 4).score

    results = _at_once(one)
    assert sorted(map(str, results)) == ["4", "AlreadyRated", "AlreadyRated", "AlreadyRated"]
    won = 4
    assert Rating.get_by_id(world.ticket.id).score == won and len(rated_events(world.ticket.id)) == 1


def test_the_reminder_job_runs_through_the_scheduler_entry(world):
    from helpdesk.ops.jobs import run_once
    Rating.update(remind_at=world.ticket.closed - timedelta(minutes=1)).execute()
    assert run_once(world.app, "rating_reminders") == 1
    assert run_once(world.app, "rating_reminders") == 0


# --- privacy and switches ------------------------------------------------------------------

def test_forgetting_the_author_keeps_the_score_but_not_who_gave_it(world):
    from helpdesk.directory.tables import ERASED_USER_ID
    from helpdesk.privacy.erase import forget
    press(world, USER, f"rt:{world.ticket.id}:4")
    forget(USER)
    row = Rating.get_by_id(world.ticket.id)
    assert (row.author_id, row.score) == (ERASED_USER_ID, 4)


def test_ratings_off_asks_nobody(database, monkeypatch):
    from tests.support.tickets import make_settings, make_world
    settings = make_settings()
    settings.ratings.use = False
    w = make_world(settings)
    t = w.svc.create(USER, type="Касса", description="Касса не печатает чеки", counterparty_id=w.a)[0]
    w.svc.done(TECH, "Иван Петров", t.id)
    assert requests(t.id) == [] and Rating.select().count() == 0


# --- through the real Telegram transport ---------------------------------------------------

def test_over_telegram_one_tap_edits_the_request_and_the_comment_is_asked(world):
    from tests.support.fakes.telegram_api import FakeTelegramAPI
    from tests.support.telegram_harness import running_bot
    t = world.ticket
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        author = api.user(USER, "Иван")
        request = author.wait_for(contains="Оцените, пожалуйста", timeout=60)
        assert request.callback_data[f"{5} ⭐"] == f"rt:{t.id}:5"
        update = author.press_data(f"rt:{t.id}:5", message_id=request.message_id)
        assert api.wait_callback_answer(update["callback_query"]["id"], timeout=60)["text"] == \
            "Спасибо за оценку!"
        author.wait_for(contains="Напишите комментарий", timeout=60)
        assert "5 из 5" in request.plain_text and request.buttons == []    # edited in place
        author.send("Всё работает, спасибо")
        author.wait_for(contains="Комментарий сохранён", timeout=60)
    assert Rating.get_by_id(t.id).comment == "Всё работает, спасибо"
