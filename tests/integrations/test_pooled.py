"""integrations.pooled: JsonHttp's calls straight into the adapter's urllib3 pool say to the
server exactly what requests said (a loopback server records what arrives), and a session
that has a proxy keeps requests' own way."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.http import IDEMPOTENCY_HEADER, JsonHttp, make_session

VARYING = {"accept-encoding", "connection", "host"}   # hop and transport details


class _Recorder(BaseHTTPRequestHandler):
    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path,
                                 {k.lower(): v for k, v in self.headers.items()}, body))
        answer = json.dumps({"id": "x1", "echo": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = _any

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _client(url: str) -> JsonHttp:
    session = make_session(retries=1, backoff=0.01)
    session.auth = ("Администратор".encode(), "пароль".encode())   # as OneCSeedCrm sets it
    session.headers["token"] = "t0k"
    return JsonHttp("crm", url, session, timeout=5)


def _calls(http: JsonHttp) -> list:
    return [http.request("GET", "persons", params={"phone": "+7 999", "name": "Иван", "none": None}),
            http.request("POST", "/tasks", json={"описание": "сломался", "n": 1},
                         headers={IDEMPOTENCY_HEADER: "key-1"}),
            http.request("PUT", "tasks/a%2Fb", json={"guid": "g"})]


def test_the_pool_lane_sends_what_requests_sent(server):
    url = f"http://127.0.0.1:{server.server_port}/base/hs/"
    lane = _client(url)
    assert lane._lane is not None                 # this session is one the lane copies
    answers = _calls(lane)
    by_lane, server.seen[:] = list(server.seen), []
    plain = _client(url)
    plain._lane = None                            # requests' own way, for comparison
    assert _calls(plain) == answers
    by_requests = server.seen
    for (m1, p1, h1, b1), (m2, p2, h2, b2) in zip(by_lane, by_requests, strict=True):
        assert (m1, p1, b1) == (m2, p2, b2)
        assert {k: v for k, v in h1.items() if k not in VARYING} == \
               {k: v for k, v in h2.items() if k not in VARYING}
    assert by_lane[0][1] == "/base/hs/persons?phone=%2B7+999&name=%D0%98%D0%B2%D0%B0%D0%BD"
    assert by_lane[1][2]["idempotency-key"] == "key-1"
    assert by_lane[1][2]["authorization"].startswith("Basic ")


def test_a_header_set_after_the_client_was_made_is_sent(server):
    http = _client(f"http://127.0.0.1:{server.server_port}/")
    http.request("GET", "a")
    http.session.headers["token"] = "new"
    http.request("GET", "b")
    assert [h["token"] for _, _, h, _ in server.seen] == ["t0k", "new"]


def test_a_session_with_a_proxy_keeps_requests_way(server):
    session = make_session(retries=0)
    session.proxies = {"http": f"http://127.0.0.1:{server.server_port}"}
    http = JsonHttp("crm", "http://crm.invalid/api/", session, timeout=5)
    assert http.request("GET", "persons")[1]["id"] == "x1"
    assert server.seen[0][1] == "http://crm.invalid/api/persons"   # the proxy's request line
