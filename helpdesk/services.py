"""External services built from settings and attached to the app at start:

    app.extras["crm"]         the CRM client (settings crm.*): outbox sync and jobs
    app.extras["crm_lookup"]  the same CRM for calls a user waits on: no retry, timeout <= 5 s
    app.extras["dadata"]      DaData company-by-INN (settings dadata.*), no retry

A user's step runs inside the engine's write transaction (on SQLite it holds the write
lock), so the calls made there are kept short: a failed CRM lookup is retried by a job,
a failed DaData lookup falls back to typing the company name.

Actions reach them as `step.services.crm` etc. Secrets are unwrapped here, once, and go
only into the clients (which keep them out of their errors and logs).
"""
from __future__ import annotations

import logging

from engine.errors import SettingsError
from integrations.crm import CrmClient, make_crm
from integrations.dadata import DEFAULT_URL, DadataClient

__all__ = ["setup_services", "crm_of", "dadata_of"]

log = logging.getLogger(__name__)

# A user waits for these calls (and other chats wait for the write lock): no retries here.
_INTERACTIVE_RETRIES = 0
_INTERACTIVE_TIMEOUT = 5.0


def _crm(settings, retries: int, timeout: float) -> CrmClient:
    c = settings.crm
    try:
        return make_crm(c.kind, c.url, c.login, c.password.get_secret_value(),
                        c.token.get_secret_value(), timeout=timeout, retries=retries)
    except ValueError as e:
        raise SettingsError([f"settings crm: {e}"]) from e


def _dadata(settings) -> DadataClient:
    d = settings.dadata
    return DadataClient(d.api_key.get_secret_value(), d.url or DEFAULT_URL, timeout=d.timeout,
                        retries=_INTERACTIVE_RETRIES)


def setup_services(app) -> None:
    """Attach the CRM and DaData clients (called by helpdesk.app.build_app)."""
    s = app.settings
    app.extras["crm"] = _crm(s, s.crm.retries, s.crm.timeout)
    app.extras["crm_lookup"] = _crm(s, _INTERACTIVE_RETRIES, min(s.crm.timeout, _INTERACTIVE_TIMEOUT))
    app.extras["dadata"] = _dadata(s)
    log.info("services: crm=%s dadata=%s", s.crm.kind,
             "on" if app.extras["dadata"].enabled else "off (no api key)")


def crm_of(app, interactive: bool = False) -> CrmClient:
    """The app's CRM client; the interactive one when a user waits for the answer."""
    extras = app.extras
    return extras.get("crm_lookup" if interactive else "crm") or extras["crm"]


def dadata_of(app) -> DadataClient:
    return app.extras["dadata"]
