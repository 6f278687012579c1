"""The base of every settings section: unknown keys are refused (a typo names its path)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Strict"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
