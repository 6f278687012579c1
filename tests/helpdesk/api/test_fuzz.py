"""Schemathesis fuzzes every operation of the committed OpenAPI spec (docs/openapi.json,
which tests/helpdesk/api/test_api.py keeps equal to the code's) against a live loopback server: valid and
invalid input alike never gets a 5xx, and no operation answers anything but 401 without a
token. Examples per operation are few (FUZZ_EXAMPLES, default 4) to keep CI short; raise it
locally for a deeper run. Derandomized (the same examples every run) and with a generous
per-request timeout (REQUEST_TIMEOUT): a loaded CI box is slow, not broken; speed is
measured by bench/api.py, never here."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hyp_settings
from schemathesis.checks import not_a_server_error

from engine import storage
from helpdesk import config
from helpdesk.ops import schema as db_schema
from tests.support.api import SPEC_FILE, TOKEN, ApiServer
from tests.support.sync import make_app, new_ticket

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
REQUEST_TIMEOUT = 60       # seconds; a bundle PUT costs milliseconds (bench/api.py)
spec = schemathesis.openapi.from_path(SPEC_FILE)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One server and database for the whole module (a fresh app per example is too slow)."""
    if os.environ.get("TEST_DATABASE_URL"):
        url = os.environ["TEST_DATABASE_URL"]
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/fuzz.db"
    storage.connect(url)
    if storage.is_postgres():
        storage.db.drop_tables(storage.ALL_MODELS, safe=True, cascade=True)
    db_schema.init()
    app = make_app(config.load(environ={}), "none", api_tokens=(TOKEN,))
    new_ticket(app)            # something for ticket and message operations to find
    with ApiServer(app) as server:
        yield server
    storage.close()


@spec.parametrize()
@hyp_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_access_without_token(case, live):
    case.call_and_validate(base_url=live.base, headers={"Authorization": f"Bearer {TOKEN}"},
                           checks=[not_a_server_error], timeout=REQUEST_TIMEOUT)
    if case.method.upper() != case.operation.method.upper():
        return          # schemathesis' probe of a method the path does not have (405)
    anonymous = case.call(base_url=live.base, headers={"Authorization": ""},
                          timeout=REQUEST_TIMEOUT)
    assert anonymous.status_code == 401, (case.method, case.path, anonymous.text[:200])
