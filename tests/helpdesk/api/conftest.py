"""Fixtures of the API tests: an app with API tokens and no CRM, served live (`server`, `api`
a client of it), and one with tight limits (`limited_app`, `live`)."""
from __future__ import annotations

import pytest

from tests.support.api import OLD_TOKEN, TOKEN, ApiServer, Client
from tests.support.sync import make_app


@pytest.fixture
def api_app(database, settings):
    return make_app(settings, "none", api_tokens=(TOKEN, OLD_TOKEN))


@pytest.fixture
def server(api_app):
    with ApiServer(api_app) as s:
        yield s


@pytest.fixture
def api(server):
    return Client(server.base)


@pytest.fixture
def limited_app(database, settings):
    settings.api.max_list_items = 2500
    settings.api.max_amount_kopecks = 10 ** 9
    settings.api.max_body_bytes = 1024 * 1024
    return make_app(settings, "none", api_tokens=(TOKEN,))


@pytest.fixture
def live(limited_app):
    with ApiServer(limited_app) as server:
        yield server
