"""Small helpers for ruamel round-trip YAML shared by the settings and flow loaders."""
from __future__ import annotations

from typing import Any

__all__ = ["plain"]


def plain(node: Any) -> Any:
    """CommentedMap/CommentedSeq (and their scalars) as plain dicts/lists with str keys."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node
