"""Load, merge, validate and digest experiment parameters.

``params.yaml`` is the single source of truth; overlays (``config/demo.yaml``,
``config/quick.yaml``) are deep-merged on top, exactly as ``snakemake --configfile`` does.
The merged result is validated against the schema shipped in the package,
``src/auscult/schemas/params.schema.yaml`` (closed objects, every key required; read with
``importlib.resources``, so it works from any installed copy), so a typo fails before any
job runs, naming the key.

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


def validate(config: Mapping, schema_path: str | Path | None = None) -> None:
    """Raise ParamsError listing every schema violation with its dotted key path."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text() if schema_path else schema_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_key(e)}: {_explain(e)}" for e in errors]
        raise ParamsError("invalid parameters:\n" + "\n".join(lines))
    _check_cross_references(config)


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
    unknown = [m for m in (cd.get("koike_models") or []) if m not in config.get("koike", {}).get("models", {})]
    if unknown:
        raise ParamsError(f"cross_dataset.koike_models: unknown model(s) {unknown}; defined in koike.models: "
                          f"{sorted(config.get('koike', {}).get('models', {}))}")
    asm = config.get("ast_sam", {})
    for table, rows in asm.get("tables", {}).items():
        unknown = [r for r in rows if r not in asm.get("variants", {})]
        if unknown:
            raise ParamsError(f"ast_sam.tables.{table}: unknown variant(s) {unknown}; "
                              f"defined in ast_sam.variants: {sorted(asm.get('variants', {}))}")
    kk = config.get("koike", {})
    for table, rows in kk.get("tables", {}).items():
        unknown = [r for r in rows if r not in kk.get("models", {})]
        if unknown:
            raise ParamsError(
                f"koike.tables.{table}: unknown model(s) {unknown}; "
                f"defined in koike.models: {sorted(kk.get('models', {}))}"
            )
    for name, m in kk.get("models", {}).items():
        if m.get("config", {}).get("arch") == "cnn14" and m.get("inputs") != ["logmel"]:
            raise ParamsError(f"koike.models.{name}.inputs: CNN14 computes its own log-mel from "
                              f"the waveform; its inputs must be [logmel], got {m.get('inputs')}")
    af = config.get("audiofuse", {})
    variants = set(af.get("variants", {}))
    for table, rows in af.get("tables", {}).items():
        unknown = [r for r in rows if r not in variants]
        if unknown:
            raise ParamsError(
                f"audiofuse.tables.{table}: unknown variant(s) {unknown}; "
                f"defined in audiofuse.variants: {sorted(variants)}"
            )
    # The reference floor's results sit beside the variants' (results/audiofuse/floor, runs/koike/floor).
    for taken, what in ((variants, "audiofuse.variants"), (set(kk.get("models", {})), "koike.models")):
        if "floor" in taken:
            raise ParamsError(f"{what}: the name 'floor' is reserved for the reference floor")
    # The depth x heads ablation needs a ViT branch in every row.
    for v in af.get("tables", {}).get("t3_vit_ablation", []):
        if v in variants and "spec" not in model_config(af, v)["branches"]:
            raise ParamsError(
                f"audiofuse.tables.t3_vit_ablation: variant {v!r} has no ViT ('spec') branch"
            )


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def digest(obj: Any, length: int = 8) -> str:
    """Short, stable content hash of a JSON-serialisable parameter slice."""
    return hashlib.sha1(canonical_json(obj).encode()).hexdigest()[:length]


# model sections that only matter when the named branch is used
BRANCH_SECTIONS = {"spec": "vit", "wave": "wave_cnn"}


def model_config(paper_cfg: Mapping, variant: str) -> dict:
    """The model config of one variant: ``model`` with the variant's overrides merged.

    Sections of unused branches are dropped, so that (for example) a change to the wave
    CNN changes the ViT-only variant's digest not at all and never retrains it.
    """
    try:
        overrides = paper_cfg["variants"][variant]
    except KeyError:
        raise ParamsError(f"unknown variant {variant!r}; defined: {sorted(paper_cfg['variants'])}") from None
    # `training` and `seeds` in a variant override its schedule, not its model (layout.train_slice, layout.seeds)
    cfg = deep_merge(paper_cfg["model"], {k: v for k, v in (overrides or {}).items() if k not in ("training", "seeds")})
    for branch, section in BRANCH_SECTIONS.items():
        if branch not in cfg["branches"]:
            cfg.pop(section, None)
    return cfg


def koike_variants(paper_cfg: Mapping) -> dict[str, tuple[str, str]]:
    """Koike variants ``<model>_<input>`` -> (model, input), in params order."""
    return {f"{m}_{inp}": (m, inp) for m, spec in paper_cfg["models"].items() for inp in spec["inputs"]}


def koike_model_config(paper_cfg: Mapping, variant: str) -> dict:
    """The model config of one Koike variant: the model's config plus the input it reads
    (ImageNet networks; CNN14 always reads the waveform and computes its own log-mel)."""
    try:
        model, inp = koike_variants(paper_cfg)[variant]
    except KeyError:
        raise ParamsError(f"unknown koike variant {variant!r}; defined: "
                          f"{sorted(koike_variants(paper_cfg))}") from None
    cfg = dict(paper_cfg["models"][model]["config"])
    if cfg["arch"] == "imagenet":
        cfg["input"] = inp
    return cfg
