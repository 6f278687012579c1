"""Fixtures shared by the helpdesk tests: `world`, the ticket world of tests/support/tickets.py."""
from __future__ import annotations

import pytest

from tests.support.tickets import make_world


@pytest.fixture
def world(database):
    return make_world()
