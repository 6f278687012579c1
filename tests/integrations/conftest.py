"""Fixtures of the integrations tests: `c1`, the 1C stub on loopback with the credentials of
tests/support/crm.py."""
from __future__ import annotations

import pytest

from tests.support.crm import LOGIN, PASSWORD, TOKEN
from tests.support.fakes.crm_1c_stub import OneCStub


@pytest.fixture
def c1():
    with OneCStub(LOGIN, PASSWORD, TOKEN) as stub:
        yield stub
