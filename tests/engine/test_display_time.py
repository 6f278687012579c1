"""Times are stored in UTC and shown in the display zone (settings engine.timezone)."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine import Registry, builtins
from engine.errors import SettingsError
from engine.templates import Templates
from helpdesk import config
from helpdesk.app import build_app, project_path


def test_localtime_filter_converts_stored_utc():
    t = Templates(project_path("templates"), ["ru", "en"], "ru", "Europe/Moscow",
                  filters=builtins.register(Registry()).filters)

    def localtime(value, fmt=None):
        return t.expression("v | localtime" + (f"({fmt!r})" if fmt else ""))(v=value)
    assert localtime(datetime(2026, 1, 1, 9, 0)) == "01.01.2026 12:00"
    assert localtime("2026-01-01T21:30") == "02.01.2026 00:30"
    assert localtime("2026-01-01T21:30", "%d.%m %H:%M") == "02.01 00:30"
    assert localtime(None) == "" and localtime("garbage") == "garbage"


def test_ticket_card_shows_the_display_zone(database):
    from helpdesk.tickets import Ticket, ticket_view
    app = build_app(config.load(environ={"ENGINE__TIMEZONE": "Asia/Yekaterinburg"}), connect=False)
    ticket = Ticket(number=7, type="Касса", description="x" * 12, status="new",
                    created=datetime(2026, 3, 1, 10, 0), updated=datetime(2026, 3, 1, 10, 0), version=1)
    text = app.engine.flowset.templates.render("ticket/group_post", "ru", {"ticket": ticket_view(ticket)})
    assert "01.03.2026 15:00" in text          # UTC+5


def test_unknown_zone_stops_the_start():
    with pytest.raises(SettingsError) as info:
        config.load(environ={"ENGINE__TIMEZONE": "Mars/Olympus"})
    assert "unknown time zone 'Mars/Olympus'" in info.value.problems[0]
