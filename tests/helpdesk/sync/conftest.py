"""Fixtures of the sync tests: a REST CRM stub and an app that drains to it."""
from __future__ import annotations

import pytest

from tests.support.fakes.crm_rest_stub import RestCrmStub
from tests.support.sync import CRM_TOKEN, make_app


@pytest.fixture
def rest_stub():
    with RestCrmStub(token=CRM_TOKEN) as stub:
        yield stub


@pytest.fixture
def app(database, settings, rest_stub):
    return make_app(settings, "rest", rest_stub.url)
