"""Builders for tests of the REST API: the API on a live loopback uvicorn server, a client
with a Bearer token, and a client the 1C extension's way (the `token` header)."""
from __future__ import annotations

import os
import threading
import time

import requests

from helpdesk.api.server import make_server
from helpdesk.app import PROJECT_ROOT

TOKEN, OLD_TOKEN = "api-t0ken-1", "api-t0ken-0ld"
SPEC_FILE = os.path.join(PROJECT_ROOT, "docs", "openapi.json")


class ApiServer:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app):
        self.server = make_server(app, host="127.0.0.1", port=0)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "API server did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(5)


class Client:
    def __init__(self, base: str, token: str | None = TOKEN):
        self.base, self.http = base, requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def __getattr__(self, method):
        return lambda path, **kw: self.http.request(method.upper(), self.base + path,
                                                    timeout=60, **kw)


def one_c(server) -> Client:
    """The extension's way: the `token` header, no Bearer."""
    client = Client(server.base, None)
    client.http.headers["token"] = TOKEN
    return client


# a partner as 1C's extension posts it
PARTNER = {"guid": "6f1c-partner-1", "code": "000000101", "name": "ООО Ромашка",
           "inn": "7707083893", "kpp": "770701001", "okpo": "12345678", "markedForDel": False}
