"""Model cards: everything needed to use a trained run folder without the workflow.

Every training job writes ``model_card.json`` beside ``model.pt``: the paper and variant,
the architecture config, the feature recipe with its parameters and digest, the training
dataset and its manifest hash, the decision rule (threshold chosen on validation, never on
test) with the validation metrics, the seed, the git commit and where the weights came
from. ``auscult predict`` / ``evaluate`` / ``info`` (auscult.cli) read it, and refuse a run
whose files no longer match their card (:func:`verify`), and a card that does not follow
:data:`SCHEMA` (required keys and their types); a card written by another auscult version
(``auscult_version``, ``card_format``, ``git_commit``) is named as such (:func:`origin`).

Only the standard library and the feature-store metadata are read here (no torch).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auscult import __version__
from auscult.atomic import write_json

CARD = "model_card.json"
CARD_FORMAT = 1
_NUMBER = (int, float)
# dotted key -> the types its value may have: the keys every card must hold ...
SCHEMA: dict[str, type | tuple[type, ...]] = {
    "card_format": int, "paper": str, "variant": str, "seed": int,
    "model": dict, "model.file": str, "model.sha256": str, "model.config": dict, "model.config.arch": str,
    "features": dict, "features.recipe": str, "features.params": dict, "features.params_sha256": str,
    "features.digest": str, "features.inputs": list,
    "decision": dict, "decision.kind": str,
}
# ... and those it may hold (None allowed where a run had nothing to record)
OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "auscult_version": str, "git_commit": (str, type(None)), "validation": dict, "training": dict,
    "training_data": dict, "weights": dict, "decision.threshold": (*_NUMBER, type(None)),
    "decision.thresholds": dict, "decision.rule": str,
}
# the threshold rule a card applies unless told otherwise: the one params.yaml uses
DEFAULT_RULE = "youden"


class CardError(ValueError):
    """A run folder whose card is missing, malformed or does not match its files."""

    def __init__(self, run_dir: str | Path, problem: str, file: str = ""):
        super().__init__(f"{Path(run_dir) / file if file else run_dir}: {problem}")
        self.run_dir, self.problem, self.file = str(run_dir), problem, file

    def __reduce__(self):  # picklable across process pools
        return (type(self), (self.run_dir, self.problem, self.file))


def params_sha256(params: Mapping) -> str:
    """Hash of a parameter mapping in canonical JSON (what the card pins a recipe by)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def feature_section(features_dir: str | Path, inputs: list[str] | tuple[str, ...]) -> dict:
    """The recipe a run was trained on, from its feature cache's meta.json and folder name."""
    features_dir = Path(features_dir)
    meta_path = features_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    digest = features_dir.name.rsplit("-", 1)[-1]
    params = meta.get("params", {})
    return {
        "recipe": meta.get("recipe", "unknown"),
        "params": params,
        "params_sha256": params_sha256(params),
        "digest": digest,
        "inputs": list(inputs),
        "arrays": meta.get("arrays", {}),
        "dataset": meta.get("dataset"),
        "manifest_sha256": meta.get("manifest_sha256"),
    }


def build_card(*, paper: str, variant: str, seed: int, model_cfg: Mapping, run_dir: str | Path,
               features_dir: str | Path, inputs, decision: Mapping, validation: Mapping,
               training: Mapping, weights: Mapping | None = None) -> dict:
    """A card for the run in ``run_dir`` (its model.pt must exist)."""
    from auscult.reporting.provenance import git_commit

    run_dir = Path(run_dir)
    feats = feature_section(features_dir, inputs)
    return {
        "card_format": CARD_FORMAT,
        "paper": paper,
        "variant": variant,
        "seed": int(seed),
        "model": {"file": "model.pt", "sha256": file_sha256(run_dir / "model.pt"), "config": dict(model_cfg)},
        "features": feats,
        "training_data": {"dataset": feats["dataset"], "manifest_sha256": feats["manifest_sha256"],
                          **{k: training[k] for k in ("n_train", "n_val") if k in training}},
        "decision": dict(decision),
        "validation": dict(validation),
        "training": {k: training[k] for k in ("best_epoch", "epochs_run", "monitor", "device_name")
                     if k in training},
        "weights": dict(weights or {"weights": "scratch", "weights_reason": "trained from random initialisation"}),
        "git_commit": git_commit(),
        "auscult_version": __version__,
    }


def write_card(run_dir: str | Path, card: Mapping) -> Path:
    path = Path(run_dir) / CARD
    write_json(path, card)
    return path


def origin(card: Mapping) -> str:
    """Which auscult wrote ``card``: 'written by auscult <v> at git <commit>', or, from another
    version, a phrase naming it (auscult version, card format, git commit, as far as recorded)."""
    version, fmt, commit = card.get("auscult_version"), card.get("card_format"), str(card.get("git_commit"))[:12]
    if is_this_version(card):
        return f"written by auscult {version} at git {commit}"
    what = [f"auscult {version}" if version else "an auscult version that did not record its number",
            f"card format {fmt}", f"git {commit}"]
    return f"written by another auscult version ({', '.join(what)}); this is auscult {__version__}, " \
           f"card format {CARD_FORMAT}"


def is_this_version(card: Mapping) -> bool:
    return card.get("auscult_version") == __version__ and card.get("card_format") == CARD_FORMAT


_MISSING = object()


def _lookup(card: Mapping, dotted: str):
    value = card
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _type_names(types: tuple[type, ...]) -> str:
    names = {"dict": "an object", "list": "a list", "str": "a string", "int": "an integer", "float": "a number",
             "NoneType": "null"}
    return " or ".join(dict.fromkeys(names.get(t.__name__, t.__name__) for t in types))


def schema_problems(card) -> list[str]:
    """What makes ``card`` not follow :data:`SCHEMA` / :data:`OPTIONAL` (empty if nothing)."""
    if not isinstance(card, Mapping):
        return [f"is a JSON {type(card).__name__}, not an object"]
    problems = []
    for key, types in (*SCHEMA.items(), *OPTIONAL.items()):
        parent = key.rpartition(".")[0]
        if parent and not isinstance(_lookup(card, parent), Mapping):
            continue  # reported at the parent
        value = _lookup(card, key)
        if value is _MISSING:
            problems += [f"lacks {key}"] if key in SCHEMA else []
            continue
        types = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            problems.append(f"{key} must be {_type_names(types)}, got {json.dumps(value)[:40]}")
    return problems


def read_card(run_dir: str | Path) -> dict:
    """The card of ``run_dir``, checked against :data:`SCHEMA` (CardError: one line)."""
    if not Path(run_dir).is_dir():
        raise CardError(run_dir, "no such folder" if not Path(run_dir).exists() else
                        "not a folder (a run folder holds model.pt and model_card.json)")
    path = Path(run_dir) / CARD
    if not path.is_file():
        raise CardError(run_dir, f"no {CARD} (not a training run folder, or written before model cards)")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CardError(run_dir, f"not valid JSON ({e})", CARD) from None
    problems = schema_problems(card)
    if problems:
        other = isinstance(card, Mapping) and not is_this_version(card)
        raise CardError(run_dir, f"does not follow the model card schema: {'; '.join(problems)}"
                                 + (f" ({origin(card)})" if other else ""), CARD)
    if card["card_format"] != CARD_FORMAT:
        raise CardError(run_dir, f"has format {card['card_format']}, this auscult reads {CARD_FORMAT} "
                                 f"({origin(card)})", CARD)
    return card


def verify(run_dir: str | Path) -> dict:
    """The card of ``run_dir`` after checking that model.pt and the recipe match it."""
    card = read_card(run_dir)
    model = Path(run_dir) / card["model"]["file"]
    if not model.is_file():
        raise CardError(run_dir, f"missing (the weights {CARD} names)", card["model"]["file"])
    if file_sha256(model) != card["model"]["sha256"]:
        raise CardError(run_dir, "does not match its card (sha256 differs): the weights were replaced after "
                                 "training", card["model"]["file"])
    if params_sha256(card["features"]["params"]) != card["features"]["params_sha256"]:
        raise CardError(run_dir, "the feature recipe parameters do not match their recorded hash", CARD)
    return card


def summary_lines(card: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for ``auscult info``."""
    d, f, v = card["decision"], card["features"], card.get("validation", {})
    val = ", ".join(f"{k} {v[k]:.3f}" for k in ("auc", "sensitivity", "specificity", "mcc")
                    if isinstance(v.get(k), (int, float)))
    return [
        f"paper / variant : {card['paper']} / {card['variant']} (seed {card.get('seed')})",
        f"architecture    : {card['model']['config'].get('arch')}  ({card['model']['file']}, "
        f"sha256 {card['model']['sha256'][:12]}…)",
        f"features        : recipe {f['recipe']} (digest {f['digest']}), inputs {', '.join(f['inputs'])}, "
        f"{f['params'].get('sample_rate')} Hz",
        f"trained on      : {card.get('training_data', {}).get('dataset')} "
        f"(manifest {str(card.get('training_data', {}).get('manifest_sha256'))[:12]}…)",
        f"decision        : {d.get('kind')} at threshold {d.get('threshold')} ({d.get('rule')}, "
        f"chosen on {d.get('chosen_on')})",
        f"validation      : {val or '–'}",
        f"weights         : {card.get('weights', {}).get('weights')}   git {card.get('git_commit')}",
    ]
