"""Demo directory: a few companies, trade points and contacts with known phones.

`seed_demo()` is idempotent (upserts by INN, name and phone; balances are set only when a
company is first created, so a demo top-up survives a re-run). It returns a description
of the data for the banner the terminal chat prints: which phone gives which role where.
INNs are checksum-correct (built with stdnum.ru.inn) so the questionnaire accepts them.

Both sides of the product in one terminal: `configure()` gives the demo a support work group
and a technician when the settings have none, `register_people()` registers every demo
person under a Telegram id of their own (their phone proven, as a shared contact would; the
tests' directory, `seed_demo()` alone, has nobody registered), and `personas()`
lists who the terminal can be (`/as KEY`): you (a newcomer), each person, the work group
(as its technician, or as its dispatcher: "Назначить" is a dispatcher's) and the
technician's private chat. `seed_staff()` puts both on the roster under their names.
"""
from __future__ import annotations

from stdnum.ru import inn as _inn

from engine.console import Persona
from engine.storage import write_tx
from helpdesk import directory, registration
from helpdesk.desk import staff
from helpdesk.directory.roles import role_from_post
from helpdesk.directory.tables import TradePoint
from helpdesk.registry import registry

__all__ = ["seed_demo", "register_people", "banner", "configure", "personas", "DEMO_COMPANIES", "UNKNOWN_PHONE",
           "company_inn", "person_inn", "GROUP_ID", "TECHNICIAN_ID", "DISPATCHER_ID", "seed_staff"]

GROUP_ID = -1000000000001         # the demo's support work group (a Telegram group id is < 0)
TECHNICIAN_ID = 700000100         # the demo technician (tickets.technicians)
TECHNICIAN_NAME = "Сергей"        # his Telegram first name (demo data, like the companies)
DISPATCHER_ID = 700000101         # the demo dispatcher (assigns tickets to the technician)
DISPATCHER_NAME = "Ольга"
DISPATCHER_LAST = "Диспетчерова"
PERSON_ID_BASE = 700000010        # demo person n (1, 2, ... in the banner) is this + n

# the banner, who `/as` can make you and what goes nowhere: the terminal chat's own texts
registry.register_texts("demo", ("registration/demo_banner", "registration/demo_persona",
                                 "bot/undelivered"))


def company_inn(first9: str) -> str:
    """A valid 10-digit (legal entity) INN from its first nine digits."""
    return first9 + _inn.calc_company_check_digit(first9)


def person_inn(first10: str) -> str:
    """A valid 12-digit (sole trader) INN from its first ten digits."""
    return first10 + _inn.calc_personal_check_digits(first10)


# A phone no contact has: sharing it starts the questionnaire (UNAUTHORIZED -> USER).
UNKNOWN_PHONE = "+79000000009"

DEMO_COMPANIES = (
    {"inn": company_inn("770112345"), "kpp": "770101001", "ogrn": "1027700000011",
     "name": "ООО «Ромашка»", "legal_address": "г. Москва, ул. Цветочная, д. 1",
     "balance": 1_500_00,
     "trade_points": (("Магазин на Тверской", "г. Москва, ул. Тверская, д. 10"),
                      ("Магазин на Арбате", "г. Москва, ул. Арбат, д. 20"),
                      ("Склад", "г. Москва, ул. Складская, д. 3")),
     "contacts": (("Иванов Иван Иванович", "+79000000001", "Генеральный директор", None),
                  ("Петрова Анна Сергеевна", "+79000000002", "Главный бухгалтер", None),
                  ("Смирнов Олег Петрович", "+79000000003", "Продавец-кассир",
                   "Магазин на Тверской"),
                  ("Кузнецова Мария Игоревна", "+79000000004", "Администратор",
                   "Магазин на Арбате"))},
    {"inn": company_inn("500223344"), "kpp": "500201001", "ogrn": "1025000000022",
     "name": "ООО «Лютик»", "legal_address": "Московская обл., г. Химки, ул. Полевая, д. 5",
     "balance": -250_00,
     "trade_points": (("Кафе «Лютик»", "г. Химки, ул. Полевая, д. 5"),),
     "contacts": (("Кузнецова Мария Игоревна", "+79000000004", "Директор", None),)},
    {"inn": person_inn("5001234567"), "kpp": None, "ogrn": "304500000000033",
     "name": "ИП Сидоров Пётр Петрович", "legal_address": "г. Москва, ул. Лесная, д. 7",
     "balance": 0,
     "trade_points": (),
     "contacts": (("Сидоров Пётр Петрович", "+79000000005", "Индивидуальный предприниматель",
                   None),)},
)


def seed_demo() -> dict:
    """Create (or refresh) the demo directory and describe it.

    Returns:
        {"counterparties": [{name, inn, balance (kopecks), trade_points: [names]}],
         "people": [{phone, full_name, roles: {company name: role name}}],
         "unknown_phone": phone that no contact has, "created": whether anything was new}
    """
    created = False
    with write_tx():
        for company in DEMO_COMPANIES:
            created |= _seed_company(company)
    return _describe(created)


def register_people() -> None:
    """Each demo person registered under a Telegram id of their own, the phone proven (as if
    shared as their own contact): the people `/as 1`... makes you. Idempotent."""
    with write_tx():
        for n, phone in enumerate(_phones(), 1):
            directory.get_or_create_user(PERSON_ID_BASE + n)
            registration.register_by_phone(PERSON_ID_BASE + n, phone, verified=True)


def configure(settings) -> None:
    """A work group and a technician for the demo when the settings name none, so group
    posts, Take/Done and the technician's comment can be tried in the terminal; the demo's
    own group is a forum, so each ticket shows as a topic of it (`/as group`, `/topic N`)."""
    if not settings.notify.system.work_group_id:
        settings.notify.system.work_group_id = GROUP_ID
        settings.desk.topics = True      # the demo's own group is a forum: a topic per ticket
    if not settings.tickets.technicians:
        settings.tickets.technicians = [TECHNICIAN_ID]


def seed_staff() -> None:
    """The demo technician and dispatcher on the roster, named (the settings' seed knows
    ids only: `/staff` would list a bare number). A role someone took away in the demo
    stays away, as the seed's does; a dispatcher is granted only when she has no row."""
    staff.name_unnamed(TECHNICIAN_ID, TECHNICIAN_NAME)
    if staff.StaffMember.get_or_none(staff.StaffMember.telegram_user == DISPATCHER_ID) is None:
        staff.grant(DISPATCHER_ID, staff.DISPATCHER, first_name=DISPATCHER_NAME,
                    last_name=DISPATCHER_LAST)


def personas(seed_result: dict, templates, lang: str, you: int) -> list[Persona]:
    """Who the terminal can be: `/as 0` you, `/as 1`... the demo people, `/as group` (the
    technician there), `/as dispatcher` (the dispatcher there), `/as tech`."""
    def title(kind: str, person: dict | None = None) -> str:
        return templates.render_label("registration/demo_persona", lang,
                                      {"kind": kind, "person": person or {}})
    people = [Persona(str(n), PERSON_ID_BASE + n, _first_name(p["full_name"]), phone=p["phone"],
                      title=title("person", p))
              for n, p in enumerate(seed_result["people"], 1)]
    return [Persona("0", you, "Console", title=title("you")), *people,
            Persona("group", TECHNICIAN_ID, TECHNICIAN_NAME, chat_id=GROUP_ID, title=title("group")),
            Persona("dispatcher", DISPATCHER_ID, DISPATCHER_NAME, chat_id=GROUP_ID,
                    title=title("dispatcher")),
            Persona("tech", TECHNICIAN_ID, TECHNICIAN_NAME, title=title("tech"))]


def _first_name(full_name: str) -> str:
    """"Иванов Иван Иванович" -> "Иван" (Telegram's first name); a one-word name as it is."""
    words = full_name.split()
    return words[1] if len(words) > 1 else full_name


def _phones() -> list[str]:
    return sorted({contact[1] for spec in DEMO_COMPANIES for contact in spec["contacts"]})


def _seed_company(spec: dict) -> bool:
    is_new = directory.find_counterparty_by_inn(spec["inn"]) is None
    company, _ = directory.upsert_counterparty(
        inn=spec["inn"], kpp=spec["kpp"], ogrn=spec["ogrn"], name=spec["name"],
        legal_address=spec["legal_address"], balance=spec["balance"] if is_new else None)
    points = {name: directory.upsert_trade_point(company, name=name, address=address)[0]
              for name, address in spec["trade_points"]}
    for full_name, phone, position, point in spec["contacts"]:
        directory.upsert_contact(company, full_name=full_name, phone=phone, position=position,
                                 role=role_from_post(position), trade_point=points.get(point))
    return is_new


def _describe(created: bool) -> dict:
    return {"counterparties": [_company_info(spec["inn"]) for spec in DEMO_COMPANIES],
            "people": [_person_info(phone) for phone in _phones()],
            "unknown_phone": UNKNOWN_PHONE, "created": created}


def _company_info(inn: str) -> dict:
    company = directory.find_counterparty_by_inn(inn)
    points = company.trade_points.order_by(TradePoint.id)
    return {"name": company.name, "inn": company.inn, "balance": company.balance,
            "trade_points": [point.name for point in points]}


def _person_info(phone: str) -> dict:
    contacts = directory.contacts_by_phone(phone)
    return {"phone": phone, "full_name": contacts[0].full_name,
            "roles": {c.counterparty.name: c.role for c in contacts}}


def banner(seed_result: dict, lang: str = "ru", people: list[Persona] = ()) -> str:
    """The text `python run.py demo` prints before the terminal chat: the demo companies,
    the phones to share with `/contact +7...` and the role each gives, and who `/as` can
    make you (template registration/demo_banner)."""
    import html

    from engine.templates import Templates
    from helpdesk.app import project_path
    from helpdesk.registry import registry
    templates = Templates(project_path("templates"), ["ru", "en"], "ru", filters=registry.filters)
    return html.unescape(templates.render("registration/demo_banner", lang,
                                          {"demo": seed_result, "personas": list(people)}))
