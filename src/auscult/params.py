"""Load, merge, validate and digest experiment parameters.

``params.yaml`` is the single source of truth; overlays (``config/demo.yaml``,
``config/quick.yaml``) are deep-merged on top, exactly as ``snakemake --configfile`` does.
The merged result is validated against the schema shipped in the package: the shared part,
``src/auscult/schemas/params.schema.yaml``, composed with each registered paper's part (its
folder's ``schema.yaml``: its block, its feature recipes, their $defs; an external module's
``SCHEMA``). Closed objects, every key required; read with ``importlib.resources``, so it
works from any installed copy: a typo fails before any job runs, naming the key.

``digest`` gives the short content hash that every artifact path carries: a path is a
function of exactly the parameters that produced it, so a parameter change can never
reuse a stale artifact, also in a fresh clone without Snakemake's metadata.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_RESOURCE = ("auscult.schemas", "params.schema.yaml")


def schema_text() -> str:
    """The params schema as shipped inside the package."""
    from importlib.resources import files

    return files(SCHEMA_RESOURCE[0]).joinpath(SCHEMA_RESOURCE[1]).read_text(encoding="utf-8")


class ParamsError(ValueError):
    """Parameters are missing, unknown or of the wrong type; the message names the key."""


def deep_merge(base: Mapping, overlay: Mapping) -> dict:
    """Recursively merge ``overlay`` into a copy of ``base`` (dicts merge, the rest replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: parameter file not found") from None
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def load_params(path: str | Path = "params.yaml", overlays: list[str | Path] = ()) -> dict:
    """Read ``path``, merge ``overlays`` in order, validate, return the config."""
    config = read_yaml(path)
    for overlay in overlays:
        config = deep_merge(config, read_yaml(overlay))
    validate(config)
    return config


def full_schema() -> dict:
    """The composed schema of the built-in papers (shared part + each paper's ``schema.yaml``),
    as committed in ``src/auscult/schemas/params.schema.json`` for editors and readers
    (``python -m auscult.params > src/auscult/schemas/params.schema.json``; a test checks it)."""
    schema = yaml.safe_load(schema_text())
    _add_builtin_papers(schema)
    return schema


def validate(config: Mapping, schema_path: str | Path | None = None) -> None:
    """Raise ParamsError listing every schema violation with its dotted key path."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text() if schema_path else schema_text())
    _add_builtin_papers(schema)
    _add_paper_modules(schema, config)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_key(e)}: {_explain(e)}" for e in errors]
        raise ParamsError("invalid parameters:\n" + "\n".join(lines))
    _check_cross_references(config)


def paper_schema(module) -> dict:
    """A paper's part of the schema: ``{"block": ..., "features": {recipe: ...}, "$defs": ...}``
    from the ``schema.yaml`` beside its module, else its ``SCHEMA`` (the block only)."""
    f = Path(module.__file__).with_name("schema.yaml")
    if not f.is_file():
        return {"block": module.SCHEMA}
    try:
        part = yaml.safe_load(f.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ParamsError(f"{f}: not valid YAML ({e})") from None
    if not isinstance(part, dict) or "block" not in part:
        raise ParamsError(f"{f}: a paper's schema part needs a `block` (its params block), got {type(part).__name__}")
    return part


def _add_paper(schema: dict, module) -> None:
    """Close the schema over one paper: its block, its name in ``papers`` (and in
    ``cross_dataset.models`` when the cross-dataset table scores it, in ``floor.papers`` when
    its module has a ``FLOOR``), its recipes, its $defs."""
    part, props = paper_schema(module), schema["properties"]
    props[module.NAME] = part["block"]
    schema["required"] = [*schema["required"], module.NAME]
    props["papers"]["items"]["enum"] = [*props["papers"]["items"]["enum"], module.NAME]
    if getattr(module, "CROSS_FAMILY", False):
        models = props["cross_dataset"]["properties"]["models"]["items"]
        models["enum"] = [*models["enum"], module.NAME]
    floor_papers = schema.get("$defs", {}).get("floor", {}).get("properties", {}).get("papers", {}).get("items")
    if getattr(module, "FLOOR", None) and floor_papers is not None:  # the floor can run under its protocol
        floor_papers["enum"] = [*floor_papers["enum"], module.NAME]
    features = props["features"]
    for recipe, sub in (part.get("features") or {}).items():
        features["properties"][recipe] = sub
        features["required"] = [*features["required"], recipe]
    schema.setdefault("$defs", {}).update(part.get("$defs") or {})


def _add_builtin_papers(schema: dict) -> None:
    from auscult import registry

    for module in registry.REGISTRY.values():
        if registry.is_builtin(module):
            _add_paper(schema, module)


def _add_paper_modules(schema: dict, config: Mapping) -> None:
    """Papers from outside the package (``paper_modules``): import and register each, and
    close the schema over its block (its ``SCHEMA``) and its name in ``papers``."""
    from auscult import registry

    names = config.get("paper_modules") or []
    if not isinstance(names, list):
        return  # the schema reports the type
    for name in names:
        try:
            module = registry.load(str(name))
        except (ImportError, ValueError) as e:
            raise ParamsError(f"paper_modules: {e}") from None
        _add_paper(schema, module)


def _key(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _explain(error) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"unknown key(s) {extra}; allowed: {sorted(error.schema.get('properties', {}))}"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required but missing")
    if error.validator == "not" and "synthetic" in str(error.schema):
        return "'synthetic' settings are only allowed with source: synthetic"
    return error.message


def _check_cross_references(config: Mapping) -> None:
    """Checks a JSON schema cannot express: table rows must name defined variants/models."""
    cd = config.get("cross_dataset", {})
    for t in cd.get("targets", []):
        ds, _, subset = t.partition("/")
        if ds not in config.get("datasets", {}):
            raise ParamsError(f"cross_dataset.targets: {t!r} names no dataset of `datasets` "
                              f"({sorted(config.get('datasets', {}))})")
        if subset and ds != "pascal":
            raise ParamsError(f"cross_dataset.targets: {t!r}: only pascal has sets (pascal/set_a, pascal/set_b)")
    from auscult import registry

    for paper in registry.REGISTRY.values():  # each paper's own rows, models and variants
        paper.check(config)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def digest(obj: Any, length: int = 8) -> str:
    """Short, stable content hash of a JSON-serialisable parameter slice."""
    return hashlib.sha1(canonical_json(obj).encode()).hexdigest()[:length]


if __name__ == "__main__":  # the composed schema, as JSON (see full_schema)
    print(json.dumps(full_schema(), indent=1, sort_keys=True))
