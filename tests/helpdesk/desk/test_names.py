"""One staff name everywhere (helpdesk/desk/names.py): the CRM's full name, else Telegram's
first and last name, whether the person pressed, was assigned, or is listed in /staff."""
from __future__ import annotations

from helpdesk import directory
from helpdesk.desk import assign, names, staff
from helpdesk.tickets import Ticket
from tests.support.desk import DISPATCHER, staff_roles
from tests.support.tickets import TECH, TECH2, file_ticket


def _crm_names_tech(world) -> None:
    contact, _ = directory.upsert_contact(world.a, full_name="Петров Пётр Ильич")
    directory.link_user(TECH, world.a, "USER", contact=contact)


def test_the_roster_lists_the_crms_name_else_the_first_and_last_name(forum):
    staff_roles()
    _crm_names_tech(forum)
    listed = {m["id"]: m["name"] for m in names.members()}
    assert listed[TECH] == "Петров Пётр Ильич"              # not the roster's "Пётр Петров"
    assert listed[TECH2] == "Сидор Сидоров"
    assert [m["role"] for m in names.members()][:2] == ["technician", "technician"]


def test_an_assigned_technician_is_named_as_the_roster_lists_them(forum):
    staff_roles()
    _crm_names_tech(forum)
    t = file_ticket(forum, 101)
    assign.assign(forum.svc, DISPATCHER, "Диана Диспетчерова", t.id, TECH, t.version)
    assert Ticket.get_by_id(t.id).master_name == "Петров Пётр Ильич"
    t2 = file_ticket(forum, 102, description="Не работает ЕГАИС УТМ")
    assign.assign(forum.svc, DISPATCHER, "Диана Диспетчерова", t2.id, TECH2, t2.version)
    assert Ticket.get_by_id(t2.id).master_name == "Сидор Сидоров"


def test_a_person_known_only_by_id_is_named_by_what_the_bot_saw(forum):
    directory.get_or_create_user(4242, "vasya", "Вася", "ru")
    assert names.name_of(4242) == "Вася"
    assert names.name_of(4243, username="kolya") == "@kolya" and names.name_of(4244) == "4244"
    staff.grant(4245, staff.TECHNICIAN, first_name="Олег", last_name="Олегов")
    assert names.name_of(4245, "Олег") == "Олег Олегов"     # the roster knows the last name
