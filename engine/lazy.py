"""A provider's value computed on first use (`Step.variables` offers every provider)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

__all__ = ["Lazy"]


class Lazy(Mapping):
    """A provider's value, computed on first use: most steps render templates that never
    read `user`, and computing it costs database queries (bench/e2e.py profile)."""

    __slots__ = ("_fn", "_step", "_value", "_done")

    def __init__(self, fn: Callable, step: Any):
        self._fn, self._step, self._value, self._done = fn, step, None, False

    def _get(self) -> Any:
        if not self._done:
            self._value, self._done = self._fn(self._step), True
        return self._value

    def __getattr__(self, name: str) -> Any:
        value = self._get()
        if isinstance(value, Mapping) and name in value:
            return value[name]
        return getattr(value, name)

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __bool__(self) -> bool:
        return bool(self._get())

    def __eq__(self, other) -> bool:
        return self._get() == (other._get() if isinstance(other, Lazy) else other)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return str(self._get())
