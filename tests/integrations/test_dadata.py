"""DaData client through real HTTP against the loopback stub."""
from __future__ import annotations

import logging
import traceback
from datetime import date

import pytest

from engine.errors import IntegrationError
from integrations.dadata import DadataClient
from tests.support.fakes.dadata_stub import DadataStub

KEY = "DaData-KEY-SECRET"
INN = "7707083893"


@pytest.fixture
def stub():
    with DadataStub(KEY) as s:
        s.add_company(INN, 'ПАО "СБЕРБАНК"', kpp="773601001", ogrn="1027700132195",
                      director="Греф Герман Оскарович", post="ПРЕЗИДЕНТ", okpo="00032537")
        yield s


@pytest.fixture
def client(stub):
    c = DadataClient(KEY, url=stub.url, timeout=0.3, retries=1, backoff=0.01)
    yield c
    c.close()


def test_found(stub, client):
    company = client.find_company(INN)
    assert company.name == 'ПАО "СБЕРБАНК"' and company.kpp == "773601001"
    assert company.ogrn == "1027700132195" and company.okpo == "00032537"
    assert (company.director_name, company.director_post) == ("Греф Герман Оскарович", "ПРЕЗИДЕНТ")
    assert company.status == "ACTIVE" and company.active and company.kind == "LEGAL"
    assert company.registered == date(2002, 8, 16)
    req = stub.requests[-1]
    assert req.path.endswith("/findById/party")
    assert req.json == {"query": INN, "branch_type": "MAIN"}
    assert req.headers["authorization"] == f"Token {KEY}"


def test_sole_trader_director_is_the_trader(stub, client):
    stub.add_company("500100732259", "ИП Петров Пётр Петрович", kind="INDIVIDUAL",
                     director="Петров Пётр Петрович", status="LIQUIDATED")
    company = client.find_company("500100732259")
    assert company.director_name == "Петров Пётр Петрович" and company.kind == "INDIVIDUAL"
    assert not company.active


def test_not_found(client):
    assert client.find_company("0000000000") is None


def test_no_key_makes_no_call(stub):
    client = DadataClient("", url=stub.url)
    assert not client.enabled and client.find_company(INN) is None
    assert stub.requests == []


def test_wrong_key_not_retryable_and_hidden(stub):
    client = DadataClient("wrong-KEY-SECRET", url=stub.url, timeout=0.3, backoff=0.01)
    with pytest.raises(IntegrationError) as info:
        client.find_company(INN)
    assert not info.value.retryable and "403" in str(info.value)
    assert "wrong-KEY-SECRET" not in "".join(traceback.format_exception(info.value))


def test_down_is_retryable(stub, client):
    stub.down()
    with pytest.raises(IntegrationError) as info:
        client.find_company(INN)
    assert info.value.system == "dadata" and info.value.retryable


def test_5xx_retried_then_found(stub, client):
    stub.fail_next(1, status=502)
    assert client.find_company(INN).inn == INN
    assert len(stub.requests) == 2


def test_5xx_exhausted_and_garbage_are_retryable(stub, client):
    stub.fail_next(2)
    with pytest.raises(IntegrationError) as info:
        client.find_company(INN)
    assert info.value.retryable
    stub.garbage_next(2)
    with pytest.raises(IntegrationError, match="invalid JSON") as info:
        client.find_company(INN)
    assert info.value.retryable


def test_timeout_quick(stub, client, caplog):
    caplog.set_level(logging.DEBUG)
    stub.slow(2)
    with pytest.raises(IntegrationError, match="timed out") as info:   # not the slow answer
        client.find_company(INN)
    assert info.value.retryable
    assert "findById/party" in caplog.text and KEY not in caplog.text
