"""The flow set's check, once per test process for the same files and registrations.

Every test that builds the app (`build_app`, `load_flowset`) ran the whole cross-reference
check of flows/ and templates/ again: ~2.5 s of CPU on a quiet 2-core machine, 70% of an app
build (cProfile: jinja parsing in engine.checker), a large part of the suite. The check is a
pure function of the files, the registry's entries and the options, so its problems are kept
per process under a key of exactly those: the files' bytes (any edit, any added file is
another key), each registry table's entries (by identity, kept alive by the cache so no id
is reused), and the options. Flows and templates are still parsed and built afresh for
every call; only the problems list is reused (and, when it is empty, also for the same
files in another folder: below). Tests of the checker itself call `check_flowset` /
`check_flows` directly and always check."""
from __future__ import annotations

import functools
import glob
import hashlib
import io
import os
import pickle
import weakref

import jinja2

from engine import flowset

_original = flowset.check_flowset
_problems: dict[tuple, tuple[list[str], tuple]] = {}
stats = {"checked": 0, "reused": 0, "compiled": 0, "compile_reused": 0}


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
    rest = (tuple((f, tuple((n, id(v)) for n, v in t) if isinstance(t, tuple) else repr(t))
                  for f, t in entries),
            repr(sorted(options.items())))
    flows_key, templates_key = _files_key(flows_dir), _files_key(templates_dir)
    key = (flows_key, templates_key, *rest)
    kept = _problems.get(key)
    if kept is None:
        kept = _clean.get(_unplaced(flows_key, templates_key, rest))
    if kept is None:
        flows, templates, problems = _original(flows_dir, templates_dir, registry, **options)
        _problems[key] = (list(problems), entries)      # entries: their ids stay theirs
        if not problems:
            _clean[_unplaced(flows_key, templates_key, rest)] = ([], entries)
        stats["checked"] += 1
        return flows, templates, problems
    stats["reused"] += 1
    flows = _parsed(flows_key, flows_dir, options.get("root", ""))
    templates = flowset.Templates(templates_dir, options["languages"], options["default_language"],
                                  options.get("timezone", "UTC"), registry.filters)
    return flows, templates, list(kept[0])


# A clean check of the same files in another folder is clean too: the checker reads only the
# files of the two folders (hashed in the key) and uses their place only to show a problem's
# file (relative to `root`, which is in the options). Tests that copy flows/ into tmp_path
# per test (payments, registration) missed the cache every time: 46 full checks of ~2.5 s
# in test_payments.py alone. A check with problems is reused only in its own place.
_clean: dict[tuple, tuple[list[str], tuple]] = {}


def _unplaced(flows_key: str, templates_key: str, rest: tuple) -> tuple:
    return (flows_key.rpartition(":")[2], templates_key.rpartition(":")[2], *rest)


_parses: dict[str, bytes] = {}


def _parsed(files_key: str, flows_dir: str, root: str) -> dict:
    """The flows as `parse_all` gives them, a fresh copy each call: the YAML of the same files
    is parsed once (round-trip YAML was ~0.1 s an app build), then unpickled (~2 ms). Kept
    by the files' bytes alone, wherever the folder is: tests that copy flows/ into tmp_path
    per test (payments, registration) parsed the same YAML at every build, a third of its
    CPU. Only the names the files are shown by (relative to `root`) depend on the place:
    they are pickled as references and filled in with this folder's names when loaded."""
    names, digest = _shown_names(flows_dir, root), files_key.rpartition(":")[2]
    kept = _parses.get(digest)
    if kept:
        return _Loader(io.BytesIO(kept), names).load()
    flows, _ = flowset.parse_all(flows_dir, root)
    if kept is None:
        out = io.BytesIO()
        try:
            _Dumper(out, names, flows).dump(flows)
            _parses[digest] = out.getvalue()
        except (pickle.PicklingError, TypeError, AttributeError):
            _parses[digest] = b""   # not picklable: parsed every time
    return flows


def _shown_names(flows_dir: str, root: str) -> list[str]:
    """What `parse_all` calls each flow file, in its order."""
    paths = sorted(glob.glob(os.path.join(flows_dir, "*.yaml")))
    return [os.path.relpath(p, root) if root else p for p in paths]


class _Dumper(pickle.Pickler):
    """Every position of a flow names its file by the one string object the parser made for
    it (`Flow.file`): that object, not an equal text in a flow, is what gets replaced."""

    def __init__(self, file, names: list[str], flows: dict):
        super().__init__(file)
        self._index = {id(flow.file): names.index(flow.file) for flow in flows.values()}

    def persistent_id(self, obj):
        return ("shown", self._index[id(obj)]) if type(obj) is str and id(obj) in self._index else None


class _Loader(pickle.Unpickler):
    def __init__(self, file, names: list[str]):
        super().__init__(file)
        self._names = names

    def persistent_load(self, pid):
        return self._names[pid[1]]


# -- Jinja's compile, once per process for the same source and environment options ----------
# With the check reused, an app build still spent ~0.45 of its ~0.6 s of CPU compiling the
# same ~600 templates to Python code again (`Templates.preload`; measured on the project's
# 2-core machine). The code object is a pure function of the source, its names and the
# options the lexer and compiler read (listed in `_compile_options`), and it is immutable,
# so it is shared; every template is still read from disk, parsed into a fresh Template and
# bound to its own environment. A source that fails to compile is never kept: the error is
# raised again every time.
_original_compile = jinja2.Environment.compile
_compiled: dict[tuple, object] = {}


@functools.lru_cache(maxsize=None)
def _standard_attributes(kind: type) -> frozenset:
    return frozenset(vars(kind()))


def _extended(env) -> list[str]:
    """The attributes `Environment.extend` (or a subclass) put on `env`, beyond a bare one's."""
    return [k for k in vars(env) if k not in _standard_attributes(type(env))]


def _compile_options(env) -> tuple:
    return (type(env), env.block_start_string, env.block_end_string, env.variable_start_string,
            env.variable_end_string, env.comment_start_string, env.comment_end_string,
            env.line_statement_prefix, env.line_comment_prefix, env.trim_blocks, env.lstrip_blocks,
            env.newline_sequence, env.keep_trailing_newline, env.optimized, env.is_async,
            env.autoescape if isinstance(env.autoescape, bool) else id(env.autoescape),
            id(env.finalize) if env.finalize else None, env.code_generator_class,
            tuple(sorted(env.extensions)),
            # Jinja folds a filter or test applied to a constant at compile time, calling the
            # function with this environment: the functions themselves and what environment
            # filters read (`Environment.extend`: display_zone, language) shape the code
            tuple(sorted((n, id(f)) for n, f in env.filters.items())),
            tuple(sorted((n, id(f)) for n, f in env.tests.items())),
            tuple(sorted((k, repr(getattr(env, k))) for k in _extended(env))),
            tuple(sorted(getattr(env, "intercepted_binops", ()))),
            tuple(sorted(getattr(env, "intercepted_unops", ()))))


_options_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _options(env) -> tuple:
    """`_compile_options(env)`, worked out again only when something it reads changed (a
    test may add a filter or an extension after a compile): a third of a warm `preload`
    was spent on it."""
    seen = (tuple(env.filters.items()), tuple(env.tests.items()), tuple(env.extensions.items()),
            tuple(vars(env).items()))      # the dicts by content: they change in place
    kept = _options_of.get(env)
    if kept is None or kept[0] != seen:
        kept = _options_of[env] = (seen, _compile_options(env))
    return kept[1]


def compile_template(env, source, name=None, filename=None, raw=False, defer_init=False):
    if raw or not isinstance(source, str):
        return _original_compile(env, source, name, filename, raw, defer_init)
    key = (source, name, filename, defer_init, _options(env))
    code = _compiled.get(key)
    if code is None:
        code = _compiled[key] = _original_compile(env, source, name, filename, raw, defer_init)
        stats["compiled"] += 1
    else:
        stats["compile_reused"] += 1
    return code


jinja2.utils.internal_code.add(compile_template.__code__)   # left out of template tracebacks, as Jinja's own


def install(monkeypatch) -> None:
    """For the session: `load_flowset` (every app build) checks each distinct input once, and
    Jinja compiles each distinct template once."""
    monkeypatch.setattr(flowset, "check_flowset", check_flowset)
    monkeypatch.setattr(jinja2.Environment, "compile", compile_template)
