"""Builders for payment tests: an app on copies of the payment flows (with the real menu's
balance button only), a payer's chat, a company and its members, a ticket, and the invoice,
pre-checkout and payment events Telegram would send."""
from __future__ import annotations

import os

from ruamel.yaml import YAML

from engine import Engine, load_flowset
from engine.testing import Chat
from helpdesk import directory
from helpdesk.app import PROJECT_ROOT, App, build_services
from helpdesk.desk import staff
from helpdesk.directory.tables import Counterparty
from helpdesk.registry import load, registry
from helpdesk.tickets import Ticket

PAYER, OTHER, GROUP = 5001, 5002, -100777
SBP_LINK = "https://qr.nspk.ru/AS1000670LSS7DN18SJQDNP4B05KLJL2?type=01&bank=100000000001&cur=RUB"
INN = "7707083893"


# wg_comment, ticket_write, ticket_rate: the work group's callback, the private chats' handler
# and the rating's callback (registered with the rest) declare they start them
FLOWS = ("balance.yaml", "payment.yaml", "wg_comment.yaml", "ticket_write.yaml", "ticket_rate.yaml")


def _menu_with_balance_only(dest: str) -> None:
    """The real menu.yaml, keeping only its balance button and state (others' flows may be
    work in progress; this keeps the test about payments)."""
    yaml = YAML(typ="rt")
    with open(os.path.join(PROJECT_ROOT, "flows", "menu.yaml"), encoding="utf-8") as f:
        menu = yaml.load(f)
    main = menu["states"]["main"]
    main["buttons"] = [b for b in main["buttons"] if b.get("go") == "balance"]
    assert main["buttons"], "flows/menu.yaml lost its balance button"
    menu["states"] = {"main": main, "balance": menu["states"]["balance"]}
    menu["start"] = "main"       # the consent gate before it calls flows this test leaves out
    with open(dest, "w", encoding="utf-8") as f:
        yaml.dump(menu, f)


def build(settings, tmp_path, crm=None) -> App:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    for name in FLOWS:
        (flows / name).write_text(open(os.path.join(PROJECT_ROOT, "flows", name), encoding="utf-8").read(),
                                  encoding="utf-8")
    _menu_with_balance_only(str(flows / "menu.yaml"))
    load()                       # every registering module (helpdesk.registry.MODULES)
    fs = load_flowset(str(flows), os.path.join(PROJECT_ROOT, "templates"), registry,
                      languages=["ru", "en"], default_language="ru", menu_flow="menu",
                      commands={"start": "menu", "menu": "menu", "cancel": "menu"}, root=PROJECT_ROOT)
    app = App(settings)
    app.services = build_services(app)
    staff.seed(settings)             # the settings' technicians on this database's roster
    if crm is not None:
        app.services.crm = crm
    app.engine = Engine(fs, registry, services=app.services)
    return app


def chat(app, user_id=PAYER, lang="ru") -> Chat:
    directory.get_or_create_user(user_id, first_name="Payer", language=lang)
    return Chat(app.engine, user_id=user_id, language=lang)


def company(balance=0, crm_id=None) -> Counterparty:
    return directory.upsert_counterparty(inn=INN, name="ООО Ромашка", balance=balance, crm_id=crm_id)[0]


def member(user_id, cp, role, status="confirmed"):
    directory.get_or_create_user(user_id, first_name=f"U{user_id}")
    directory.link_user(user_id, cp, role, status=status)


def invoice_of(replies):
    found = [r.invoice for r in replies if r.invoice]
    assert found, f"no invoice in {[r.text for r in replies]}"
    return found[-1]


def pre_checkout(c: Chat, inv: dict, **changes):
    query = {"id": "pcq-1", "currency": inv["currency"], "total_amount": inv["prices"][0]["amount"],
             "invoice_payload": inv["payload"], **changes}
    [answer] = [r.pre_checkout for r in c.event(kind="pre_checkout", payment=query) if r.pre_checkout]
    return answer


def paid(c: Chat, inv: dict, charge="tg-charge-1", **changes):
    data = {"currency": inv["currency"], "total_amount": inv["prices"][0]["amount"],
            "invoice_payload": inv["payload"], "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "prov-" + charge, **changes}
    return c.event(kind="payment", payment=data)


def make_ticket(author=PAYER, cp=None) -> Ticket:
    directory.get_or_create_user(author, first_name="Author")
    return Ticket.create(number=Ticket.select().count() + 1, author=author, type="Ремонт",
                         description="Касса не печатает чек", counterparty=cp)
