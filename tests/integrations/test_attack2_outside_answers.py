"""Attack on issue 17 item 5 ("numbers and sizes from outside are bounded before they are
parsed"), the CRM's and DaData's own answers: reproductions through the real clients
against the loopback stubs (and one raw socket server). Each test fails on the code under
review."""
from __future__ import annotations

import socket
import threading

import pytest

from engine.errors import IntegrationError
from integrations.crm import make_crm
from integrations.dadata import DadataClient
from tests.support.crm import LOGIN, PASSWORD, TOKEN
from tests.support.fakes.dadata_stub import DadataStub

INN = "7707083893"


@pytest.fixture
def onec(c1):
    crm = make_crm("1c-seed", c1.url, LOGIN, PASSWORD, TOKEN, timeout=1, retries=0, backoff=0.01)
    yield crm
    crm.close()


# ---- 1C: money in the answers goes through Decimal, unbounded ------------------------------

@pytest.mark.parametrize("amount", [
    "1E100000",      # expanded to a 100,001-digit int (0.4 s here; "1E1000000" holds the GIL 46 s)
    "12.5",          # silently truncated to 12 kopecks
    "Infinity",      # OverflowError, not an IntegrationError
])
def test_1c_balance_amount_is_parsed_by_the_bounded_money_parser(c1, onec, amount):
    acme = c1.add_partner("ООО Ромашка", INN)
    c1.set_balance(acme, amount)                          # 1C answers {"amount": "<amount>"}
    with pytest.raises(IntegrationError):
        value = onec.get_balance(INN, acme)
        pytest.fail(f"1C amount {amount!r} accepted as an int of {value.bit_length()} bits")


def test_1c_person_lookup_with_an_exponent_balance_is_refused(c1, onec):
    """The registration lookup (find_person -> _company -> _kopecks) expands it too."""
    acme = c1.add_partner("ООО Ромашка", INN)
    c1.set_balance(acme, "1E100000")
    c1.add_person("+79991234567", "Иванов Иван", [(acme, "Директор")])
    with pytest.raises(IntegrationError):
        person = onec.find_person("+79991234567")
        bits = person.memberships[0].company.balance_kopecks.bit_length()
        pytest.fail(f"accepted: a balance of {bits} bits")


# ---- REST CRM: a JSON integer of any size is a balance --------------------------------------

def test_rest_crm_balance_beyond_any_bound_is_refused():
    from tests.support.fakes.crm_rest_stub import RestCrmStub
    with RestCrmStub("tok") as stub:
        cp = stub.add_counterparty("ООО Ромашка", INN, balance=10 ** 30)
        crm = make_crm("rest", stub.url, token="tok", timeout=1, retries=0, backoff=0.01)
        try:
            with pytest.raises(IntegrationError):
                value = crm.get_balance(INN, cp["id"])
                pytest.fail(f"REST CRM balance {value} accepted (no bound)")
        finally:
            crm.close()


# ---- DaData: an odd answer is not an IntegrationError ---------------------------------------

def _odd(stub: DadataStub, change) -> None:
    suggestion = stub.add_company(INN, 'ООО "Ромашка"')
    change(suggestion)


@pytest.mark.parametrize("what, change", [
    ("ogrn_date far in the future", lambda s: s["data"].update(ogrn_date=1e300)),
    ("a suggestion that is not an object", lambda s: s.clear() or s.update(x=1) or None),
    ("name that is a string", lambda s: s["data"].update(name="ООО Ромашка")),
    ("management that is a list", lambda s: s["data"].update(management=["Иванов"])),
])
def test_dadata_odd_answer_is_an_integration_error_not_a_crash(what, change):
    with DadataStub("k3y") as stub:
        _odd(stub, change)
        if what.startswith("a suggestion"):
            stub.companies[INN] = [42]
        client = DadataClient("k3y", url=stub.url, timeout=1, retries=0, backoff=0.01)
        try:
            client.find_company(INN)
        except IntegrationError:
            pass                                   # refused: the dialog offers manual entry
        except Exception as e:                     # noqa: BLE001 - the hole
            pytest.fail(f"{what}: {type(e).__name__}: {e} (reg_find_company catches only "
                        "IntegrationError: the dialog crashes)")
        finally:
            client.close()


def test_dadata_huge_name_is_not_taken_whole():
    """A 2 MB company name from DaData goes whole into the dialog's slots (session row)."""
    with DadataStub("k3y") as stub:
        stub.add_company(INN, "Ромашка" * 300_000)
        client = DadataClient("k3y", url=stub.url, timeout=5, retries=0, backoff=0.01)
        try:
            info = client.find_company(INN)
        except IntegrationError:
            return
        finally:
            client.close()
        assert len(info.name) <= 500, f"company name of {len(info.name)} characters accepted"


# ---- the size and duration of an answer are not bounded -------------------------------------

class _RawServer:
    """Answers every request with `body()` chunks written by `serve(conn)`."""

    def __init__(self, serve):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self._serve = serve
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.recv(65536)
            self._serve(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


def _trickle(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    conn.sendall(b"1\r\n{\r\n")
    while not stop.wait(0.3):                      # one byte per 0.3 s, below the 1 s read timeout
        conn.sendall(b"1\r\n \r\n")


def test_a_crm_answer_that_never_ends_is_cut_by_a_total_deadline():
    server = _RawServer(_trickle)
    crm = make_crm("1c-seed", f"http://127.0.0.1:{server.port}/hs/", LOGIN, PASSWORD, TOKEN,
                   timeout=1, retries=0, backoff=0.01)
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_call(crm.get_balance, INN, None)),
                              daemon=True)
    worker.start()
    worker.join(20)                                 # 20x the configured timeout
    still_reading = worker.is_alive()
    server.close()
    worker.join(10)
    crm.close()
    assert not still_reading, "get_balance still reading a trickling answer 20 s after a 1 s timeout"


def _call(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - the outcome is examined
        return e


def test_a_huge_crm_answer_is_refused_not_read_whole():
    size = 32 * 1024 * 1024

    def huge(conn, stop):
        body = b'{"result": true, "error": "", "balance": [], "pad": "' + b"x" * size + b'"}'
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n")
        conn.sendall(body)

    server = _RawServer(huge)
    crm = make_crm("1c-seed", f"http://127.0.0.1:{server.port}/hs/", LOGIN, PASSWORD, TOKEN,
                   timeout=5, retries=0, backoff=0.01)
    try:
        outcome = _call(crm.get_balance, INN, None)
    finally:
        server.close()
        crm.close()
    assert isinstance(outcome, IntegrationError), \
        f"a {size // 2**20} MB answer was read and parsed whole (got {outcome!r})"


def test_1c_answer_of_the_wrong_shape_is_an_integration_error(c1):
    """A balance row that is not an object, a partner that is a string: the CRM's fault,
    an IntegrationError (the dialog goes on), not an AttributeError (an apology)."""
    acme = c1.add_partner("ООО Ромашка", INN)
    c1.add_person("+79991234567", "Иванов Иван", [(acme, "Директор")])
    c1._bundle = lambda guids: {"partners": ["ООО Ромашка"], "balance": ["1500"]}
    crm = make_crm("1c-seed", c1.url, LOGIN, PASSWORD, TOKEN, timeout=1, retries=0, backoff=0.01)
    try:
        for call in (lambda: crm.get_balance(INN, acme), lambda: crm.find_company(INN),
                     lambda: crm.find_person("+79991234567")):
            with pytest.raises(IntegrationError, match="bad 1C answer"):
                call()
    finally:
        crm.close()
