"""The calls' short way: straight into the urllib3 pool that the session's requests adapter
would use, with the session's own headers, auth, TLS settings and retry policy.

Per call, requests merges the session's settings into a fresh request (headers, cookies,
auth, hooks), prepares it, looks its pool up again and wraps urllib3's answer in a Response
with a cookie jar: ~500 µs of CPU a call against ~180 µs for the pool alone, measured on the
outbox's loopback drain (bench/sync.py), where it was two thirds of the drainer's CPU and
capped the outbox below 1,300 items/s. For one base URL those settings never change, so
`Lane.of` reads them once: the pools come from the adapter itself
(`HTTPAdapter.get_connection_with_tls_context`: verify, CA bundle, client cert as requests
sets them), the Authorization header from the session's auth prepared once, the retries are
the adapter's `max_retries`. A session this cannot copy exactly (a proxy for the URL, an
auth other than a login and password, cookies, a foreign adapter) gets no lane: its calls go
through requests as before.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import requote_uri, select_proxy
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    TimeoutError,
)

__all__ = ["Lane", "Answer", "lane_error"]


@dataclass
class Answer:
    """urllib3's answer with the few names JsonHttp reads of a requests Response."""
    raw: urllib3.BaseHTTPResponse
    url: str

    @property
    def status_code(self) -> int:
        return self.raw.status

    @property
    def headers(self):
        return self.raw.headers

    def close(self) -> None:
        """As requests' Response.close: a body read to its end gives the connection back to
        the pool, one that was not is closed with it."""
        self.raw.close()
        self.raw.release_conn()


@dataclass
class Lane:
    base_url: str
    path: str                       # the base URL's path, ending in "/"
    headers: dict
    pools: dict                     # HTTPAdapter -> its connection pool for the base URL
    seen: tuple                     # the session's settings it was made from (`fits`)

    @classmethod
    def of(cls, session: requests.Session, base_url: str) -> Lane | None:
        """The lane for `session`'s calls to `base_url`, or None to keep requests' way."""
        adapter = session.get_adapter(base_url)
        inner = getattr(adapter, "adapters", lambda: None)()
        if (inner is None or not all(type(a) is HTTPAdapter for a in inner)
                or select_proxy(base_url, session.proxies) or len(session.cookies)
                or not (session.auth is None or isinstance(session.auth, tuple))):
            return None
        try:
            prepared = session.prepare_request(requests.Request("GET", base_url))
        except (UnicodeError, ValueError):
            return None             # requests raises it at the call, as before
        try:
            pools = {a: a.get_connection_with_tls_context(prepared, session.verify, cert=session.cert)
                     for a in inner}
        except LocationValueError:
            return None             # requests says "invalid URL" at the call
        for a, pool in pools.items():
            a.cert_verify(pool, base_url, session.verify, session.cert)
        return cls(base_url, urlsplit(base_url).path or "/", dict(prepared.headers), pools,
                   _settings(session))

    def fits(self, session: requests.Session) -> bool:
        """The session still has the settings the lane copied (a caller may set auth or a
        header after making the client): a few µs a call."""
        return _settings(session) == self.seen

    def send(self, adapter: HTTPAdapter, method: str, path: str, *, params=None, json_body=None,
             headers=None, timeout: float) -> Answer:
        """One call as requests would make it, `path` relative to the base URL, through
        `adapter` (one of the session's: its pool, its retries); urllib3's exceptions as
        they come (`lane_error` names them)."""
        query = urlencode([(k, v) for k, v in (params or {}).items() if v is not None], doseq=True)
        target = requote_uri(self.path + path + (f"?{query}" if query else ""))
        all_headers = {**self.headers, **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
            all_headers["Content-Length"] = str(len(body))
        elif method in ("POST", "PUT", "PATCH"):
            all_headers["Content-Length"] = "0"
        raw = self.pools[adapter].urlopen(
            method, target, body=body, headers=all_headers, redirect=False,
            assert_same_host=False, preload_content=False, decode_content=False,
            retries=adapter.max_retries, chunked=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout))
        return Answer(raw, self.base_url + target[len(self.path):])


def _settings(session: requests.Session) -> tuple:
    return (session.auth, dict(session.headers), dict(session.proxies), len(session.cookies),
            session.verify, session.cert)


def lane_error(e: HTTPError | OSError, timeout: float) -> tuple[str, bool]:
    """(what went wrong, retryable) for what urllib3 or the socket raised, in the words
    JsonHttp uses for requests' errors."""
    reason = e.reason if isinstance(e, MaxRetryError) else e
    if isinstance(reason, NewConnectionError):        # a ConnectTimeoutError subclass
        return "cannot connect", True
    if isinstance(reason, (ConnectTimeoutError, TimeoutError)):
        return f"timed out after {timeout:g} s", True
    if isinstance(e, (MaxRetryError, ProtocolError, OSError)):
        return "cannot connect", True
    return type(e).__name__, True
