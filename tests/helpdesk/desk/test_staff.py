"""The staff roster in the database: roles granted, replaced, revoked, seeded from settings."""
import pytest

from helpdesk.desk import staff


def test_a_granted_role_is_read_back_and_replaced(database):
    staff.grant(11, staff.TECHNICIAN, by=1, first_name="Иван", last_name="Петров")
    assert staff.role_of(11) == "technician" and staff.is_staff(11)
    assert not staff.is_dispatcher(11)
    staff.grant(11, staff.DISPATCHER, by=1)
    assert staff.dispatcher_ids() == [11] and staff.technician_ids() == []
    assert staff.full_name(11) == "Иван Петров"


def test_revoked_staff_is_nobody(database):
    staff.grant(12, staff.TECHNICIAN)
    assert staff.revoke(12) is True
    assert staff.role_of(12) is None and not staff.is_staff(12)
    assert staff.revoke(12) is False


def test_an_unknown_role_is_refused(database):
    with pytest.raises(ValueError, match="unknown staff role"):
        staff.grant(13, "boss")
    assert staff.role_of(13) is None


def test_settings_seed_only_people_without_a_role(database, settings):
    staff.grant(21, staff.DISPATCHER)
    settings.tickets.technicians = [21, 22]
    assert staff.seed(settings) == 1
    assert staff.role_of(21) == "dispatcher" and staff.role_of(22) == "technician"
