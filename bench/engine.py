"""Engine benchmark: events/s and step latency through the interpreter with SQLite
persistence on a 10-state flow, memory as stored sessions grow, and in the same run the
same flow on a bare `transitions` machine (no persistence, no templates) as a baseline.

    python bench/engine.py [--events 20000] [--users 200] [--sessions 10000,100000]

Prints one JSON object; `fire_us` is one `FlowSet.fire` alone (the machine's share of a
step), `baseline_trigger_us` one trigger on models kept attached. The engine/baseline ratio shows what persistence + templates +
checking cost on top of the state machine itself.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transitions import Machine

from engine import Engine, Event, Registry, builtins, load_flowset, storage

STATES = [f"s{i}" for i in range(10)]


def write_flow(root: str) -> tuple[str, str]:
    flows, templates = os.path.join(root, "flows"), os.path.join(root, "templates")
    os.makedirs(flows)
    lines = ["flow: bench", "start: s0", "states:"]
    for i, name in enumerate(STATES):
        nxt = STATES[(i + 1) % len(STATES)]
        lines += [f"  {name}:", "    say: step", "    buttons:",
                  f"      - {{text: go, go: {nxt}}}"]
    with open(os.path.join(flows, "bench.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    common = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates")
    for lang in ("ru", "en"):
        os.makedirs(os.path.join(templates, lang))
        for folder in ("common", "console"):     # texts the engine itself needs
            os.symlink(os.path.join(common, lang, folder), os.path.join(templates, lang, folder))
        with open(os.path.join(templates, lang, "step.j2"), "w") as f:
            f.write("Step {{ event.kind }} for <b>{{ lang }}</b>\n")
        with open(os.path.join(templates, lang, "go.j2"), "w") as f:
            f.write("Next\n")
    return flows, templates


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def engine_run(engine: Engine, users: int, events: int) -> tuple[float, list[float]]:
    """Each user starts with /start, then presses the one button round after round."""
    data: dict[int, str] = {}
    for u in range(users):
        data[u] = engine.handle(Event(u + 1, u + 1, "command", "/start"))[0].buttons[0][0].data
    latencies = []
    started = time.perf_counter()
    for i in range(events):
        u = i % users
        t = time.perf_counter()
        replies = engine.handle(Event(u + 1, u + 1, "button", data=data[u]))
        latencies.append((time.perf_counter() - t) * 1000)
        data[u] = replies[0].buttons[0][0].data
    return events / (time.perf_counter() - started), latencies


def baseline_run(users: int, events: int) -> float:
    """The same 10-state cycle on one shared transitions Machine, models kept in memory."""
    machine = Machine(model=None, states=STATES, initial="s0", auto_transitions=False)
    for i, name in enumerate(STATES):
        machine.add_transition("go", name, STATES[(i + 1) % len(STATES)])
    models = [type("M", (), {})() for _ in range(users)]
    for m in models:
        machine.add_model(m)
    started = time.perf_counter()
    for i in range(events):
        models[i % users].trigger("go")
    return events / (time.perf_counter() - started)


def fire_run(fs, events: int) -> float:
    """µs per `FlowSet.fire` alone (a button's trigger, no condition): the state machine's
    share of a step."""
    started = time.perf_counter()
    for i in range(events):
        fs.fire("bench", STATES[i % len(STATES)], "go_" + STATES[(i + 1) % len(STATES)], None)
    return (time.perf_counter() - started) / events * 1e6


def grow_sessions(engine: Engine, target: int, start_id: int) -> None:
    for u in range(start_id, start_id + target):
        engine.handle(Event(u, u, "command", "/start"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--sessions", default="10000,100000")
    args = p.parse_args()
    root = tempfile.mkdtemp(prefix="bench-engine-")
    flows, templates = write_flow(root)
    storage.connect(f"sqlite:///{root}/bench.db")
    storage.create_schema()
    reg = builtins.register(Registry())
    engine = Engine(load_flowset(flows, templates, reg, languages=["ru", "en"], default_language="ru",
                                 menu_flow="bench", commands={"start": "bench"}), reg)
    baseline = baseline_run(args.users, args.events)
    fire_us = fire_run(engine.flowset, args.events)
    eps, lat = engine_run(engine, args.users, args.events)
    q = statistics.quantiles(lat, n=100)
    out = {"flow_states": len(STATES), "events": args.events, "users": args.users,
           "database": "sqlite (WAL, IMMEDIATE transactions, file on disk)",
           "events_per_s": round(eps), "step_ms_p50": round(q[49], 3), "step_ms_p99": round(q[98], 3),
           "baseline_events_per_s": round(baseline), "ratio_engine_to_baseline": round(eps / baseline, 4),
           "fire_us": round(fire_us, 1), "baseline_trigger_us": round(1e6 / baseline, 1)}
    gc.collect()
    out["rss_mb_start"] = round(rss_mb(), 1)
    stored = args.users
    for target in [int(x) for x in args.sessions.split(",") if x]:
        grow_sessions(engine, target - stored, 10_000_000 + stored)
        stored = target
        gc.collect()
        out[f"rss_mb_{target // 1000}k_sessions"] = round(rss_mb(), 1)
    out["sessions_in_db"] = storage.db.execute_sql("select count(*) from conversation").fetchone()[0]
    # RSS growth is bounded by SQLite's page cache (cache_size pragma), not by sessions:
    out["sqlite_page_cache_limit_mb"] = abs(storage.SQLITE_PRAGMAS["cache_size"]) / 1024
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
