"""The paper registry: where shared code (``auscult.layout``, ``auscult.params``, the report
driver) finds the module of a paper, by its params.yaml key.

This module imports nothing from the package, so the shared layers depend on it and the
paper modules (``auscult.papers``), which build on those layers, register themselves here
when ``auscult`` is imported (see ``auscult/__init__.py``). A paper defined outside the
package (a test's toy paper, a user's own) joins with :func:`register`; what a paper module
defines is listed in ``auscult/papers/__init__.py`` and ``docs/adding_a_paper.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

REGISTRY: dict[str, ModuleType] = {}


def register(module: ModuleType) -> ModuleType:
    """Add a paper module (its ``NAME`` is its params.yaml key); re-registering a name
    replaces its module (a reloaded module), two different names never collide."""
    name = getattr(module, "NAME", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"paper module {module.__name__} defines no NAME (its params.yaml key)")
    REGISTRY[name] = module
    return module


def get(name: str) -> ModuleType:
    """The module of paper ``name`` (a top-level key of params.yaml)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown paper {name!r}; registered: {sorted(REGISTRY)}") from None


def enabled(config: Mapping) -> list[ModuleType]:
    """The modules of the papers ``config["papers"]`` enables, in registration order."""
    return [m for name, m in REGISTRY.items() if name in config["papers"]]


def names() -> list[str]:
    return list(REGISTRY)
