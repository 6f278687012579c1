"""Attack on issue 17 item 7: what GET /healthz tells a caller without a token. The brief:
states only, no data, no secrets. A failed job's error text is published as it is."""
from __future__ import annotations

import requests

from helpdesk.registry import registry
from tests.support.api import ApiServer
from tests.support.fakes.crm_rest_stub import RestCrmStub
from tests.support.sync import CRM_TOKEN, make_app

PHONE = "+79991234567"


class _TalkativeCrm(RestCrmStub):
    """A CRM whose change feed fails with an explanation naming a client (CRMs do)."""

    def _get_changes(self, q):
        return 500, self.error_body(500, f"lock held by Иванов Иван {PHONE} on ticket 17")


def test_healthz_without_a_token_does_not_publish_a_failed_jobs_error_text(database, settings):
    with _TalkativeCrm(CRM_TOKEN) as crm:
        app = make_app(settings, "rest", crm.url, api_tokens=("api-t0ken-1",))
        with ApiServer(app) as server:
            supervisor = server.server.config.app.state.supervisor
            try:
                registry.jobs["sync_reconcile"].fn(app)       # the scheduled run, as APScheduler runs it
            except Exception as e:  # noqa: BLE001 - what the supervisor's job listener gets
                supervisor.failed("job:sync_reconcile", e)
            answer = requests.get(server.base + "/healthz", timeout=60)   # no token
    body = answer.text
    assert answer.status_code == 503                              # the state is reported: fine
    leaks = [w for w in (PHONE, "Иванов", f"127.0.0.1:{crm.port}") if w in body]
    assert not leaks, f"anonymous /healthz publishes {leaks}: {answer.json()['problems']}"
