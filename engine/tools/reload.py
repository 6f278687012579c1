"""Hot reload of flows/ and templates/: admins edit files, the running bot picks them up.

A project builds one `Reloader` per engine and calls it two ways:

* `poll()` from a periodic job (the project's scheduler) compares file modification times
  and reloads once the files have stopped changing for one poll (an editor saving several
  files, or `git pull`, is seen as one change);
* `reload()` on demand, e.g. from an admin command's action.

A reload runs the full checker. A valid set replaces the old one with `engine.reload` (live
conversations continue; one whose state vanished is taken to the menu by the engine). An
invalid set is never loaded: the old one keeps serving, the `file:line:col` problems are
logged and passed to every subscriber (the Telegram transport sends them to the admins).

Why polling and not inotify (`watchdog`): a few dozen small files cost microseconds to stat,
polling works the same on bind mounts, network shares and in containers where inotify
events do not arrive, and it needs no extra dependency.
"""
from __future__ import annotations

import glob
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Callable

from ..errors import FlowConfigError
from ..flowset import FlowSet
from ..runtime import Engine

__all__ = ["Reloader", "ReloadResult", "fingerprint"]

log = logging.getLogger(__name__)

Listener = Callable[["ReloadResult"], None]


@dataclass
class ReloadResult:
    """What a reload did: `ok` with the new `version`, or the `problems` that stopped it
    (then `version` is the one still serving)."""
    ok: bool
    version: str
    problems: list[str] = field(default_factory=list)


def fingerprint(flows_dir: str, templates_dir: str) -> tuple:
    """(path, mtime, size) of every flow and template file: changes when one is edited,
    added or removed."""
    paths = sorted(glob.glob(os.path.join(flows_dir, "*.yaml")) +
                   glob.glob(os.path.join(templates_dir, "**", "*.j2"), recursive=True))
    return tuple(_stat(p) for p in paths)


def _stat(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:          # removed between glob and stat: the next poll sees it
        return (path, 0, -1)
    return (path, st.st_mtime_ns, st.st_size)


class Reloader:
    """Checks and swaps the flow set of one app; safe to call from several threads.

    Args:
        engine: returns the engine to swap the set of (looked up at each reload: a project
            may build its engine after the reloader).
        load: builds a checked flow set from the files; raises FlowConfigError with the
            problems.
        flows_dir, templates_dir: the files watched.
    """

    def __init__(self, engine: Callable[[], Engine], load: Callable[[], FlowSet],
                 flows_dir: str, templates_dir: str):
        self._engine, self._load = engine, load
        self._dirs = (flows_dir, templates_dir)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._loaded = self._stamp()     # taken before the first load: a change in between is seen
        self._pending: tuple | None = None

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(result)` after every reload the watcher does (ok or rejected)."""
        self._listeners.append(listener)

    def _stamp(self) -> tuple:
        return fingerprint(*self._dirs)

    def poll(self) -> ReloadResult | None:
        """One look at the files; reload when they changed and then held still for a poll."""
        stamp = self._stamp()
        if stamp == self._loaded:
            self._pending = None
            return None
        if stamp != self._pending:
            self._pending = stamp
            return None
        return self.reload()

    def reload(self, *, notify: bool = True) -> ReloadResult:
        """Check the files now; swap the set in when it is valid."""
        with self._lock:
            self._loaded, self._pending = self._stamp(), None
            result = self._swap()
        if notify:
            self._notify(result)
        return result

    def _swap(self) -> ReloadResult:
        engine = self._engine()
        try:
            flowset = self._load()
        except FlowConfigError as e:
            return self._rejected(engine, e.problems)
        except Exception as e:  # an unreadable file must not stop the bot
            log.exception("flow reload failed")
            return self._rejected(engine, [f"{type(e).__name__}: {e}"])
        engine.reload(flowset)
        return ReloadResult(True, flowset.version)

    def _rejected(self, engine, problems: list[str]) -> ReloadResult:
        log.error("flow reload rejected, version %s keeps serving; %d problem(s):\n%s",
                  engine.flowset.version, len(problems), "\n".join(problems))
        return ReloadResult(False, engine.flowset.version, list(problems))

    def _notify(self, result: ReloadResult) -> None:
        for listener in list(self._listeners):
            try:
                listener(result)
            except Exception:  # a failing subscriber must not stop the others
                log.exception("reload listener %r failed", listener)

