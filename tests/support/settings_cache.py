"""settings.yaml read once per test process for the same bytes.

Every test that loads settings (the `settings` fixture, app builders, ~1,500 tests) parsed
the same commented settings.yaml with round-trip YAML again: ~70 ms of CPU each on the
project's 2-core machine, about 100 s of the suite. What `engine.config._read_yaml` gives is
a pure function of the file's bytes, so the parsed mapping is kept pickled under them and
every call gets a fresh copy (~2 ms), which the loader then overrides and validates as
always. A file that is missing or broken is never kept: its error is raised every time.
Subprocesses (the bot under test) read the file themselves."""
from __future__ import annotations

import hashlib
import os
import pickle

from engine import config

_original = config._read_yaml
_kept: dict[tuple[str, str], bytes] = {}
stats = {"read": 0, "reused": 0}


def read_yaml(path: str):
    try:
        with open(path, "rb") as f:
            key = (os.path.abspath(path), hashlib.sha256(f.read()).hexdigest())
    except OSError:
        return _original(path)             # its own error, as the loader words it
    kept = _kept.get(key)
    if kept is not None:
        stats["reused"] += 1
        return pickle.loads(kept)
    data = _original(path)
    _kept[key] = pickle.dumps(data)
    stats["read"] += 1
    return data


def install(monkeypatch) -> None:
    monkeypatch.setattr(config, "_read_yaml", read_yaml)
