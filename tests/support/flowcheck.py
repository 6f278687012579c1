"""The flow set's check, once per test process for the same files and registrations.

Every test that builds the app (`build_app`, `load_flowset`) ran the whole cross-reference
check of flows/ and templates/ again: ~2.5 s of CPU on a quiet 2-core machine, 70% of an app
build (cProfile: jinja parsing in engine.checker), a large part of the suite. The check is a
pure function of the files, the registry's entries and the options, so its problems are kept
per process under a key of exactly those: the files' bytes (any edit, any added file is
another key), each registry table's entries (by identity, kept alive by the cache so no id
is reused), and the options. Flows and templates are still parsed and built afresh for
every call; only the problems list is reused. Tests of the checker itself call
`check_flowset` / `check_flows` directly and always check."""
from __future__ import annotations

import hashlib
import os

from engine import flowset

_original = flowset.check_flowset
_problems: dict[tuple, tuple[list[str], tuple]] = {}
stats = {"checked": 0, "reused": 0}


def _files_key(folder: str) -> str:
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            digest.update(os.path.relpath(path, folder).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read() + b"\0")
    return f"{os.path.abspath(folder)}:{digest.hexdigest()}"


def _registry_entries(registry) -> tuple:
    return tuple((field, tuple(sorted(value.items(), key=lambda kv: kv[0])) if isinstance(value, dict)
                  else value) for field, value in sorted(vars(registry).items()))


def check_flowset(flows_dir, templates_dir, registry, **options):
    entries = _registry_entries(registry)
    key = (_files_key(flows_dir), _files_key(templates_dir),
           tuple((f, tuple((n, id(v)) for n, v in t) if isinstance(t, tuple) else repr(t))
                 for f, t in entries),
           repr(sorted(options.items())))
    kept = _problems.get(key)
    if kept is None:
        flows, templates, problems = _original(flows_dir, templates_dir, registry, **options)
        _problems[key] = (list(problems), entries)      # entries: their ids stay theirs
        stats["checked"] += 1
        return flows, templates, problems
    stats["reused"] += 1
    flows, _ = flowset.parse_all(flows_dir, options.get("root", ""))
    templates = flowset.Templates(templates_dir, options["languages"], options["default_language"],
                                  options.get("timezone", "UTC"), registry.filters)
    return flows, templates, list(kept[0])


def install(monkeypatch) -> None:
    """For the session: `load_flowset` (every app build) checks each distinct input once."""
    monkeypatch.setattr(flowset, "check_flowset", check_flowset)
