"""integrations.http reads answers bounded in size and time (item 7 of the outside review),
through the real JsonHttp against a loopback server that writes raw HTTP answers.

The reproductions (a trickling body, a 32 MB body with Content-Length) are in
tests/integrations/test_attack2_outside_answers.py; these cover what the bound must also get right: a
huge body with no Content-Length, the connection closed when refused, a huge error body
still reported with its status, and a 1C-style UTF-8 BOM still parsed."""
from __future__ import annotations

import socket
import threading

import pytest

from engine.errors import IntegrationError
from integrations.http import MAX_ANSWER_BYTES, JsonHttp, make_session

WAIT = 20          # generous: the box is busy


class RawAnswers:
    """A loopback server answering path P with `answers[P](conn)`; records broken writes."""

    def __init__(self, answers: dict):
        self.answers = answers
        self.broken = threading.Event()       # a write failed: the client closed the socket
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            try:
                while request := conn.recv(65536):
                    path = request.split(b" ", 2)[1].decode()
                    self.answers[path](conn)
            except OSError:
                self.broken.set()

    def close(self):
        self.sock.close()


def _head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", "Content-Type: application/json", *headers])
            + "\r\n\r\n").encode()


def _fixed(status: str, body: bytes):
    def answer(conn):
        conn.sendall(_head(status, f"Content-Length: {len(body)}") + body)
    return answer


def _chunked_forever(conn):
    conn.sendall(_head("200 OK", "Transfer-Encoding: chunked") + b'4\r\n{"a"\r\n')
    piece = b"x" * 65536
    while True:                                   # ends when the client closes the socket
        conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))


@pytest.fixture
def raw():
    servers = []

    def make(answers):
        servers.append(RawAnswers(answers))
        return servers[-1], JsonHttp("crm", servers[-1].url, make_session(0, 0.01), timeout=5)
    yield make
    for s in servers:
        s.close()


def test_a_huge_chunked_answer_is_refused_and_its_connection_closed(raw):
    server, http = raw({"/huge": _chunked_forever, "/ok": _fixed("200 OK", b'{"ok": true}')})
    with pytest.raises(IntegrationError, match=f"larger than {MAX_ANSWER_BYTES} bytes") as e:
        http.request("GET", "huge")
    assert e.value.retryable
    assert server.broken.wait(WAIT), "the server could still write: the connection stayed open"
    assert http.request("GET", "ok") == (200, {"ok": True})       # the next call is unharmed
    http.close()


def test_a_huge_error_answer_keeps_its_status_and_message(raw):
    body = b'{"error": {"message": "counterparty 42 not found"}, "pad": "' + b"x" * 2 ** 20 + b'"}'
    _, http = raw({"/missing": _fixed("404 Not Found", body)})
    with pytest.raises(IntegrationError) as e:
        http.request("GET", "missing")
    assert e.value.status == 404 and not e.value.retryable
    assert "HTTP 404" in str(e.value)
    http.close()


def test_an_answer_with_a_utf8_bom_is_parsed(raw):
    """1C writes a BOM unless told not to; requests' .json() accepted it, so must we."""
    body = "\ufeff{\"result\": true, \"name\": \"Ромашка\"}".encode()
    _, http = raw({"/bom": _fixed("200 OK", body)})
    assert http.request("GET", "bom") == (200, {"result": True, "name": "Ромашка"})
    http.close()
