"""One task per ticket in 1C, whatever fails when (docs/sync.md, "One task per ticket").

The reported bug: 1C accepted the pulled ticket under the bot's guid as code 000000202; the
bot's queued retry, once 1C was back, posted it again under a different guid; 1C held
000000202 and 000000203 and the bot's ticket silently moved to the second.

Every interleaving of 1C's `nonSync` acceptance (read, then confirm), the bot's push and
its retries, and 1C's HTTP service being down or losing an answer, runs against the 1C
stub over real HTTP (the bot's API on a loopback uvicorn, 1C's service on a loopback
stub); the stub counts tasks by guid and records a ticket posted under a second guid.
"""
from __future__ import annotations

import itertools
import json

import pytest

from engine.outgoing import Outgoing
from engine.storage import write_tx
from helpdesk import directory, sync
from helpdesk.directory.tables import utcnow
from helpdesk.sync import identity
from helpdesk.sync.outbox import OutboxItem
from helpdesk.tickets import Ticket, TicketEvent
from tests.support.api import ApiServer
from tests.support.fakes.crm_1c_stub import BotApi, OneCStub
from tests.support.sync import BUG_USER, CRM_TOKEN, INN, make_app, new_ticket

API_TOKEN = "api-t0ken-1c-ext"


def _interleavings(a: list[str], b: list[str]) -> list[tuple[str, ...]]:
    """Every merge of the two sequences that keeps each one's own order."""
    n = len(a) + len(b)
    merged = []
    for slots in itertools.combinations(range(n), len(a)):
        ia, ib = iter(a), iter(b)
        merged.append(tuple(next(ia) if i in slots else next(ib) for i in range(n)))
    return merged


# The bot's side: its push, with 1C's HTTP service down (refused) or losing the answer
# after applying it, then retried until it goes through. 1C's side: it reads `nonSync`
# and accepts the ticket under the guid shown, later it confirms that to the bot.
PUSHES = (["push"], ["push_while_down", "push"], ["push_reply_lost", "push"],
          ["push_while_down", "push_reply_lost", "push"])
ACCEPTANCE = ["1c_reads_non_sync", "1c_confirms"]
CASES = [steps for pushes in PUSHES for steps in _interleavings(pushes, ACCEPTANCE)]


@pytest.fixture
def one_c():
    with OneCStub(login="bot", password="p4ss-1c", token=CRM_TOKEN) as c1:
        yield c1


@pytest.fixture
def bot(database, settings, one_c):
    """The bot wired to the 1C stub, its API served on loopback, a company 1C knows."""
    app = make_app(settings, "1c-seed", one_c.url, api_tokens=(API_TOKEN,))
    guid = one_c.add_partner("ООО Ромашка", inn=INN, kpp="770701001")
    with write_tx():
        cp, _ = directory.upsert_counterparty(inn=INN, name="ООО Ромашка", kpp="770701001",
                                              crm_id=guid)
    with ApiServer(app) as server:
        api = BotApi(server.base, API_TOKEN)
        yield app, cp, api
        api.close()


def _backoff_passes() -> None:
    """The clock moves past every retry's backoff."""
    OutboxItem.update(next_at=utcnow()).where(OutboxItem.status == "pending").execute()


def _run(step: str, app, one_c: OneCStub, api: BotApi, accepted: list) -> None:
    _backoff_passes()
    if step == "push":
        sync.drain(app)
    elif step == "push_while_down":
        one_c.down()
        sync.drain(app)
        one_c.up()
    elif step == "push_reply_lost":
        one_c.lose_reply_next(1, status=503)
        sync.drain(app)
    elif step == "1c_reads_non_sync":
        accepted.extend(one_c.take_non_sync(api))
    elif step == "1c_confirms":
        answers = one_c.confirm(api, accepted)
        assert all(a["result"] is True for a in answers), answers


@pytest.mark.parametrize("steps", CASES, ids=["-".join(c) for c in CASES])
def test_every_interleaving_of_acceptance_retry_and_outage_ends_in_one_task(bot, one_c, steps):
    app, cp, api = bot
    ticket = new_ticket(app, cp=cp)
    accepted: list[dict] = []
    for step in steps:
        _run(step, app, one_c, api, accepted)

    t = Ticket.get_by_id(ticket.id)
    assert list(one_c.tasks) == [identity.mint_guid("task", ticket.id)]
    assert one_c.duplicates == []
    task = one_c.tasks[t.crm_id]
    assert (t.crm_id, t.crm_number, t.label) == (task["guid"], task["code"], f"#{task['code']}")
    assert [i.status for i in OutboxItem.select().where(OutboxItem.entity == "ticket")] == ["done"]
    assert api.call("GET", "/api/tasks", params={"nonSync": "true"})["list"] == []
    numbered = [e.details["text"] for e in TicketEvent.select().where(
        (TicketEvent.ticket == ticket.id) & (TicketEvent.what == "numbered"))]
    assert numbered == [task["code"]]


def test_the_cases_cover_every_order():
    """25 orders: 3 + 6 + 6 + 10, no two alike, 1C's read always before its confirm."""
    assert len(CASES) == len(set(CASES)) == 25
    assert all(c.index("1c_reads_non_sync") < c.index("1c_confirms") for c in CASES)


def test_the_reported_bug_a_retry_after_1c_accepted_the_pulled_ticket(bot, one_c):
    """1C down; 1C accepts the pulled ticket (000000002, its partner is 000000001); the
    queued push goes once 1C is back: the same task, not a second one."""
    app, cp, api = bot
    ticket = new_ticket(app, cp=cp)
    one_c.down()
    assert sync.drain(app).retried == 1                       # 1C's HTTP service is down
    one_c.up()
    accepted = one_c.take_non_sync(api)
    assert accepted == [{"guid": identity.mint_guid("task", ticket.id), "code": "000000002"}]
    one_c.confirm(api, accepted)
    assert Ticket.get_by_id(ticket.id).label == "#000000002"
    _backoff_passes()
    assert sync.drain(app).sent == 1                          # the queued retry
    assert [name for name, _ in one_c.pushed] == ["task"]
    assert list(one_c.tasks) == [accepted[0]["guid"]] and one_c.duplicates == []
    assert Ticket.get_by_id(ticket.id).label == "#000000002"


def test_an_edit_queued_before_the_first_push_lands_on_the_same_task(bot, one_c):
    """Two outbox items (creation, edit) with two idempotency keys: one guid."""
    app, cp, api = bot
    ticket = new_ticket(app, cp=cp)
    one_c.down()
    sync.drain(app)
    app.services.tickets.edit(1001, ticket.id, description="Не печатает чек, касса 2")
    one_c.up()
    for _ in range(2):
        _backoff_passes()
        sync.drain(app)
    assert len(one_c.received("POST", one_c.PREFIX + "task")) == 1
    assert len(one_c.received("PUT", one_c.PREFIX + "task")) == 1
    assert list(one_c.tasks) == [identity.mint_guid("task", ticket.id)]
    assert one_c.tasks[Ticket.get_by_id(ticket.id).crm_id]["description"] == "Не печатает чек, касса 2"


def test_a_changed_1c_code_is_in_the_ticket_history(bot, one_c):
    app, cp, api = bot
    ticket = new_ticket(app, cp=cp)
    sync.drain(app)
    guid = Ticket.get_by_id(ticket.id).crm_id
    answer = api.call("PUT", "/api/task", json={"guid": guid, "code": "000000203"})
    assert answer["result"] is True
    t = Ticket.get_by_id(ticket.id)
    assert (t.crm_id, t.label) == (guid, "#000000203")
    history = [(e.what, e.details.get("text")) for e in app.services.tickets.events(t, limit=10)]
    assert history[-2:] == [("numbered", "000000002"), ("numbered", "000000002 → 000000203")]
    card = app.engine.flowset.templates.render(
        "ticket/card", "ru", {"ticket": _view(t), "ticket_events": _events(app, t),
                                "can_reopen": False})
    assert "номер в учётной системе (учётная система): 000000002 → 000000203" in card          # what, who, old → new


def test_a_second_task_claiming_the_ticket_by_code_is_refused_and_the_ticket_stays(bot, one_c):
    """1C posts a task under another guid with the ticket's code: 409, nothing moves."""
    app, cp, api = bot
    ticket = new_ticket(app, cp=cp)
    sync.drain(app)
    before = Ticket.get_by_id(ticket.id)
    r = api.http.put(api.base + "/api/task", timeout=60, json={
        "guid": "a-second-guid", "code": before.crm_number, "closingDate": "2024-05-02T10:00:00"})
    assert r.status_code == 409 and r.json()["result"] is False
    assert before.crm_id in r.json()["error"]
    after = Ticket.get_by_id(ticket.id)
    assert (after.crm_id, after.crm_number, after.status) == (before.crm_id, before.crm_number, "new")


def test_a_push_answered_under_another_guid_goes_dead_and_the_ticket_stays(bot, one_c):
    """A 1C that answers a push with another guid than the ticket's: the operator is told
    (dead letter to the notify.bug user), the ticket keeps its task."""
    app, cp, api = bot
    ticket = new_ticket(app, cp=cp)
    accepted = one_c.take_non_sync(api)
    one_c.confirm(api, accepted)
    one_c.store_next_task_under("another-guid")
    report = sync.drain(app)
    assert len(report.dead) == 1 and "another-guid" in report.errors[0]
    t = Ticket.get_by_id(ticket.id)
    assert (t.crm_id, t.crm_number) == (accepted[0]["guid"], accepted[0]["code"])
    assert Outgoing.select().where(Outgoing.chat_id == BUG_USER).count() == 1


def _view(t):
    from helpdesk.tickets.view import ticket_view
    return ticket_view(t)


def _events(app, t):
    from helpdesk.tickets.history import event_view
    return [event_view(e) for e in app.services.tickets.events(t, limit=10)]


def test_a_retry_frozen_before_the_upgrade_goes_under_the_ticket_guid(bot, one_c):
    """An item queued across the upgrade: its body was frozen without the ticket's guid;
    1C accepted the pulled ticket meanwhile; the retry still lands on that task."""
    app, cp, api = bot
    ticket = new_ticket(app, cp=cp)
    one_c.down()
    sync.drain(app)                                           # body frozen, send refused
    one_c.up()
    item = OutboxItem.get(OutboxItem.entity == "ticket")
    payload = json.loads(item.payload)
    del payload["_body"]["bot_guid"]                          # as an older version froze it
    OutboxItem.update(payload=json.dumps(payload)).where(OutboxItem.id == item.id).execute()
    one_c.confirm(api, one_c.take_non_sync(api))
    _backoff_passes()
    assert sync.drain(app).sent == 1
    assert list(one_c.tasks) == [identity.mint_guid("task", ticket.id)]
    assert one_c.duplicates == []


def test_a_confirmation_without_a_code_links_and_the_push_brings_the_number(bot, one_c):
    app, cp, api = bot
    ticket = new_ticket(app, cp=cp)
    accepted = one_c.take_non_sync(api)
    one_c.confirm(api, [{"guid": a["guid"]} for a in accepted])    # 1C names no code yet
    t = Ticket.get_by_id(ticket.id)
    assert (t.crm_id, t.crm_number, t.label) == (accepted[0]["guid"], None, f"#{t.number}")
    assert sync.drain(app).sent == 1
    t = Ticket.get_by_id(ticket.id)
    assert (t.crm_id, t.crm_number) == (accepted[0]["guid"], accepted[0]["code"])
    assert list(one_c.tasks) == [t.crm_id] and one_c.duplicates == []
