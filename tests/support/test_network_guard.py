"""Tests cannot reach beyond loopback: the guard in tests/conftest.py refuses before any packet
(192.0.2.1 is TEST-NET-1, reserved for documentation; nothing is sent there)."""
from __future__ import annotations

import socket

import pytest
import requests

from tests.support.network_guard import OutsideNetworkRefused


def test_a_connect_outside_is_refused_naming_the_address(network_guard):
    with socket.socket() as s, pytest.raises(OutsideNetworkRefused,
                                             match=r"loopback: connect to '192\.0\.2\.1' refused"):
        s.connect(("192.0.2.1", 80))
    network_guard.refused.clear()       # expected here; any other refusal fails its test


def test_a_name_lookup_is_refused_before_dns(network_guard):
    with pytest.raises(OutsideNetworkRefused, match="name lookup of 'example.com'"):
        socket.getaddrinfo("example.com", 443)
    network_guard.refused.clear()


def test_a_client_that_catches_connection_errors_cannot_hide_it(network_guard):
    """requests turns OSErrors into ConnectionError; the refusal is not one, and it is recorded."""
    with pytest.raises(OutsideNetworkRefused):
        requests.get("http://192.0.2.1/", timeout=60)
    assert network_guard.refused == [
        "tests may only use loopback: name lookup of '192.0.2.1' refused before any packet "
        "(use a fake on 127.0.0.1, see tests/support/fakes/)"]
    network_guard.refused.clear()


def test_a_udp_send_outside_is_refused(network_guard):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, \
            pytest.raises(OutsideNetworkRefused, match="send to '192.0.2.1'"):
        s.sendto(b"x", ("192.0.2.1", 53))
    network_guard.refused.clear()


def test_loopback_and_unix_sockets_pass(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=60):
            pass
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=60):
            pass
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)
