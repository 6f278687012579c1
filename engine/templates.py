"""Message templates: `templates/<lang>/<name>.j2`, rendered in Jinja's sandbox.

One `ImmutableSandboxedEnvironment` per language with `StrictUndefined` (a typo is an error,
not an empty string) and HTML autoescaping (Telegram's HTML parse mode). A language's loader
falls back to the default language's folder, so a missing English text shows the Russian one.
Filters are the registry's (`Templates(..., filters=registry.filters)`; the engine's own are
in engine.filters); the display zone is on each environment as `display_zone` for them.
Compiled templates are cached by Jinja, and the text of one that reads nothing is kept by
`preload`; a new `Templates` object is built on reload.
"""
from __future__ import annotations

import html
import os
import re
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["Templates", "EXT", "plain_text"]

_TAG = re.compile(r"<[^>]+>")

EXT = ".j2"


class _TemplateLoader(FileSystemLoader):
    """Only `*.j2` files are templates: `{% include 'x.txt' %}` would otherwise render a
    file that `flows check` never reads."""

    def get_source(self, environment, template):
        if not template.endswith(EXT):
            raise TemplateNotFound(template)
        return super().get_source(environment, template)


class Templates:
    def __init__(self, root: str, languages: list[str], default: str = "ru", timezone: str = "UTC",
                 filters: Mapping[str, Callable[..., Any]] | None = None):
        self.root = root
        self.default = default
        self.zone = ZoneInfo(timezone)
        self.filters = dict(filters or {})
        self.languages = list(dict.fromkeys([default, *languages]))
        self._envs = {lang: self._env([lang, default]) for lang in self.languages}
        self._expr_cache: dict[str, Callable] = {}
        self._static: dict[tuple[str, str], str] = {}     # (lang, name) -> its one text (preload)
        # source -> its syntax tree, while the checker reads every file: it asked each file
        # three times (variables, reads, includes), 2,092 parses of 604 files, a third of a
        # start's CPU (cProfile of `flows check`). The tree depends only on the text (every
        # language's environment lexes alike); it is read, never changed, and dropped at the
        # end of `preload`, which runs once the check has passed.
        self._trees: dict[str, nodes.Template] = {}

    def _env(self, langs: list[str]) -> ImmutableSandboxedEnvironment:
        paths = [os.path.join(self.root, lang) for lang in dict.fromkeys(langs)]
        env = ImmutableSandboxedEnvironment(
            loader=_TemplateLoader(paths), autoescape=True, undefined=StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, auto_reload=False, cache_size=1000)
        env.filters.update(self.filters)
        env.extend(display_zone=self.zone, language=langs[0])    # for filters (plural)
        return env

    def lang(self, language: str | None) -> str:
        """The template language for a user's language code ("en-US" -> "en")."""
        code = (language or "").split("-")[0].lower()
        return code if code in self._envs else self.default

    def render(self, name: str, language: str | None, context: dict[str, Any]) -> str:
        """Render `name` (without .j2) for the language; trailing blank lines trimmed. A
        template that reads nothing (most button labels) was rendered once by `preload`."""
        lang = self.lang(language)
        text = self._static.get((lang, name))
        if text is not None:
            return text
        return self._envs[lang].get_template(name + EXT).render(context).strip()

    def render_label(self, name: str, language: str | None, context: dict[str, Any]) -> str:
        """A button label: plain text (Telegram shows button labels unescaped)."""
        return html.unescape(self.render(name, language, context))

    def expression(self, source: str) -> Callable[..., Any]:
        """A compiled sandboxed Jinja expression: `"{{ user.role == 'USER' }}"` or bare."""
        source = strip_braces(source)
        if source not in self._expr_cache:
            env = self._envs[self.default]
            self._expr_cache[source] = env.compile_expression(source, undefined_to_none=False)
        return self._expr_cache[source]

    def preload(self) -> None:
        """Compile every template now, so a file edited later is not served until a checked
        reload (Jinja would otherwise read a not-yet-used template from disk on first use)."""
        names = {n for lang in self.languages for n in self.all_names(lang)}
        for lang, env in self._envs.items():
            for name in names:
                try:
                    self._preload(lang, env, name)
                except (TemplateNotFound, TemplateSyntaxError):
                    pass    # missing in this language, or broken: the checker reports it
        self._trees.clear()        # compiled now: no one reads the trees again

    def _preload(self, lang: str, env, name: str) -> None:
        """Compile `name`; when it is plain text (no Jinja syntax at all: its text cannot
        depend on who reads it), keep its text too. Rendering was a tenth of a step's CPU,
        mostly labels such as "✅ Да" (cProfile, bench/e2e.py). Told by its delimiters, not
        by parsing it: that parse was a quarter of an app build (it found the same 340)."""
        source, _, uptodate = env.loader.get_source(env, name + EXT)
        template = env.get_template(name + EXT)
        if not (_plain(env, source) and (uptodate is None or uptodate())):
            return
        try:
            text = template.render({}).strip()
        except Exception:  # noqa: BLE001 - fails when shown, as before: the step apologises
            return
        self._static[(lang, name)] = text

    # -- checks used by the flow checker -------------------------------------------------
    def path(self, name: str, lang: str) -> str:
        return os.path.join(self.root, lang, name + EXT)

    def exists(self, name: str, lang: str) -> bool:
        return os.path.isfile(self.path(name, lang))

    def _file_tree(self, name: str, lang: str) -> nodes.Template:
        """The syntax tree of the language's own file (raises TemplateSyntaxError)."""
        return self._tree(self.source(name, lang), name, self.path(name, lang))

    def _tree(self, source: str, name: str | None = None, filename: str | None = None) -> nodes.Template:
        tree = self._trees.get(source)
        if tree is None:        # a broken text raises here every time, with its own name
            tree = self._trees[source] = self._envs[self.default].parse(source, name, filename)
        return tree

    def source(self, name: str, lang: str) -> str:
        with open(self.path(name, lang), encoding="utf-8") as f:
            return f.read()

    def variables(self, name: str, lang: str) -> set[str]:
        """Top-level names a template reads (raises TemplateSyntaxError when it is broken)."""
        return meta.find_undeclared_variables(self._file_tree(name, lang))

    def reads_of(self, name: str, lang: str, root: str) -> list[tuple[str, int]]:
        """(dotted path, line) of every read of variable `root` in a template:
        `{{ settings.pay.use }}` -> ("pay.use", 1); a bare `settings` -> ("", line)."""
        return _reads(self._file_tree(name, lang), root)

    def includes_of(self, name: str, lang: str) -> list[tuple[str, int]]:
        """(template file name, line) of every include/import/extends with a literal name."""
        found = self._file_tree(name, lang).find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))
        return [(n.template.value, n.lineno) for n in found
                if isinstance(n.template, nodes.Const) and isinstance(n.template.value, str)]

    def loadable(self, file_name: str, lang: str) -> bool:
        try:
            self._envs[lang].loader.get_source(self._envs[lang], file_name)
        except TemplateNotFound:
            return False
        return True

    def expression_reads(self, source: str, root: str) -> list[tuple[str, int]]:
        env = self._envs[self.default]
        return _reads(env.parse("{{ " + strip_braces(source) + " }}"), root)

    def expression_variables(self, source: str) -> set[str]:
        env = self._envs[self.default]
        ast = env.parse("{{ " + strip_braces(source) + " }}")
        return meta.find_undeclared_variables(ast)

    def all_names(self, lang: str) -> list[str]:
        base = os.path.join(self.root, lang)
        names = []
        for folder, _, files in os.walk(base):
            for f in files:
                if f.endswith(EXT):
                    rel = os.path.relpath(os.path.join(folder, f), base)
                    names.append(rel[:-len(EXT)].replace(os.sep, "/"))
        return sorted(names)


def plain_text(text: str) -> str:
    """A rendered text without Telegram's HTML: tags dropped, entities decoded (for places
    that show no markup: a terminal, a pre-checkout error, scenario comparisons)."""
    return html.unescape(_TAG.sub("", text))


def _plain(env, source: str) -> bool:
    """No block, variable or comment opens in `source`: Jinja sees one piece of text."""
    return not any(mark in source for mark in (env.block_start_string, env.variable_start_string,
                                               env.comment_start_string))


def strip_braces(source: str) -> str:
    s = str(source).strip()
    if s.startswith("{{") and s.endswith("}}"):
        s = s[2:-2].strip()
    return s


def _reads(node: nodes.Node, root: str) -> list[tuple[str, int]]:
    """Attribute chains rooted at the name `root`, outermost first; a dynamic subscript
    (`x[key]`) ends a chain with "*" (it could be anything below)."""
    path = _chain(node, root)
    if path is not None:
        found = [(path, node.lineno)]
        if isinstance(node, nodes.Getitem):
            found += _reads(node.arg, root)
        return found
    return [r for child in node.iter_child_nodes() for r in _reads(child, root)]


def _chain(node: nodes.Node, root: str) -> str | None:
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node, nodes.Getitem):
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            parts = [] if not isinstance(key, str) else parts
            parts.append(key if isinstance(key, str) else "*")
        elif isinstance(node, nodes.Name) and node.name == root and node.ctx == "load":
            return ".".join(reversed(parts))
        else:
            return None
        node = node.node

