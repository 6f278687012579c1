"""The REST API on a real loopback uvicorn server: tokens, validation naming the field,
idempotent upserts, absolute balances, tickets through the ticket service, messages, the
changes feed, the committed OpenAPI spec."""
from __future__ import annotations

import json

import pytest

from engine.outgoing import Outgoing
from helpdesk.api.server import make_server, openapi_json
from helpdesk.directory.tables import ContactPerson, Counterparty, Membership, TradePoint
from helpdesk.sync import outbox
from tests.support.api import OLD_TOKEN, SPEC_FILE, TOKEN, Client
from tests.support.sync import make_app, new_counterparty, new_ticket

COMPANY = {"inn": "7707083893", "name": "ООО Ромашка", "kpp": "770701001",
           "balance_kopecks": 150000,
           "trade_points": [{"id": "tp-1", "name": "Магазин на Ленина"}]}


# ---- tokens ---------------------------------------------------------------------------------

def test_no_tokens_refuses_to_start(database, settings):
    from engine.errors import SettingsError
    app = make_app(settings, "none", api_tokens=())
    with pytest.raises(SettingsError, match="api.tokens is empty"):
        make_server(app)


def test_every_token_of_the_rotation_works_and_nothing_else(server):
    for token, status in [(TOKEN, 200), (OLD_TOKEN, 200), ("wrong", 401), (None, 401),
                          (TOKEN[:-1], 401), (TOKEN + "x", 401)]:
        r = Client(server.base, token).get("/api/v1/changes")
        assert r.status_code == status, token
    r = Client(server.base, None).get("/api/v1/changes")
    assert r.headers["www-authenticate"] == "Bearer" and "token" in r.json()["detail"]


def test_v1_takes_only_bearer_1c_paths_also_token_header_and_api_key(server):
    anon = Client(server.base, None)
    assert anon.get("/api/v1/changes", headers={"token": TOKEN}).status_code == 401
    assert anon.get("/api/v1/changes", params={"apiKey": TOKEN}).status_code == 401
    assert anon.get("/api/partners", headers={"token": TOKEN}).status_code == 200
    assert anon.get("/api/partners", params={"apiKey": TOKEN}).status_code == 200
    refused = anon.get("/api/partners", headers={"token": "nope"})
    assert refused.status_code == 401 and refused.json() == {
        "result": False, "error": "a valid API token is required"}


# ---- counterparties, trade points, contacts -------------------------------------------------

def test_counterparty_upsert_is_idempotent(api):
    first = api.put("/api/v1/counterparties/c-1", json=COMPANY)
    again = api.put("/api/v1/counterparties/c-1", json=COMPANY)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    body = first.json()
    assert body["crm_id"] == "c-1" and body["balance_kopecks"] == 150000
    assert [t["crm_id"] for t in body["trade_points"]] == ["tp-1"]
    assert Counterparty.select().count() == 1 and TradePoint.select().count() == 1
    renamed = api.put("/api/v1/counterparties/c-1", json=COMPANY | {"name": "ООО Ромашка+"})
    assert renamed.json()["name"] == "ООО Ромашка+" and Counterparty.select().count() == 1


def test_a_bad_request_names_the_field_and_writes_nothing(api):
    bad = COMPANY | {"trade_points": [{"id": "tp-1", "name": "ok"}, {"id": "tp-2", "name": ""}]}
    r = api.put("/api/v1/counterparties/c-1", json=bad)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "trade_points", 1, "name"]
    r = api.put("/api/v1/counterparties/c-1", json=COMPANY | {"inn": "12345"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "inn"]
    r = api.put("/api/v1/counterparties/c-1", json=COMPANY | {"balance_kopecks": 1.5})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "balance_kopecks"]
    assert Counterparty.select().count() == 0 and TradePoint.select().count() == 0


def test_a_failure_half_way_rolls_back_the_whole_request(api):
    # the 1C bundle writes partners first; the unknown partner of the department then fails
    bundle = {"partners": [{"guid": "g-1", "name": "ООО Ромашка", "inn": "7707083893"}],
              "departments": [{"guid": "d-1", "name": "Склад", "guidPartner": "g-unknown"}]}
    r = api.post("/api/partner", json=bundle)
    assert r.status_code == 404 and r.json() == {"result": False,
                                                 "error": "guidPartner: no partner 'g-unknown'"}
    assert Counterparty.select().count() == 0
    api.put("/api/v1/counterparties/c-2", json=COMPANY | {"inn": "7736050003"})
    api.put("/api/v1/counterparties/c-1", json=COMPANY)
    r = api.put("/api/v1/counterparties/c-2", json=COMPANY | {"name": "Новое имя"})
    assert r.status_code == 409          # c-1 holds that INN: nothing of c-2 changed
    assert Counterparty.get(Counterparty.crm_id == "c-2").name == COMPANY["name"]


def test_contact_role_from_post_or_given_and_linked_members_follow(api, api_app):
    from helpdesk import directory
    api.put("/api/v1/counterparties/c-1", json=COMPANY)
    r = api.put("/api/v1/contacts/p-1", json={"counterparty_id": "c-1", "full_name": "Иванов И.",
                                               "phone": "8 (999) 123-45-67",
                                               "post": "Генеральный директор"})
    assert r.status_code == 200 and r.json()["role"] == "DIRECTOR"
    assert r.json()["phone"] == "+79991234567"
    contact = ContactPerson.get(ContactPerson.crm_id == "p-1")
    directory.get_or_create_user(1001)
    directory.link_user(1001, contact.counterparty_id, "DIRECTOR", contact=contact)
    r = api.put("/api/v1/contacts/p-1", json={"counterparty_id": "c-1", "full_name": "Иванов И.",
                                               "post": "Кладовщик"})
    assert r.json()["role"] == "USER" and Membership.get().role == "USER"
    r = api.put("/api/v1/contacts/p-1", json={"counterparty_id": "c-1", "full_name": "Иванов И.",
                                               "post": "Кладовщик", "role": "ADMINISTRATOR"})
    assert r.json()["role"] == "ADMINISTRATOR" and ContactPerson.select().count() == 1


def test_unknown_counterparty_is_404_naming_the_field(api):
    r = api.put("/api/v1/contacts/p-1", json={"counterparty_id": "nope", "full_name": "X"})
    assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["body", "counterparty_id"]
    r = api.put("/api/v1/contacts/p-1", json={"counterparty_id": "c", "full_name": "X",
                                               "phone": "not a phone"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "phone"]


# ---- balances -------------------------------------------------------------------------------

def test_balance_is_absolute_and_never_counted_twice(api):
    api.put("/api/v1/counterparties/c-1", json=COMPANY)
    for _ in range(3):
        r = api.put("/api/v1/counterparties/c-1/balance", json={"balance_kopecks": 99000})
        assert r.status_code == 200 and r.json()["balance_kopecks"] == 99000
    api.put("/api/v1/counterparties/c-1", json=COMPANY | {"balance_kopecks": None})
    assert Counterparty.get().balance == 99000          # omitted: unchanged
    r = api.put("/api/balance", json={"guid": "c-1", "amount": "120050"})
    r = api.put("/api/balance", json={"guid": "c-1", "amount": "120050"})
    assert r.json()["entity"]["amount"] == "120050" and Counterparty.get().balance == 120050
    got = api.get("/api/balance", params={"inn": COMPANY["inn"]}).json()
    assert got["result"] is True and got["entity"]["amount"] == "120050"


# ---- tickets --------------------------------------------------------------------------------

def test_ticket_update_goes_through_the_ticket_service(api, api_app):
    from helpdesk.tickets import TicketEvent
    ticket = new_ticket(api_app)
    before = outbox.OutboxItem.select().count()
    r = api.patch(f"/api/v1/tickets/{ticket.number}",
                  json={"status": "in_progress", "master": "Петров П.", "crm_id": "t-77",
                        "comment": "Выезд завтра в 10"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["master"], body["crm_id"]) == ("in_progress", "Петров П.", "t-77")
    events = [(e.source, e.what) for e in TicketEvent.select().order_by(TicketEvent.id)]
    assert ("crm", "taken") in events and ("crm", "comment") in events
    assert outbox.OutboxItem.select().count() == before        # no echo back to the CRM
    again = api.patch("/api/v1/tickets/by-crm-id/t-77",
                      json={"status": "in_progress", "comment": "Выезд завтра в 10"})
    assert again.json()["version"] == body["version"]          # a repeat changes nothing
    assert TicketEvent.select().count() == len(events)


def test_ticket_version_conflict_is_409(api, api_app):
    ticket = new_ticket(api_app)
    r = api.patch(f"/api/v1/tickets/{ticket.number}", json={"status": "done", "version": 99})
    assert r.status_code == 409
    assert api.get(f"/api/v1/tickets/{ticket.number}").json()["status"] == "new"
    assert api.patch("/api/v1/tickets/999", json={"status": "done"}).status_code == 404
    r = api.patch(f"/api/v1/tickets/{ticket.number}", json={"status": "closed-ish"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "status"]


def test_payment_required_asks_the_author_once(api, api_app):
    from helpdesk.payments import PaymentRequest
    ticket = new_ticket(api_app)
    for _ in range(2):
        r = api.patch(f"/api/v1/tickets/{ticket.number}",
                      json={"payment_required": {"amount_kopecks": 250000}})
        assert r.status_code == 200, r.text
    (request,) = PaymentRequest.select()
    assert request.amount == 250000 and request.ticket_id == ticket.id


# ---- messages and the changes feed -----------------------------------------------------------

def test_message_to_a_client_is_queued_once_per_key(api, api_app):
    new_ticket(api_app, user_id=1001)
    body = {"phone": "+7 999 123-45-67", "text": "Мастер приедет <завтра>"}
    for _ in range(2):
        r = api.post("/api/v1/messages", json=body, headers={"Idempotency-Key": "m-1"})
        assert r.status_code == 200 and r.json()["recipients"] == [1001]
    (msg,) = Outgoing.select().where(Outgoing.chat_id == 1001).where(
        Outgoing.key.startswith("api-msg"))
    assert "Мастер приедет &lt;завтра&gt;" in json.loads(msg.body)["text"]
    r = api.post("/api/v1/messages", json={"text": "x"})
    assert r.status_code == 422 and "exactly one" in r.json()["detail"][0]["msg"]
    r = api.post("/api/v1/messages", json={"telegram_user_id": 5, "text": "x"})
    assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["body", "telegram_user_id"]


def test_changes_feed_pages_bot_side_changes_with_a_cursor(api, api_app, monkeypatch):
    from helpdesk.api import v1
    monkeypatch.setattr(v1, "FEED_SETTLE_SECONDS", 0)     # PostgreSQL holds young rows back
    cp = new_counterparty()
    ticket = new_ticket(api_app, cp=cp)
    first = api.get("/api/v1/changes", params={"limit": 1}).json()
    assert [(i["entity"], i["id"]) for i in first["items"]] == [("counterparty", cp.id)]
    assert first["items"][0]["data"]["inn"] == cp.inn
    rest = api.get("/api/v1/changes", params={"cursor": first["next_cursor"]}).json()
    assert [(i["entity"], i["id"]) for i in rest["items"]] == [("ticket", ticket.id)]
    assert rest["items"][0]["data"]["number"] == ticket.number
    empty = api.get("/api/v1/changes", params={"cursor": rest["next_cursor"]}).json()
    assert empty == {"items": [], "next_cursor": rest["next_cursor"]}
    assert api.get("/api/v1/changes", params={"cursor": "abc"}).status_code == 422


# ---- the spec -------------------------------------------------------------------------------

def test_committed_openapi_spec_is_up_to_date(api, api_app):
    served = api.get("/api/v1/openapi.json")
    assert served.status_code == 200 and "/api/v1/counterparties/{crm_id}" in served.json()["paths"]
    with open(SPEC_FILE, encoding="utf-8") as f:
        committed = f.read()
    assert committed == openapi_json(api_app), \
        "docs/openapi.json is stale: python -m helpdesk.api.spec > docs/openapi.json"


def test_the_root_and_docs_lead_to_the_api_documentation_without_a_token(server):
    anonymous = Client(server.base, token=None)
    for path in ("/", "/docs"):
        moved = anonymous.get(path, allow_redirects=False)
        assert (moved.status_code, moved.headers["location"]) == (307, "/api/v1/docs"), path
        page = anonymous.get(path)
        assert page.status_code == 200 and "swagger" in page.text.lower(), path


# ---- issue 17 items 2 and 3: a typed phone or INN proves nothing -------------------------

DIRECTOR_PHONE, REGISTER = "+79000000001", "🔑 Зарегистрироваться"
REAL = {"inn": "7707083893", "name": "ООО Настоящая"}


def _bot_chat(app, uid: int):
    from engine.testing import Chat
    c = Chat(app.engine, user_id=uid)
    c.send("/start")
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    return c


def _crm_lists_the_director(api) -> None:
    api.put("/api/v1/counterparties/c-1", json=COMPANY)
    r = api.put("/api/v1/contacts/p-dir", json={"counterparty_id": "c-1", "full_name": "Иванов И.",
                                                 "phone": DIRECTOR_PHONE, "post": "Директор"})
    assert r.status_code == 200


@pytest.mark.parametrize("target", [{"phone": "8 900 000-00-01"}, {"contact_id": "p-dir"}])
def test_a_message_to_the_directors_phone_or_contact_skips_who_typed_it(api, api_app, target):
    _crm_lists_the_director(api)
    _bot_chat(api_app, 2001).share_contact(DIRECTOR_PHONE)        # the director himself
    _bot_chat(api_app, 3001).send(DIRECTOR_PHONE)                 # a stranger types it
    r = api.post("/api/v1/messages", json={**target, "text": "Счёт оплачен"})
    assert r.status_code == 200 and r.json()["recipients"] == [2001]
    assert not Outgoing.select().where((Outgoing.chat_id == 3001)
                                       & Outgoing.key.startswith("api-msg")).exists()


def test_a_typed_phone_alone_is_no_recipient(api, api_app):
    _stranger_types_inn(api_app, 3002, "+79005550000", REAL["inn"], shared=False)
    r = api.post("/api/v1/messages", json={"phone": "+79005550000", "text": "x"})
    assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["body", "phone"]


def _stranger_types_inn(app, uid: int, phone: str, inn: str, *, shared: bool = True):
    c = _bot_chat(app, uid)
    c.share_contact(phone) if shared else c.send(phone)
    for answer in ("Незнакомцев Пётр", inn, "Менеджер", "ООО Моя"):
        c.send(answer)
    return c


def _status(uid: int) -> tuple[str, str]:
    m = Membership.get(Membership.telegram_user == uid)
    return m.status, m.role


def test_the_crm_bringing_the_real_company_and_its_people_confirms_no_stranger(api, api_app):
    """He typed a real company's INN first (a new counterparty for the bot); the CRM then
    sends that company and its people, he is not among them: still unverified. A typed
    phone the CRM lists is no proof either."""
    _stranger_types_inn(api_app, 3010, "+79005550010", REAL["inn"])
    _stranger_types_inn(api_app, 3011, "+79005550011", REAL["inn"], shared=False)
    assert _status(3010) == _status(3011) == ("unverified", "USER")
    assert api.put("/api/v1/counterparties/c-real", json=REAL).status_code == 200
    for n, (phone, post) in enumerate([("+79000000001", "Директор"), ("+79005550011", "Бухгалтер")]):
        api.put(f"/api/v1/contacts/p-{n}", json={"counterparty_id": "c-real", "full_name": f"P{n}",
                                                 "phone": phone, "post": post})
    assert Counterparty.get(Counterparty.inn == REAL["inn"]).crm_id == "c-real"
    assert _status(3010) == ("unverified", "USER")
    assert _status(3011) == ("unverified", "USER")               # his number was only typed


def test_the_crm_listing_his_proven_phone_confirms_him_with_the_crms_role(api, api_app):
    _stranger_types_inn(api_app, 3020, "+79005550020", REAL["inn"])
    api.put("/api/v1/counterparties/c-real", json=REAL)
    r = api.put("/api/v1/contacts/p-him", json={"counterparty_id": "c-real", "full_name": "Незнакомцев П.",
                                                 "phone": "+7 900 555-00-20", "post": "Главный бухгалтер"})
    assert r.status_code == 200
    m = Membership.get(Membership.telegram_user == 3020)
    assert (m.status, m.role, m.contact.crm_id) == ("confirmed", "ADMINISTRATOR", "p-him")
