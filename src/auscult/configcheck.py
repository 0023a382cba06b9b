"""Closed-config checks against the one params schema (no hidden defaults, no second key list).

The modules that take a config (models, feature recipes, trainers, splits) check it against
the composed params schema as committed in ``auscult/schemas/params.schema.json``
(``python -m auscult.params`` writes it from ``params.schema.yaml`` and each paper's
``schema.yaml``; a test keeps it in sync): ``check(what, cfg, "cnn14_config")`` checks
``cfg`` against ``$defs/cnn14_config``, ``check(what, cfg, "ast_sam.split")`` against a
dotted path into ``properties``. A module keeps only the rules a JSON schema cannot state
(cross-field rules such as ``fmin < fmax <= sample_rate / 2``).

Standard library only (training runs import this; no jsonschema, no yaml): just the
keywords the params schema uses are implemented (type, enum, const, minimum, maximum,
exclusiveMinimum, exclusiveMaximum, required, properties, additionalProperties,
propertyNames, minProperties, items, minItems, maxItems, uniqueItems, pattern, oneOf,
anyOf, allOf, not, if/then/else, $ref); an unknown keyword is an error, so the schema cannot
outgrow this checker silently. The first violation is raised, as one line naming the config,
the key path and the problem: ``KeyError`` for a missing key, ``ValueError`` otherwise.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from typing import Any

SCHEMA_RESOURCE = ("auscult.schemas", "params.schema.json")
TOP = "<top level>"
# keywords that carry no constraint
_ANNOTATIONS = {"$schema", "title", "description", "$comment", "$defs"}
_KNOWN = _ANNOTATIONS | {
    "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "required",
    "properties", "additionalProperties", "propertyNames", "minProperties", "items", "minItems", "maxItems",
    "uniqueItems", "pattern", "oneOf", "anyOf", "allOf", "not", "if", "then", "else", "$ref",
}


def check_keys(what: str, section: str, got: Any, required: set[str]) -> None:
    """Raise KeyError for missing and ValueError for unknown keys of ``section``, naming them
    (for a mapping that is no params setting, e.g. a job's slice of them)."""
    if not isinstance(got, Mapping):
        raise ValueError(f"{what}: '{section}' must be a mapping, got {type(got).__name__}")
    missing = sorted(required - set(got))
    unknown = sorted(set(got) - required)
    if missing:
        raise KeyError(f"{what}: missing key(s) in '{section}': {missing}")
    if unknown:
        raise ValueError(f"{what}: unknown key(s) in '{section}': {unknown}; allowed: {sorted(required)}")


# --------------------------------------------------------------------------- the schema
@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The composed params schema shipped in the package (read once)."""
    from importlib.resources import files

    text = files(SCHEMA_RESOURCE[0]).joinpath(SCHEMA_RESOURCE[1]).read_text(encoding="utf-8")
    return json.loads(text)


def _resolve(sch: Any) -> Any:
    seen = 0
    while isinstance(sch, Mapping) and "$ref" in sch:
        ref = sch["$ref"]
        if not ref.startswith("#/$defs/") or seen > 20:
            raise ValueError(f"params schema: unsupported $ref {ref!r}")
        sch, seen = schema()["$defs"][ref[len("#/$defs/"):]], seen + 1
    return sch


def definition(name: str) -> dict:
    """``$defs/<name>``, else the schema of a dotted key path from the top (``ast_sam.split``)."""
    defs = schema().get("$defs", {})
    if name in defs:
        return defs[name]
    sch: Any = schema()
    for part in name.split("."):
        props = _resolve(sch).get("properties", {})
        if part not in props:
            raise KeyError(f"params schema has no $defs/{name} and no key path {name!r}")
        sch = props[part]
    return _resolve(sch)


def check(what: str, cfg: Any, name: str) -> None:
    """Check ``cfg`` against the schema ``name`` (a ``$defs`` entry or a dotted key path);
    raise KeyError (a missing key) or ValueError (anything else), prefixed with ``what``."""
    err = _first_error(cfg, definition(name), ())
    if err is not None:
        exc, msg = err
        raise exc(f"{what}: {msg}")


# --------------------------------------------------------------------------- validation
class _Invalid(Exception):
    def __init__(self, exc: type[Exception], msg: str) -> None:
        super().__init__(msg)
        self.exc, self.msg = exc, msg


def _first_error(inst: Any, sch: Any, path: tuple) -> tuple[type[Exception], str] | None:
    try:
        _validate(inst, sch, path)
    except _Invalid as e:
        return e.exc, e.msg
    return None


def _where(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or TOP


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, Mapping),
}
_TYPE_WORDS = {"null": "null", "boolean": "true or false", "integer": "an integer", "number": "a number",
               "string": "a string", "array": "a list", "object": "a mapping"}


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 equals 1.0, lists and mappings compare by items."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _describe(sch: Mapping) -> str:
    """'an integer >= 1', 'a number > 0 and < 1': the type and bounds of a scalar schema."""
    types = sch.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    word = " or ".join(_TYPE_WORDS.get(t, t) for t in types) or "a number"
    bounds = [f"{op} {sch[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                             ("maximum", "<="), ("exclusiveMaximum", "<")) if k in sch]
    return word + (" " + " and ".join(bounds) if bounds else "")


def _validate(inst: Any, sch: Any, path: tuple) -> None:
    if sch is True or sch == {}:
        return
    if sch is False:
        raise _Invalid(ValueError, f"{_where(path)} is not allowed")
    unknown = set(sch) - _KNOWN
    if unknown:
        raise _Invalid(ValueError, f"params schema at {_where(path)} uses unsupported keyword(s) {sorted(unknown)}")
    if "$ref" in sch:
        _validate(inst, _resolve({"$ref": sch["$ref"]}), path)
    where = _where(path)
    if "type" in sch:
        types = [sch["type"]] if isinstance(sch["type"], str) else sch["type"]
        if not any(_TYPES[t](inst) for t in types):
            if "object" in types:
                raise _Invalid(ValueError, f"'{where}' must be a mapping, got {type(inst).__name__}")
            raise _Invalid(ValueError, f"{where} must be {_describe(sch)}, got {inst!r}")
    if "const" in sch and not _same(inst, sch["const"]):
        raise _Invalid(ValueError, f"{where} must be {sch['const']!r}, got {inst!r}")
    if "enum" in sch and not any(_same(inst, e) for e in sch["enum"]):
        raise _Invalid(ValueError, f"{where} must be one of {sch['enum']}, got {inst!r}")
    if _is_number(inst):
        for k, ok in (("minimum", lambda v, b: v >= b), ("exclusiveMinimum", lambda v, b: v > b),
                      ("maximum", lambda v, b: v <= b), ("exclusiveMaximum", lambda v, b: v < b)):
            if k in sch and not ok(inst, sch[k]):
                raise _Invalid(ValueError, f"{where} must be {_describe({'type': 'number', **sch})}, got {inst!r}")
    if isinstance(inst, str) and "pattern" in sch and not re.search(sch["pattern"], inst):
        raise _Invalid(ValueError, f"{where} must match {sch['pattern']!r}, got {inst!r}")
    if isinstance(inst, (list, tuple)):
        _validate_array(inst, sch, path)
    if isinstance(inst, Mapping):
        _validate_object(inst, sch, path)
    for k in ("oneOf", "anyOf"):
        if k in sch:
            _validate_choice(inst, sch[k], path, exactly_one=k == "oneOf")
    for sub in sch.get("allOf", ()):
        _validate(inst, sub, path)
    if "not" in sch and _first_error(inst, sch["not"], path) is None:
        banned = sch["not"].get("required") if isinstance(sch["not"], Mapping) else None
        if banned and set(sch["not"]) == {"required"}:
            raise _Invalid(ValueError, f"key(s) {banned} not allowed in '{where}' here")
        raise _Invalid(ValueError, f"{where} must not match {sch['not']}")
    if "if" in sch:
        branch = "then" if _first_error(inst, sch["if"], path) is None else "else"
        if branch in sch:
            _validate(inst, sch[branch], path)


def _validate_array(inst, sch: Mapping, path: tuple) -> None:
    where = _where(path)
    if "minItems" in sch and len(inst) < sch["minItems"]:
        raise _Invalid(ValueError, f"{where} must have at least {sch['minItems']} item(s), got {list(inst)!r}")
    if "maxItems" in sch and len(inst) > sch["maxItems"]:
        raise _Invalid(ValueError, f"{where} must have at most {sch['maxItems']} item(s), got {list(inst)!r}")
    if sch.get("uniqueItems") and any(_same(a, b) for i, a in enumerate(inst) for b in inst[i + 1:]):
        raise _Invalid(ValueError, f"{where} must not repeat items, got {list(inst)!r}")
    if "items" in sch:
        for i, item in enumerate(inst):
            _validate(item, sch["items"], (*path, i))


def _validate_object(inst: Mapping, sch: Mapping, path: tuple) -> None:
    where = _where(path)
    missing = [k for k in sch.get("required", ()) if k not in inst]
    if missing:
        raise _Invalid(KeyError, f"missing key(s) in '{where}': {missing}")
    props = sch.get("properties", {})
    extra = sorted((k for k in inst if k not in props), key=str)
    more = sch.get("additionalProperties", True)
    if extra and more is False:
        raise _Invalid(ValueError, f"unknown key(s) in '{where}': {extra}; allowed: {sorted(props)}")
    if "minProperties" in sch and len(inst) < sch["minProperties"]:
        raise _Invalid(ValueError, f"'{where}' needs at least {sch['minProperties']} key(s), got {len(inst)}")
    if "propertyNames" in sch:
        for k in inst:
            err = _first_error(k, sch["propertyNames"], (*path, k))
            if err is not None:
                raise _Invalid(ValueError, f"key {k!r} in '{where}': {err[1]}")
    for k, sub in props.items():
        if k in inst:
            _validate(inst[k], sub, (*path, k))
    if isinstance(more, Mapping):
        for k in extra:
            _validate(inst[k], more, (*path, k))


def _plausible(inst: Any, sch: Any) -> bool:
    """Whether a oneOf/anyOf branch is the one ``inst`` was meant for: its type fits, and a
    mapping agrees with the branch's constant keys (``arch: cnn14``)."""
    sch = _resolve(sch)
    if not isinstance(sch, Mapping):
        return True
    types = sch.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](inst) or (t == "number" and _TYPES["integer"](inst)) for t in types):
            return False
    if isinstance(inst, Mapping):
        for k, sub in sch.get("properties", {}).items():
            sub = _resolve(sub)
            if isinstance(sub, Mapping) and "const" in sub and k in inst and not _same(inst[k], sub["const"]):
                return False
    return True


def _validate_choice(inst: Any, branches: list, path: tuple, *, exactly_one: bool) -> None:
    errors = [_first_error(inst, b, path) for b in branches]
    ok = sum(e is None for e in errors)
    if ok == 1 or (ok > 1 and not exactly_one):
        return
    where = _where(path)
    if ok > 1:
        raise _Invalid(ValueError, f"{where} matches more than one of its alternatives, got {inst!r}")
    meant = [e for b, e in zip(branches, errors, strict=True) if _plausible(inst, b)]
    if len(meant) == 1:  # the one alternative of the value's kind: its own error
        raise _Invalid(*meant[0])
    kinds = []
    for b in branches:
        b = _resolve(b)
        kinds.append(_describe(b) if isinstance(b, Mapping) and "type" in b and b["type"] != "object"
                     else "a mapping" if isinstance(b, Mapping) and b.get("type") == "object" else str(b))
    raise _Invalid(ValueError, f"{where} must be {' or '.join(kinds)}, got {inst!r}")
