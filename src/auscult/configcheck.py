"""Closed-config checks shared by the model and training configs (no hidden defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def check_keys(what: str, section: str, got: Any, required: set[str]) -> None:
    """Raise KeyError for missing and ValueError for unknown keys of ``section``, naming them."""
    if not isinstance(got, Mapping):
        raise ValueError(f"{what}: '{section}' must be a mapping, got {type(got).__name__}")
    missing = sorted(required - set(got))
    unknown = sorted(set(got) - required)
    if missing:
        raise KeyError(f"{what}: missing key(s) in '{section}': {missing}")
    if unknown:
        raise ValueError(f"{what}: unknown key(s) in '{section}': {unknown}")
