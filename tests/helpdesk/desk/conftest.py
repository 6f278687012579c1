"""Fixtures of the desk tests: the ticket world with a forum work group (desk.topics on)."""
from __future__ import annotations

import pytest

from tests.support.tickets import make_settings, make_world


@pytest.fixture
def forum(database):
    """The ticket world whose work group gets a topic per ticket."""
    settings = make_settings()
    settings.desk.topics = True
    return make_world(settings)
