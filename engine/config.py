"""Settings files: YAML with line numbers, environment overrides, typed validation.

`load_settings(path, schema)` reads a YAML file with ruamel's round-trip loader (every key
keeps its line), applies environment overrides, expands `${VAR}` / `${VAR:-default}`, and
validates the result with a pydantic model. Every problem is reported at once as
`file:line:col: key: what is expected`, raised as `SettingsError`.
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .errors import SettingsError
from .yamlutil import plain as _plain

__all__ = ["load_settings", "SettingsError", "SHORT_ENV_NAMES"]

SHORT_ENV_NAMES = {
    "BOT_TOKEN": ("bot", "token"),
    "BOT_API_URL": ("bot", "api_url"),
    "DATABASE_URL": ("database", "url"),
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_settings(path: str, schema: type[BaseModel], environ: Mapping[str, str] | None = None):
    """Load, override and validate settings; raise SettingsError listing every problem."""
    environ = os.environ if environ is None else environ
    data = _read_yaml(path)
    overridden = _apply_env(data, environ)
    problems = _expand_vars(data, environ, path)
    if problems:
        raise SettingsError(problems)
    try:
        return schema.model_validate(_plain(data))
    except ValidationError as e:
        raise SettingsError([_describe(path, data, err, overridden, schema)
                             for err in e.errors()]) from None


def _read_yaml(path: str) -> CommentedMap:
    try:
        with open(path, encoding="utf-8") as f:
            data = YAML(typ="rt").load(f)
    except FileNotFoundError:
        raise SettingsError([f"{path}: settings file not found"]) from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise SettingsError([f"{path}:{mark.line + 1}:{mark.column + 1}: {e.problem or e.context}"]) from None
    return data if isinstance(data, CommentedMap) else CommentedMap()


def _apply_env(data: CommentedMap, environ: Mapping[str, str]) -> dict[tuple, str]:
    """Apply KEY__SUB overrides and the short names; return {path: env var name}."""
    applied: dict[tuple, str] = {}
    for name, value in environ.items():
        path = SHORT_ENV_NAMES.get(name) or _env_path(data, name)
        if path and value != "":
            _set_path(data, path, _parse_scalar(value))
            applied[path] = name
    return applied


def _env_path(data: CommentedMap, name: str) -> tuple | None:
    """Map BOT__WEBHOOK__PORT to ("bot", "webhook", "port") when the first level exists."""
    if "__" not in name:
        return None
    parts = tuple(p.lower() for p in name.split("__"))
    return parts if parts[0] in data else None


def _set_path(data: CommentedMap, path: tuple, value: Any) -> None:
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = CommentedMap()
        node = node[key]
    node[path[-1]] = value


def _parse_scalar(text: str) -> Any:
    """Environment values are YAML scalars or flow lists: "true", "5", "[1, 2]"."""
    try:
        value = YAML(typ="safe").load(text)
    except Exception:  # noqa: BLE001 - anything unparsable stays a string
        return text
    return text if isinstance(value, dict) or value is None else value


def _expand_vars(node: Any, environ: Mapping[str, str], path: str) -> list[str]:
    problems: list[str] = []
    for key, value, pos in _children(node):
        if isinstance(value, str) and "${" in value:
            expanded, missing = _expand(value, environ)
            node[key] = expanded
            if missing:
                problems.append(f"{path}:{_fmt(pos)}: {key}: environment variable "
                                f"{missing} is not set (use ${{{missing}:-default}})")
        else:
            problems += _expand_vars(value, environ, path)
    return problems


def _expand(value: str, environ: Mapping[str, str]) -> tuple[str, str | None]:
    missing: list[str] = []

    def sub(m):
        if m.group(1) in environ:
            return environ[m.group(1)]
        if m.group(2) is not None:
            return m.group(2)
        missing.append(m.group(1))
        return ""
    return _VAR.sub(sub, value), (missing[0] if missing else None)


def _children(node: Any):
    if isinstance(node, CommentedMap):
        for k, v in node.items():
            yield k, v, node.lc.key(k) if node.lc.data and k in node.lc.data else None
    elif isinstance(node, CommentedSeq):
        for i, v in enumerate(node):
            yield i, v, node.lc.item(i) if node.lc.data and i in node.lc.data else None


def _fmt(pos) -> str:
    return f"{pos[0] + 1}:{pos[1] + 1}" if pos else "1:1"



def _describe(path: str, data: CommentedMap, err: dict, overridden: dict, schema) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc)
    env = next((n for p, n in overridden.items() if loc[:len(p)] == p), None)
    where = f"environment {env}" if env else f"{path}:{_fmt(_position(data, loc))}"
    if err["type"] == "extra_forbidden":
        return f"{where}: {key}: unknown setting{_suggest(schema, loc)}"
    return f"{where}: {key}: {err['msg']} (got {err.get('input')!r})"


def _position(data: Any, loc: tuple):
    """Line/col (0-based) of the deepest key of `loc` present in the YAML."""
    node, pos = data, None
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            pos = node.lc.key(key) if node.lc.data and key in node.lc.data else pos
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            pos = node.lc.item(key) if node.lc.data and key in node.lc.data else pos
            node = node[key]
        else:
            break
    return pos


def _suggest(schema: type[BaseModel], loc: tuple) -> str:
    """ "; did you mean 'x'?" from the schema's keys at the unknown key's level."""
    import difflib
    model = schema
    for key in loc[:-1]:
        field = model.model_fields.get(str(key)) if isinstance(model, type) else None
        model = field.annotation if field else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    known = ", ".join(model.model_fields)
    return f"; did you mean {close[0]!r}?" if close else f"; expected one of: {known}"
