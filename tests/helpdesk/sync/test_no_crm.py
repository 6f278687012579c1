"""No CRM configured loses nothing (issue 17, item 8): with `crm.kind: none` the outbox
items stay pending, `sync status` says so and how many wait, and a CRM configured later
gets each item once, through the CLI and through the scheduled job alike."""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading

from apscheduler.events import EVENT_JOB_EXECUTED

from helpdesk.app import PROJECT_ROOT
from helpdesk.ops import jobs
from helpdesk.sync.outbox import OutboxItem
from integrations.crm import make_crm
from tests.support.fakes.crm_rest_stub import RestCrmStub
from tests.support.sync import CRM_TOKEN, make_app, new_contact, new_counterparty, new_ticket


def _cli(db_url, *args, **env):
    env = dict(os.environ, DATABASE_URL=db_url, CRM__TOKEN=CRM_TOKEN, LOGGING__FILE="",
               NOTIFY__BUG__USE="false", **env)
    out = subprocess.run([sys.executable, "run.py", *args], env=env, cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _keys(stub) -> collections.Counter:
    return collections.Counter(r.headers.get("idempotency-key") for r in stub.requests
                               if r.method in ("POST", "PUT"))


def _queue_three(settings):
    app = make_app(settings, "none")
    cp = new_counterparty()
    new_contact(cp)
    new_ticket(app, cp=cp)
    return app


def test_items_queued_without_a_crm_reach_it_once_it_is_configured(database, db_url,
                                                                   settings):
    _queue_three(settings)
    keys = {i.key for i in OutboxItem.select()}
    assert len(keys) == 3
    status = _cli(db_url, "sync", "status", CRM__KIND="none")
    assert "no CRM is configured (crm.kind: none): 3 item(s) wait" in status
    ran = _cli(db_url, "sync", "run", CRM__KIND="none")
    assert "no CRM is configured" in ran and "3 item(s) wait" in ran
    assert {i.status for i in OutboxItem.select()} == {"pending"}
    with RestCrmStub(token=CRM_TOKEN) as stub:
        rest = dict(CRM__KIND="rest", CRM__URL=stub.url)
        assert "sent 3" in _cli(db_url, "sync", "run", **rest)
        assert "sent 0" in _cli(db_url, "sync", "run", **rest)      # nothing twice
        assert _keys(stub) == {k: 1 for k in keys}
        assert [c for c, _, _ in stub.items] == ["counterparties", "contacts", "tickets"]
        assert "CRM: rest, 0 item(s) not yet delivered" in _cli(db_url, "sync", "status", **rest)
    assert {i.status for i in OutboxItem.select()} == {"done"}


def test_the_scheduled_job_also_keeps_items_for_a_crm_configured_later(database, settings):
    settings.sync.interval_seconds = 0.1
    settings.sync.reconcile_seconds = 3600
    app = _queue_three(settings)
    keys = {i.key for i in OutboxItem.select()}
    runs = threading.Semaphore(0)
    scheduler = jobs.start(app)
    try:
        scheduler.add_listener(lambda e: e.job_id == "sync_outbox" and runs.release(),
                               EVENT_JOB_EXECUTED)
        for _ in range(3):
            assert runs.acquire(timeout=30), "the sync job did not run"
        assert {i.status for i in OutboxItem.select()} == {"pending"}
        with RestCrmStub(token=CRM_TOKEN) as stub:
            app.services.crm = make_crm("rest", stub.url, token=CRM_TOKEN, timeout=5, retries=0)
            for _ in range(200):
                runs.acquire(timeout=30)
                if not OutboxItem.select().where(OutboxItem.status != "done").exists():
                    break
            for _ in range(3):                 # a few more runs send nothing again
                assert runs.acquire(timeout=30)
            assert _keys(stub) == {k: 1 for k in keys}
    finally:
        scheduler.shutdown(wait=True)
    assert {i.status for i in OutboxItem.select()} == {"done"}
