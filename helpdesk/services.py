"""The clients of external services, built from settings (helpdesk.app.build_services
puts them into `Services`):

    crm_client(settings)                    the CRM (settings crm.*): outbox sync and jobs
    crm_client(settings, interactive=True)  the same CRM for calls a user waits on: no retry,
                                            timeout <= 5 s
    dadata_client(settings)                 DaData company-by-INN (settings dadata.*), no retry

A user's step runs inside the engine's write transaction (on SQLite it holds the write
lock), so the calls made there are kept short: a failed CRM lookup is retried by a job,
a failed DaData lookup falls back to typing the company name.

Secrets are unwrapped here, once, and go only into the clients (which keep them out of their
errors and logs).
"""
from __future__ import annotations

from engine.errors import SettingsError
from helpdesk.sync.references import ReferenceBook
from integrations.crm import CrmClient, make_crm
from integrations.dadata import DEFAULT_URL, DadataClient

__all__ = ["crm_client", "dadata_client"]

# A user waits for these calls (and other chats wait for the write lock): no retries here.
_INTERACTIVE_RETRIES = 0
_INTERACTIVE_TIMEOUT = 5.0


def crm_client(settings, *, interactive: bool = False) -> CrmClient:
    """The CRM client of settings crm.*; SettingsError when they cannot make one."""
    c = settings.crm
    retries, timeout = c.retries, c.timeout
    if interactive:
        retries, timeout = _INTERACTIVE_RETRIES, min(c.timeout, _INTERACTIVE_TIMEOUT)
    try:
        return make_crm(c.kind, c.url, c.login, c.password.get_secret_value(),
                        c.token.get_secret_value(), timeout=timeout, retries=retries,
                        references=ReferenceBook(settings))
    except ValueError as e:
        raise SettingsError([f"settings crm: {e}"]) from e


def dadata_client(settings) -> DadataClient:
    d = settings.dadata
    return DadataClient(d.api_key.get_secret_value(), d.url or DEFAULT_URL, timeout=d.timeout,
                        retries=_INTERACTIVE_RETRIES)
