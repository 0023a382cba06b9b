"""Model cards: everything needed to use a trained run folder without the workflow.

Every training job writes ``model_card.json`` beside ``model.pt``: the paper and variant,
the architecture config, the feature recipe with its parameters and digest, the training
dataset and its manifest hash, the decision rule (threshold chosen on validation, never on
test) with the validation metrics, the seed, the git commit and where the weights came
from. ``auscult predict`` / ``evaluate`` / ``info`` (auscult.cli) read it, and refuse a run
whose files no longer match their card (:func:`verify`), and a card that does not follow
:data:`SCHEMA` (required keys and their types); a card written by another auscult version
(``auscult_version``, ``card_format``, ``git_commit``) is named as such (:func:`origin`).

Card format 2 adds what a reviewer needs to know about a released model
(docs/model-cards.md): ``data`` (real or synthetic, with counts), ``budget``, ``software``
(auscult, torch and Python versions), ``intended_use`` (research only, not a medical device),
``limitations`` and ``licence``; test metrics are merged from the evaluation's result folder
(:func:`with_test`), except Koike's, which its training job scores itself. A card of format 1
still loads; :func:`missing_release_fields` names what it lacks. :func:`render_readme` writes
the Hugging Face-style ``README.md`` (YAML front matter + Markdown) that ``auscult export``
puts beside the card.

Only the standard library and the feature-store metadata are read here (no torch).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auscult._version import DISTRIBUTION, __version__
from auscult.atomic import write_json

CARD = "model_card.json"
CARD_FORMAT = 2
# formats this auscult reads: 1 (before the release fields) and 2
READABLE_FORMATS = (1, 2)
CODE_LICENCE = "MIT"
INTENDED_USE = ("Research only: for reproducing and studying the cited paper's experiments. Not a medical "
                "device; not for diagnosis, screening or any clinical decision.")
# the sections card format 2 adds (docs/model-cards.md)
RELEASE_FIELDS = ("data", "budget", "software", "intended_use", "limitations", "licence")
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
    "decision.thresholds": dict, "decision.rule": str, "decision.classes": list,
    # card format 2 (all optional: a format-1 card has none of them)
    "data": dict, "data.dataset": (str, type(None)), "data.kind": str, "data.n_synthetic": (int, type(None)),
    "budget": dict, "budget.name": (str, type(None)),
    "software": dict, "software.auscult": str, "software.torch": (str, type(None)), "software.python": str,
    "intended_use": str, "limitations": list, "licence": dict, "licence.model": str,
    "test": dict, "test.protocols": dict, "exported_from": dict,
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
               training: Mapping, weights: Mapping | None = None, context: Mapping | None = None,
               test: Mapping | None = None) -> dict:
    """A card for the run in ``run_dir`` (its model.pt must exist).

    ``context`` is what the training job knows of the workflow configuration
    (:func:`release_context`: budget, data source, maximum epochs, seeds); without it (a run
    started from the library) those fields say ``null``. ``test``: a test section
    (:func:`test_section_from_metrics`) when the training job scores the test part itself."""
    from auscult.reporting.provenance import git_commit

    run_dir = Path(run_dir)
    feats = feature_section(features_dir, inputs)
    weights = dict(weights or {"weights": "scratch", "weights_reason": "trained from random initialisation"})
    context = dict(context or {})
    card = {
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
        "weights": weights,
        "git_commit": git_commit(),
        "auscult_version": __version__,
    }
    card["data"] = data_section(context, feats, training, features_dir)
    card["budget"] = budget_section(context, training)
    card["software"] = software_section(card["git_commit"])
    card["intended_use"] = INTENDED_USE
    card["licence"] = licence_section(weights, card["data"])
    if test:
        card["test"] = dict(test)
    card["limitations"] = limitations(card)
    return card


# --------------------------------------------------------------------------- release fields
def release_context(config: Mapping, paper: str, variant: str) -> dict:
    """What a training job's card takes from the workflow configuration: the budget name,
    the training dataset and its source (``synthetic`` / ``canonical``; the generator's
    parameters for synthetic data), its raw folder (whose ``ACQUIRED.json`` counts any
    synthesised audio), the variant's maximum epochs and the seeds the tables average."""
    from auscult import layout

    ds = config[paper]["train_dataset"]
    dcfg = config["datasets"][ds]
    ts = layout.train_slice(config, paper, variant)
    training = ts.get("training", {})
    try:
        seeds = [int(s) for s in layout.seeds(config, paper, variant)]
    except (KeyError, TypeError, ValueError):
        seeds = None
    return {
        "budget": config.get("budget"),
        "dataset": ds,
        "source": dcfg.get("source"),
        "generator": dcfg.get("synthetic") if dcfg.get("source") == "synthetic" else None,
        "missing_audio": dcfg.get("missing_audio"),
        "raw_dir": layout.raw_dir(config, ds),
        "max_epochs": training.get("max_epochs", training.get("epochs")),
        "seeds": seeds,
    }


def _index_counts(features_dir: str | Path | None) -> tuple[int | None, int | None]:
    """(rows, recordings) of a feature cache's index.csv (recordings: its ``recording``
    column where rows are segments, e.g. ICBHI cycles), or (None, None) without one."""
    import csv

    path = Path(features_dir) / "index.csv" if features_dir is not None else None
    if path is None or not path.is_file():
        return None, None
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    recordings = {r.get("recording") or r.get("record_id") for r in rows}
    return len(rows), len(recordings)


def data_section(context: Mapping, feats: Mapping, training: Mapping,
                 features_dir: str | Path | None = None) -> dict:
    """Real or synthetic, and how much: ``kind`` is ``synthetic`` (every recording generated by
    ``auscult.datasets.synthetic``), ``synthetic audio on real annotations`` (ICBHI whose
    missing audio was synthesised), ``real`` or ``unknown`` (no context: a library run)."""
    source = context.get("source")
    n_rows, n_recordings = _index_counts(features_dir)
    acquired = None  # the raw folder's record (None: not readable from this job)
    if source == "canonical" and context.get("raw_dir"):
        try:
            acquired = json.loads((Path(context["raw_dir"]) / "ACQUIRED.json").read_text())
        except (OSError, ValueError):
            acquired = None
    synthesised = (acquired or {}).get("synthesised_audio") or {}
    note = None
    if source == "synthetic":
        kind, n_synthetic = "synthetic", n_recordings
    elif source == "canonical" and synthesised.get("synthesised"):
        kind, n_synthetic = "synthetic audio on real annotations", int(synthesised["synthesised"])
    elif source == "canonical" and context.get("missing_audio") == "synthesise" and acquired is None:
        # missing audio may have been synthesised, but the raw folder's count is not readable here
        kind, n_synthetic = "unknown", None
        note = (f"missing_audio: synthesise, and {context['raw_dir']}/ACQUIRED.json (which counts the "
                "synthesised recordings) was not readable by the training job")
    elif source == "canonical":
        kind, n_synthetic = "real", 0
    else:
        kind, n_synthetic = "unknown", None
    return {
        "dataset": feats.get("dataset") or context.get("dataset"),
        "kind": kind,
        "source": source,
        "generator": context.get("generator"),
        "n_recordings": n_recordings,
        "n_rows": n_rows,
        "n_synthetic": n_synthetic,
        **{k: int(training[k]) for k in ("n_train", "n_val", "n_dev", "n_test") if isinstance(training.get(k), int)},
        "manifest_sha256": feats.get("manifest_sha256"),
        **({"note": note} if note else {}),
    }


def budget_banner(budget: str | None) -> str | None:
    """The sentence every table below the paper budget carries (auscult.reporting.tables)."""
    if budget in (None, "paper"):
        return None
    return f"Pipeline check at budget {budget}, not a reproduction."


def budget_section(context: Mapping, training: Mapping) -> dict:
    name = context.get("budget")
    return {"name": name, "max_epochs": context.get("max_epochs"), "epochs_run": training.get("epochs_run"),
            "seeds": context.get("seeds"), "note": budget_banner(name)}


def torch_version() -> str | None:
    """``torch.__version__`` when torch is loaded (a training job), else the installed one."""
    import sys
    from importlib.metadata import PackageNotFoundError, version

    if "torch" in sys.modules:
        return str(sys.modules["torch"].__version__)
    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def software_section(commit: str | None = None) -> dict:
    import platform

    lock = Path(__file__).resolve().parents[2] / "requirements.lock"  # a source checkout only
    return {"auscult": __version__, "distribution": DISTRIBUTION, "torch": torch_version(),
            "python": platform.python_version(), "git_commit": commit,
            "requirements_lock_sha256": file_sha256(lock) if lock.is_file() else None}


def weights_licence(weights: Mapping) -> str | None:
    """The licence of the checkpoint a run started from (auscult.models.weights), or None
    for a run from random initialisation."""
    if weights.get("weights") != "pretrained":
        return None
    name = weights.get("weights_name")
    if not name:
        return "unknown: the card does not name the checkpoint"
    from auscult.models.weights import WEIGHTS  # torch: a training job has it loaded already

    spec = WEIGHTS.get(name)
    return spec.license if spec is not None and spec.license else f"unknown (checkpoint {name})"


def licence_section(weights: Mapping, data: Mapping) -> dict:
    """The code's licence, the initial weights' and the training data's terms, and what that
    makes of the model (the most restrictive, never a guess about a dataset's terms)."""
    initial = weights_licence(weights)
    synthetic = data.get("kind") == "synthetic"
    data_terms = ("synthetic recordings generated by auscult (MIT)" if synthetic
                  else f"see the dataset's terms ({data.get('dataset')})")
    parts = [initial] if initial else [CODE_LICENCE]
    if not synthetic:
        parts.append(f"the terms of the training data ({data.get('dataset')})")
    return {"code": f"{CODE_LICENCE} (auscult, LICENSE)", "initial_weights": initial, "data": data_terms,
            "model": " plus ".join(parts)}


def limitations(card: Mapping) -> list[str]:
    """What a reader must know before trusting a number of this card (docs/model-cards.md)."""
    out = []
    budget = (card.get("budget") or {}).get("name")
    if budget_banner(budget):
        out.append(f"{budget_banner(budget)} Models and epochs are cut down; numbers check the pipeline, "
                   "they do not reproduce the paper's.")
    elif budget is None:
        out.append("Budget not recorded (a run started outside the workflow).")
    data = card.get("data") or {}
    if data.get("kind") == "synthetic":
        out.append(f"Synthetic data: all {data.get('n_recordings') or '?'} recordings were generated by "
                   "auscult.datasets.synthetic; the metrics say nothing about real recordings.")
    elif data.get("kind") == "synthetic audio on real annotations":
        out.append(f"{data.get('n_synthetic')} recording(s) have synthetic audio placed on the real annotations "
                   "(missing_audio: synthesise); their cycles are not real lung sounds.")
    elif data.get("kind") == "unknown":
        out.append("Data source not recorded (real or synthetic)" + (f": {data['note']}" if data.get("note") else "")
                   + "; check the run's dataset before use.")
    if data.get("dataset") == "physionet2016" and data.get("kind") == "real":
        out.append("PhysioNet 2016 is split by recording (it has no patient ids): a subject may be on both "
                   "sides of a split.")
        out.append("The PhysioNet 2016 test list is reconstructed (297 names from a public copy, 4 inferred).")
    weights = card.get("weights") or {}
    if weights.get("weights") == "scratch" and (_paper_attr(card.get("paper"), "PRETRAINED", False)
                                                or weights.get("weights_requested") not in (None, "scratch")):
        out.append("Trained from random initialisation where the paper fine-tuned pretrained weights"
                   + (f" ({weights['weights_reason']})" if weights.get("weights_reason") else "") + ".")
    out.append(f"One training seed ({card.get('seed')}): no spread between seeds is estimable from this model.")
    v = card.get("validation") or {}
    if all(isinstance(v.get(k), int) for k in ("tp", "fp", "tn", "fn")) and \
            (v["tp"] + v["fp"] == 0 or v["tn"] + v["fn"] == 0):
        out.append("Degenerate on validation: the model puts every validation recording on the same side of "
                   "its threshold (a constant predictor).")
    if any(name.startswith("pascal") for name in ((card.get("test") or {}).get("protocols") or {})):
        out.append("PASCAL test numbers: its sets A and B differ in recording device and sample rate, which a "
                   "model can pick up instead of the heart sound.")
    if (card.get("decision") or {}).get("kind") == "binary":
        out.append("Binary normal/abnormal only; the threshold was chosen on a small validation split.")
    return out


def missing_release_fields(card: Mapping) -> list[str]:
    """The card-format-2 sections ``card`` lacks (all of them for a format-1 card)."""
    return [k for k in RELEASE_FIELDS if k not in card]


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
    if card["card_format"] not in READABLE_FORMATS:
        raise CardError(run_dir, f"has format {card['card_format']}, this auscult reads formats "
                                 f"{', '.join(map(str, READABLE_FORMATS))} ({origin(card)})", CARD)
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


# --------------------------------------------------------------------------- test metrics
METRICS_FILE = "metrics.json"


def _is_validation(name: str) -> bool:
    base = name.split("@", 1)[0]
    return base in ("val", "dev") or base.endswith(("_val", "_dev"))


def _protocols(metrics: Mapping) -> dict:
    """The test parts of an evaluation's metrics.json: every entry holding a metric set with
    its record count ``n`` (binary_metrics / icbhi_metrics), validation ones left out."""
    return {k: dict(v) for k, v in metrics.items()
            if isinstance(v, Mapping) and isinstance(v.get("n"), int) and not _is_validation(k)}


def test_section_from_metrics(metrics: Mapping, source: str, evaluated_by: str, sha256: str | None = None) -> dict:
    """A card's ``test`` section: each protocol's metrics with its ``n`` (and threshold, for
    binary ones), and the file (with its sha256) they come from."""
    out = {"source": source, "evaluated_by": evaluated_by, "protocols": _protocols(metrics)}
    if sha256:
        out["metrics_sha256"] = sha256
    if isinstance(metrics.get("threshold"), Mapping):
        out["threshold"] = dict(metrics["threshold"])
    return out


def _same_training(run_dir: Path, result: Path, metrics: Mapping) -> str | None:
    """Why ``metrics`` (an evaluation's metrics.json) is not of the run in ``run_dir``, or None.
    Every evaluation job copies (part of) the run's train_summary.json into its metrics."""
    summary_path = run_dir / "train_summary.json"
    recorded = metrics.get("train")
    if not isinstance(recorded, Mapping) or not summary_path.is_file():
        return f"cannot tell which training run it evaluated (no 'train' section, or no {summary_path.name})"
    summary = json.loads(summary_path.read_text())
    differ = [k for k, v in recorded.items() if k in summary and summary[k] != v]
    if differ:
        return (f"evaluated another training run than {run_dir} (its train summary differs in "
                f"{', '.join(differ[:3])})")
    if "seed" in metrics and "seed" in summary and metrics["seed"] != summary["seed"]:
        return f"evaluated seed {metrics['seed']}, the run is seed {summary['seed']}"
    return None


def test_section(run_dir: str | Path, result_dir: str | Path) -> dict:
    """The test section of ``run_dir``'s card from an evaluation job's result folder
    (``results/<paper>/<variant>/<d>/seed<k>/metrics.json``); a CardError if that folder
    holds no metrics.json or evaluated another run."""
    run_dir, result = Path(run_dir), Path(result_dir)
    path = result / METRICS_FILE if result.is_dir() else result
    if not path.is_file():
        raise CardError(result, f"no {METRICS_FILE} (not an evaluation result folder)")
    try:
        metrics = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CardError(path, f"not valid JSON ({e})") from None
    why = _same_training(run_dir, path.parent, metrics)
    if why:
        raise CardError(path, why)
    return test_section_from_metrics(metrics, str(path), "evaluation job", file_sha256(path))


def find_results(run_dir: str | Path) -> list[Path]:
    """Result folders of ``run_dir`` in the workflow layout: ``runs/<paper>/<variant>/<d>/seed<k>``
    -> ``results/<paper>/<variant>/*/seed<k>`` whose metrics.json evaluated this very run."""
    run_dir = Path(run_dir).resolve()
    parts = run_dir.parts
    if "runs" not in parts:
        return []
    i = len(parts) - 1 - parts[::-1].index("runs")
    rel = parts[i + 1:]
    if len(rel) < 3:
        return []
    base = Path(*parts[:i], "results", *rel[:-2])
    found = []
    for cand in sorted(base.glob(f"*/{rel[-1]}/{METRICS_FILE}")):
        try:
            ok = _same_training(run_dir, cand.parent, json.loads(cand.read_text())) is None
        except (OSError, ValueError):
            ok = False
        if ok:
            found.append(cand.parent)
    return found


def with_test(card: Mapping, run_dir: str | Path, results: str | Path | None = None) -> dict:
    """``card`` with its test section: from ``results`` when given, else from the one result
    folder of the workflow layout that evaluated this run (several or none: unchanged)."""
    card = dict(card)
    if results is None:
        found = find_results(run_dir)
        if len(found) != 1:
            return card
        results = found[0]
    card["test"] = test_section(run_dir, results)
    if card.get("card_format", 1) >= 2:
        card["limitations"] = limitations(card)
    return card


# --------------------------------------------------------------------------- reading
def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _metric_text(m: Mapping, keys=("auc", "sensitivity", "specificity", "mcc", "score_exact", "sp", "se_exact")) -> str:
    return ", ".join(f"{k} {m[k]:.3f}" for k in keys if isinstance(m.get(k), (int, float)))


def decision_text(d: Mapping) -> str:
    if d.get("kind") == "multiclass" or d.get("threshold") is None:
        classes = d.get("classes") or []
        return (f"{d.get('kind')}: no threshold, {len(classes) or 'several'}-class argmax"
                + (f" over {', '.join(classes)}" if classes else "") + f"; checkpoint selected on {d.get('chosen_on')}")
    return f"{d.get('kind')} at threshold {d.get('threshold')} ({d.get('rule')}, chosen on {d.get('chosen_on')})"


def summary_lines(card: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for ``auscult info``."""
    d, f, v = card["decision"], card["features"], card.get("validation", {})
    val = _metric_text(v)
    lines = [
        f"paper / variant : {card['paper']} / {card['variant']} (seed {card.get('seed')})",
        f"architecture    : {card['model']['config'].get('arch')}  ({card['model']['file']}, "
        f"sha256 {card['model']['sha256'][:12]}…)",
        f"features        : recipe {f['recipe']} (digest {f['digest']}), inputs {', '.join(f['inputs'])}, "
        f"{f['params'].get('sample_rate')} Hz",
        f"trained on      : {card.get('training_data', {}).get('dataset')} "
        f"(manifest {str(card.get('training_data', {}).get('manifest_sha256'))[:12]}…)",
        f"decision        : {decision_text(d)}",
        f"validation      : {val or '–'}",
    ]
    test = card.get("test") or {}
    for name, m in (test.get("protocols") or {}).items():
        thr = f", threshold {m['threshold']:.3f}" if isinstance(m.get("threshold"), float) else ""
        lines.append(f"test            : {name}: {_metric_text(m) or '–'} (n {m.get('n')}{thr})")
    lines.append(f"weights         : {card.get('weights', {}).get('weights')}   git {card.get('git_commit')}")
    missing = missing_release_fields(card)
    if len(missing) == len(RELEASE_FIELDS):
        lines.append(f"release fields  : none (card format {card.get('card_format')}, written before the release "
                     f"fields: lacks {', '.join(missing)})")
        return lines
    data, budget, sw = card.get("data") or {}, card.get("budget") or {}, card.get("software") or {}
    n = data.get("n_recordings")
    lines += [
        f"data            : {data.get('kind')} ({data.get('dataset')}"
        + (f", {n} recordings" if n is not None else "")
        + (f", {data['n_synthetic']} synthetic" if data.get("n_synthetic") else "") + ")",
        f"budget          : {budget.get('name')} (max epochs {budget.get('max_epochs')}, "
        f"ran {budget.get('epochs_run')})" + (f" - {budget['note']}" if budget.get("note") else ""),
        f"software        : auscult {sw.get('auscult')}, torch {sw.get('torch')}, python {sw.get('python')}",
        f"intended use    : {card.get('intended_use')}",
        f"licence         : {(card.get('licence') or {}).get('model')}",
    ]
    lines += [f"limitation      : {x}" for x in card.get("limitations") or []]
    if missing:
        lines.append(f"release fields  : lacks {', '.join(missing)}")
    return lines


# --------------------------------------------------------------------------- README.md
README = "README.md"
def _paper_attr(paper, attr: str, default):
    """An attribute of a registered paper's module (whether its published models were
    pretrained, heart or lung sounds); ``default`` for a paper not registered here."""
    from auscult import registry

    return getattr(registry.REGISTRY.get(paper), attr, default)


_HF_LICENCES = {"MIT": "mit", "CC-BY-NC-4.0": "cc-by-nc-4.0"}


def _front_matter(card: Mapping) -> dict:
    licence = (card.get("licence") or {}).get("model", CODE_LICENCE if card.get("data", {}).get("kind") == "synthetic"
                                                      else "")
    data = card.get("data") or {}
    tags = ["auscult", "research-only", "not-a-medical-device",
            _paper_attr(card.get("paper"), "SOUND", "heart-sound"), f"paper-{card.get('paper')}"]
    if data.get("kind") in ("synthetic", "synthetic audio on real annotations"):
        tags.append("synthetic-data")
    if (card.get("budget") or {}).get("name"):
        tags.append(f"budget-{card['budget']['name']}")
    fm: dict = {"library_name": "auscult", "pipeline_tag": "audio-classification", "tags": tags}
    if licence in _HF_LICENCES:
        fm["license"] = _HF_LICENCES[licence]
    else:
        fm.update(license="other", license_name="auscult-model-terms")  # the Licence section says which
    return fm


def render_readme(card: Mapping) -> str:
    """A Hugging Face-style model card: YAML front matter, then the sections of
    docs/model-cards.md with intended use first. Values from paths go through
    auscult.reporting.markdown.text (a ``<digest>`` stays visible)."""
    import yaml

    from auscult.reporting.markdown import text

    def bullets(items) -> list[str]:
        return [f"- {text(x)}" for x in items]

    data, budget, sw = card.get("data") or {}, card.get("budget") or {}, card.get("software") or {}
    lic = card.get("licence") or {}
    out = ["---", yaml.safe_dump(_front_matter(card), sort_keys=False).rstrip(), "---", "",
           f"# {text(card['paper'])} · {text(card['variant'])} · seed {card.get('seed')}", "",
           "## Intended use", "", text(card.get("intended_use") or INTENDED_USE), ""]
    out += ["## Model", "", f"- architecture: `{card['model']['config'].get('arch')}`, weights `{card['model']['file']}` "
            f"(sha256 `{card['model']['sha256']}`)",
            f"- features: recipe `{card['features']['recipe']}`, digest `{card['features']['digest']}`, "
            f"inputs {text(', '.join(card['features']['inputs']))}",
            f"- decision: {text(decision_text(card['decision']))}",
            f"- initial weights: {text((card.get('weights') or {}).get('weights'))}", ""]
    out += ["## Data", ""]
    if data:
        out += bullets([f"dataset: {data.get('dataset')} ({data.get('kind')}, source {data.get('source')})",
                        f"recordings: {data.get('n_recordings')} (synthetic: {data.get('n_synthetic')}); "
                        f"train {data.get('n_train')}, validation {data.get('n_val', data.get('n_dev'))}, "
                        f"test {data.get('n_test')}",
                        f"manifest sha256: `{data.get('manifest_sha256')}`"])
    else:
        out.append(text(f"Not recorded (card format {card.get('card_format')}, written before the release fields)."))
    out += ["", "## Budget", ""]
    out += bullets([f"{budget.get('name')}: max epochs {budget.get('max_epochs')}, ran {budget.get('epochs_run')}, "
                    f"seeds {budget.get('seeds')}", *([budget["note"]] if budget.get("note") else [])]) \
        if budget else [text("Not recorded.")]
    out += ["", "## Metrics", "", "| split | protocol | n | metrics |", "|---|---|---|---|"]
    from auscult.reporting.markdown import cell

    out.append(f"| validation | {cell((card['decision'] or {}).get('chosen_on', ''))} | "
               f"{card.get('validation', {}).get('n', '')} | {cell(_metric_text(card.get('validation') or {}))} |")
    for name, m in ((card.get("test") or {}).get("protocols") or {}).items():
        out.append(f"| test | {cell(name)} | {m.get('n')} | {cell(_metric_text(m))} |")
    if not card.get("test"):
        out += ["", "No test metrics in this card (the evaluation's result folder was not merged: "
                "`auscult export RUN DIR --results RESULT_DIR`)."]
    out += ["", "## Limitations", "", *bullets(card.get("limitations") or ["Not recorded."]), ""]
    out += ["## Software", ""]
    out += bullets([f"auscult {sw.get('auscult')} (distribution {sw.get('distribution')}), torch {sw.get('torch')}, "
                    f"python {sw.get('python')}", f"git {sw.get('git_commit', card.get('git_commit'))}"]) \
        if sw else bullets([f"auscult {card.get('auscult_version')}, git {card.get('git_commit')}"])
    out += ["", "## Licence", ""]
    out += bullets([f"model: {lic.get('model')}", f"code: {lic.get('code')}",
                    f"initial weights: {lic.get('initial_weights') or 'none (random initialisation)'}",
                    f"data: {lic.get('data')}"]) if lic else [text("Not recorded.")]
    out += ["", "## Use", "", "```", "auscult info .", "auscult predict . recording.wav", "```",
            "", "```python", "import auscult", "run = auscult.load_run(\".\")", "run.predict([\"recording.wav\"])",
            "```", ""]
    return "\n".join(out)
