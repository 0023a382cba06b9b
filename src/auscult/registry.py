"""The paper registry: where shared code (``auscult.layout``, ``auscult.params``, the report
driver) finds the module of a paper, by its params.yaml key.

This module imports nothing from the package, so the shared layers depend on it and the
paper modules (``auscult.papers``), which build on those layers, register themselves here
when ``auscult`` is imported (see ``auscult/__init__.py``). A paper defined outside the
package (a user's own, or a test's) joins with :func:`register`; what a paper module
defines is listed in ``auscult/papers/__init__.py`` and ``docs/adding_a_paper.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
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


def load(module_name: str) -> ModuleType:
    """Import a paper module defined outside the package (``paper_modules`` in params.yaml,
    a name on ``sys.path``) and register it. Such a module defines, besides the names every
    paper defines, ``RULES`` (the path of its Snakemake rule file, included by the Snakefile)
    and the schema of its params block: a ``schema.yaml`` beside it (as a built-in paper's
    folder has) or ``SCHEMA``."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # a missing module, or one that fails while importing (syntax, its own imports)
        raise ImportError(f"paper module {module_name!r} (params paper_modules) cannot be imported: "
                          f"{type(e).__name__}: {e}") from e
    for attr in ("NAME", "RULES"):
        if not hasattr(module, attr):
            raise ValueError(f"paper module {module_name!r} defines no {attr} (see docs/adding_a_paper.md)")
    if not hasattr(module, "SCHEMA") and not _beside(module, "schema.yaml").is_file():
        raise ValueError(f"paper module {module_name!r} has neither a schema.yaml beside it nor SCHEMA "
                         "(see docs/adding_a_paper.md)")
    if module.NAME in REGISTRY and REGISTRY[module.NAME] is not module and is_builtin(REGISTRY[module.NAME]):
        raise ValueError(f"paper module {module_name!r}: {module.NAME!r} is a built-in paper")
    return register(module)


def load_configured(config: Mapping) -> list[ModuleType]:
    """Load the ``paper_modules`` a config names (a job process that did not validate it)."""
    return [load(str(name)) for name in config.get("paper_modules") or []]


def is_builtin(module: ModuleType) -> bool:
    """A paper shipped in the package (``auscult.papers.<name>``), not a user's own."""
    return module.__name__.startswith("auscult.papers.")


def external() -> list[ModuleType]:
    """Registered papers from outside the package."""
    return [m for m in REGISTRY.values() if not is_builtin(m)]


def rule_files() -> list[str]:
    """The rule file (``RULES``) of every registered paper, built-in or not: the Snakefile
    includes each, so a built-in paper plugs in exactly as an external one does."""
    return [str(m.RULES) for m in REGISTRY.values()]


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


def resolve(spec: str):
    """The object a ``"package.module:attribute"`` spec names (imported on first use, so a
    paper's hooks can point at torch or librosa code without importing it)."""
    import importlib

    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _beside(module: ModuleType, name: str):
    from pathlib import Path

    return Path(module.__file__).with_name(name)


def paper_files(name: str) -> list[str]:
    """``name`` (``paper_values.yaml``, ``claims.yaml``) beside each registered paper's module,
    where it has one: a paper's published numbers and claims live in its own folder."""
    out = []
    for module in REGISTRY.values():
        f = _beside(module, name)
        if f.is_file():
            out.append(str(f))
    return out


def spec_modules(attr: str) -> list[str]:
    """The package modules (``x/y`` for ``auscult.x.y``) that the registered papers' ``attr``
    tables point at: a rule's code inputs (a user's own module outside the package is not)."""
    out = []
    for module in REGISTRY.values():
        for spec in (getattr(module, attr, {}) or {}).values():
            name = spec.partition(":")[0] if isinstance(spec, str) else ""
            if name.startswith("auscult."):
                out.append(name.removeprefix("auscult.").replace(".", "/"))
    return list(dict.fromkeys(out))


class HookTable(MutableMapping):
    """A shared table (model architectures, feature recipes) that the registered papers fill:
    each paper module's ``attr`` maps a name to a ``"module:attribute"`` spec, resolved when
    it is first looked up; entries set here (a test's monkeypatch, a user's own) win."""

    def __init__(self, attr: str, builtin: Mapping[str, object] | None = None):
        self.attr, self._own = attr, dict(builtin or {})

    def _specs(self) -> dict:
        out: dict = {}
        for module in REGISTRY.values():
            out.update(getattr(module, self.attr, {}) or {})
        return out

    def __getitem__(self, name: str):
        if name in self._own:
            return self._own[name]
        spec = self._specs()[name]
        return resolve(spec) if isinstance(spec, str) else spec

    def __setitem__(self, name: str, value) -> None:
        self._own[name] = value

    def __delitem__(self, name: str) -> None:
        del self._own[name]

    def __iter__(self):
        return iter({**self._specs(), **self._own})

    def __len__(self) -> int:
        return len({**self._specs(), **self._own})
