"""`bench/sync.py --onec`: N tickets pushed to a flapping 1C while 1C pulls `nonSync`
(see bench/sync.py's docstring). Threads: the flapper (1C's HTTP service down a share of
every cycle), 1C's puller (the bot's API over HTTP), the API server (uvicorn); the drain
runs in the main thread, again and again, as the `sync_outbox` job would.
"""
from __future__ import annotations

import threading
import time

from pydantic import SecretStr

from engine import storage
from engine.storage import write_tx
from helpdesk import config, directory, sync
from helpdesk.app import build_app
from helpdesk.ops import schema
from helpdesk.sync import identity, outbox
from helpdesk.sync.outbox import OutboxItem
from tests.support.fakes.crm_1c_stub import BotApi, OneCStub

__all__ = ["measure_onec"]

TOKEN, API_TOKEN, INN = "bench-1c-token", "bench-api-token", "7707083893"
DRAIN_PAUSE = 0.2        # seconds between drains after one stopped on a failure (the job)


def _settings(url: str, crm_url: str):
    s = config.load(environ={})
    s.database.url = url
    s.crm.kind, s.crm.url, s.crm.token, s.crm.retries = "1c-seed", crm_url, SecretStr(TOKEN), 0
    s.crm.login, s.crm.password, s.crm.timeout = "bot", SecretStr("p4ss-1c"), 5
    s.api.tokens = [SecretStr(API_TOKEN)]
    s.notify.bug.use = False
    s.notify.system.use = False
    s.logging.file = ""
    return s


def _fill(n: int, partner_guid: str) -> None:
    """A company 1C knows, one author, N tickets with their outbox items, 1,000 a batch."""
    from helpdesk.tickets import Ticket
    directory.get_or_create_user(1, first_name="Иван")
    with write_tx():
        cp, _ = directory.upsert_counterparty(inn=INN, name="ООО Ромашка", crm_id=partner_guid)
    for start in range(0, n, 1000):
        rows = [{"number": i + 1, "author": 1, "counterparty": cp.id, "type": "Обращение",
                 "description": f"Заявка {i + 1}: не печатает чек"}
                for i in range(start, min(n, start + 1000))]
        with write_tx():
            Ticket.insert_many(rows).execute()
            for (tid,) in Ticket.select(Ticket.id).where(
                    Ticket.number.between(start + 1, start + len(rows))).tuples():
                outbox.push("ticket", tid)


class _Flapper(threading.Thread):
    """1C's HTTP service: down `share` of every `cycle` seconds, then up again."""

    def __init__(self, stub: OneCStub, share: float, cycle: float):
        super().__init__(name="1c-flapper", daemon=True)
        self.stub, self.share, self.cycle = stub, share, cycle
        self.stop, self.downs = threading.Event(), 0

    def run(self) -> None:
        while not self.stop.wait(self.cycle * (1 - self.share)):
            self.stub.down()
            self.downs += 1
            self.stop.wait(self.cycle * self.share)
            self.stub.up()
        self.stub.up()


class _Puller(threading.Thread):
    """1C's side of nonSync: read, accept under the shown guid, confirm; every `every` s."""

    def __init__(self, stub: OneCStub, api: BotApi, every: float):
        super().__init__(name="1c-puller", daemon=True)
        self.stub, self.api, self.every = stub, api, every
        self.stop, self.pulls, self.accepted, self.refused = threading.Event(), 0, 0, 0

    def pull(self) -> int:
        accepted = self.stub.take_non_sync(self.api)
        answers = self.stub.confirm(self.api, accepted)
        self.pulls += 1
        self.accepted += len(accepted)
        self.refused += sum(1 for a in answers if a.get("result") is not True)
        return len(accepted)

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.pull()


def _waiting() -> int:
    return (OutboxItem.select().where((OutboxItem.entity == "ticket")
                                      & OutboxItem.status.in_((outbox.PENDING, outbox.SENDING)))
            .count())


def _drain_until_empty(app) -> dict:
    drains = sent = 0
    while _waiting():
        report = sync.drain(app)
        drains, sent = drains + 1, sent + report.sent
        if report.stopped or not report.sent:
            time.sleep(DRAIN_PAUSE)   # the CRM failed, or the rest is backing off
    return {"drains": drains, "sent_by_push": sent}


def _check(n: int, stub: OneCStub) -> dict:
    """Every ticket against 1C: one task under the ticket's guid, the same code."""
    from helpdesk.tickets import Ticket
    wrong = 0
    for t in Ticket.select(Ticket.id, Ticket.crm_id, Ticket.crm_number):
        task = stub.tasks.get(t.crm_id or "")
        if t.crm_id != identity.mint_guid("task", t.id) or not task or task["code"] != t.crm_number:
            wrong += 1
    dead = list(OutboxItem.select().where(OutboxItem.status == outbox.DEAD))
    return {"tickets": n, "tasks_in_1c": len(stub.tasks), "duplicates": len(stub.duplicates),
            "tickets_not_matching_1c": wrong, "dead_items": len(dead),
            "dead_errors": [f"{i.attempts} attempts: {i.last_error}"[:300] for i in dead[:5]]}


def _fresh_db(url: str | None, folder: str, n: int) -> str:
    if url:
        storage.connect(url)
        storage.db.drop_tables(storage.ALL_MODELS, safe=True, cascade=True)
        return url
    path = f"sqlite:///{folder}/bench-onec-{n}.db"
    storage.connect(path)
    return path


def measure_onec(n: int, pg_url: str | None, folder: str, args) -> dict:
    from helpdesk.api.server import make_server
    with OneCStub(login="bot", password="p4ss-1c", token=TOKEN) as stub:
        url = _fresh_db(pg_url, folder, n)
        schema.load_models()
        storage.create_schema()
        _fill(n, stub.add_partner("ООО Ромашка", inn=INN))
        app = build_app(_settings(url, stub.url), connect=False)
        server = make_server(app, host="127.0.0.1", port=0)
        threading.Thread(target=server.run, name="api", daemon=True).start()
        while not server.started:
            time.sleep(0.01)
        api = BotApi(f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", API_TOKEN)
        flapper = _Flapper(stub, args.down_share, args.flap_seconds)
        puller = _Puller(stub, api, args.pull_every)
        started = time.perf_counter()
        flapper.start()
        puller.start()
        drained = _drain_until_empty(app)
        for t in (flapper, puller):
            t.stop.set()
            t.join()
        while puller.pull():          # the last read finds nothing left to accept
            pass
        seconds = time.perf_counter() - started
        result = _check(n, stub)
        server.should_exit = True
        api.close()
        storage.close()
    ok = (result["tasks_in_1c"] == n and result["duplicates"] == 0
          and result["tickets_not_matching_1c"] == 0 and result["dead_items"] == 0)
    return {**result, "ok": ok, "seconds": round(seconds, 2),
            "items_per_second": round(n / seconds, 1), **drained,
            "accepted_by_pull": puller.accepted, "pulls": puller.pulls,
            "pull_refusals": puller.refused, "one_c_down_periods": flapper.downs,
            "down_share": args.down_share, "flap_seconds": args.flap_seconds,
            "pull_every_seconds": args.pull_every}
