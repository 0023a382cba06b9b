"""Model cards: everything needed to use a trained run folder without the workflow.

Every training job writes ``model_card.json`` beside ``model.pt``: the paper and variant,
the architecture config, the feature recipe with its parameters and digest, the training
dataset and its manifest hash, the decision rule (threshold chosen on validation, never on
test) with the validation metrics, the seed, the git commit and where the weights came
from. ``auscult predict`` / ``evaluate`` / ``info`` (auscult.cli) read it, and refuse a run
whose files no longer match their card (:func:`verify`).

Only the standard library and the feature-store metadata are read here (no torch).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auscult.atomic import write_json

CARD = "model_card.json"
CARD_FORMAT = 1
# the threshold rule a card applies unless told otherwise: the one params.yaml uses
DEFAULT_RULE = "youden"


class CardError(ValueError):
    """A run folder whose card is missing, malformed or does not match its files."""

    def __init__(self, run_dir: str | Path, problem: str):
        super().__init__(f"{run_dir}: {problem}")
        self.run_dir, self.problem = str(run_dir), problem

    def __reduce__(self):  # picklable across process pools
        return (type(self), (self.run_dir, self.problem))


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
    }


def write_card(run_dir: str | Path, card: Mapping) -> Path:
    path = Path(run_dir) / CARD
    write_json(path, card)
    return path


def read_card(run_dir: str | Path) -> dict:
    path = Path(run_dir) / CARD
    if not path.is_file():
        raise CardError(run_dir, f"no {CARD} (not a training run folder, or written before model cards)")
    try:
        card = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CardError(run_dir, f"{CARD} is not valid JSON ({e})") from None
    missing = {"card_format", "paper", "variant", "model", "features", "decision"} - set(card)
    if missing:
        raise CardError(run_dir, f"{CARD} lacks {sorted(missing)}")
    if card["card_format"] != CARD_FORMAT:
        raise CardError(run_dir, f"{CARD} has format {card['card_format']}, this auscult reads {CARD_FORMAT}")
    return card


def verify(run_dir: str | Path) -> dict:
    """The card of ``run_dir`` after checking that model.pt and the recipe match it."""
    card = read_card(run_dir)
    model = Path(run_dir) / card["model"]["file"]
    if not model.is_file():
        raise CardError(run_dir, f"{card['model']['file']} is missing")
    if file_sha256(model) != card["model"]["sha256"]:
        raise CardError(run_dir, f"{card['model']['file']} does not match its card (sha256 differs): "
                                 "the weights were replaced after training")
    if params_sha256(card["features"]["params"]) != card["features"]["params_sha256"]:
        raise CardError(run_dir, "the card's feature recipe parameters do not match their recorded hash")
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
