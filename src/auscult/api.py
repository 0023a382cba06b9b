"""Use a trained model from Python: ``auscult.load_run(path).predict(paths)``.

``path`` is a training run folder (``runs/<paper>/.../seed<k>/``: ``model.pt`` +
``model_card.json``) or a folder written by ``auscult export`` (``model.safetensors`` +
``model_card.json`` + ``README.md``). The card is verified first (auscult.cards.verify: the
weights' sha256, the recipe's parameters), the weights are loaded as plain tensors only
(never pickled code), then :meth:`Run.predict` recomputes each recording's features with the
run's own recipe and parameters (needs the audio extra: librosa, soundfile, soxr; torchaudio
for the AST recipe) and returns a :class:`pandas.DataFrame`:

- a binary (heart-sound) model: ``record, score, threshold, predicted`` (``score`` the
  sigmoid probability of abnormal, ``predicted`` 1 when ``score >= threshold``, the card's
  validation-chosen threshold or another rule's with ``threshold_rule``);
- a multiclass (ICBHI, AST + SAM) model: ``record, score_<class>... , predicted``: each file
  is taken as **one breathing cycle** (the whole file, brought to the recipe's clip length
  as in training), the scores are the softmax over the four classes and ``predicted`` is
  the class with the highest one (no threshold: four-class argmax);
- with ``skip_bad=True`` a recording that cannot be read gets an ``error`` (and empty
  scores) instead of stopping the batch.

``device``: ``"cpu"``, ``"cuda"`` (an error when torch sees no GPU) or ``"auto"`` (CUDA when
available). This module imports torch on first use only; so does ``import auscult``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

AUDIO_SUFFIXES = (".wav", ".flac")
DEVICES = ("auto", "cpu", "cuda")
WEIGHT_SUFFIXES = (".pt", ".safetensors")


class UsageError(ValueError):
    """A problem the user can fix: printed as one line, exit status 2 (a ValueError, so that the
    workflow's jobs that call :func:`load_run` report it as a data error, without traceback)."""


# --------------------------------------------------------------------------- inputs
def audio_files(paths: Sequence[str | Path], *, missing_ok: bool = False) -> list[Path]:
    """The recordings named by ``paths``: files as given, folders searched recursively.
    ``missing_ok``: a path that does not exist is kept (its row then reports the error)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise UsageError(f"{p}: no .wav or .flac files in this folder")
            out += found
        elif p.is_file() or missing_ok:
            out.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder")
    names = [f.stem for f in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"several recordings share a name ({', '.join(dupes[:5])}): record ids must be unique")
    return out


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is a UsageError."""
    import torch

    device = (device or "auto").strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "without CUDA"
            raise UsageError(f"--device {device}: torch sees no CUDA device (torch {torch.__version__}, built "
                             f"{built}); use --device cpu or auto")
        return device
    raise UsageError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")


# --------------------------------------------------------------------------- loading
def build_model_of(card: dict, run_dir: str | Path):
    """The card's architecture, built without fetching any pretrained checkpoint (the weights
    come from the run)."""
    from auscult import cards
    from auscult.models import build_model

    cfg = dict(card["model"]["config"])
    if "pretrained" in cfg:
        cfg["pretrained"] = False
    try:
        return build_model(cfg)
    except (KeyError, ValueError, TypeError) as e:
        raise UsageError(f"{Path(run_dir) / cards.CARD}: this auscult cannot build the card's model "
                         f"{card['model']['config'].get('arch')!r} ({str(e).strip(chr(34) + chr(39))}); the card was "
                         f"{cards.origin(card)}") from None


def state_dict(weights: Path) -> dict:
    """The tensors in ``weights`` (``.pt`` or ``.safetensors``), loaded as plain data only
    (``weights_only``: no code runs)."""
    import pickle

    import torch

    if weights.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(weights), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise UsageError(f"{weights}: not a readable safetensors file, truncated or corrupt "
                             f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's message suggests loading the file as arbitrary pickled code: never repeated here
        raise UsageError(f"{weights}: not a file of plain weights (it holds pickled Python objects, which "
                         "auscult never loads); use the model.pt its training run wrote") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) and "weights_only" not in str(e) else type(e).__name__
        raise UsageError(f"{weights}: not readable as PyTorch weights, truncated or corrupt ({reason})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"{weights}: holds a {type(state).__name__}, not a state dict of tensors")
    return state


def fit(model, state: dict, weights: Path, card: dict) -> None:
    """Load ``state`` into ``model``; weights that do not fit the architecture are a UsageError."""
    from auscult import cards

    try:
        result = model.load_state_dict(state, strict=False)
        missing, unexpected = result.missing_keys, result.unexpected_keys
        problem = (f"{len(missing)} tensor(s) missing, e.g. {missing[:2]}; {len(unexpected)} unexpected, "
                   f"e.g. {unexpected[:2]}") if missing or unexpected else ""
    except RuntimeError as e:  # size mismatch
        lines = [ln.strip() for ln in str(e).splitlines() if "size mismatch" in ln]
        problem = f"{len(lines)} tensor shape(s) differ, e.g. {lines[0] if lines else str(e)[:120]}"
    if problem:
        raise UsageError(f"{weights}: the weights do not fit this auscult's {card['model']['config'].get('arch')!r} "
                         f"architecture ({problem}): the model code changed since the run was trained; its card was "
                         f"{cards.origin(card)}")


def check_decision(card: dict, run_dir: str | Path, kinds: Sequence[str] = ("binary", "multiclass")) -> str:
    """The card's decision kind, when it is one of ``kinds`` and complete."""
    from auscult import cards

    kind = card["decision"].get("kind")
    if kind not in kinds:
        what = "binary heart-sound models" if tuple(kinds) == ("binary",) else f"{' or '.join(kinds)} models"
        raise UsageError(f"{run_dir}: a {kind} model; this command takes {what}")
    if kind == "binary" and not isinstance(card["decision"].get("threshold"), (int, float)):
        raise UsageError(f"{run_dir}: {cards.CARD} of a binary model has no numeric decision.threshold")
    if kind == "multiclass" and not card["decision"].get("classes"):
        raise UsageError(f"{run_dir}: {cards.CARD} of a multiclass model names no decision.classes")
    return kind


def load_model(run_dir: str | Path, kinds: Sequence[str] = ("binary", "multiclass")):
    """(card, model in eval mode on the CPU) of a verified run or export folder."""
    from auscult import cards

    card = cards.verify(run_dir)
    check_decision(card, run_dir, kinds)
    weights = Path(run_dir) / card["model"]["file"]
    if weights.suffix not in WEIGHT_SUFFIXES:
        raise UsageError(f"{weights}: weights must be a .pt or .safetensors file")
    model = build_model_of(card, run_dir)
    fit(model, state_dict(weights), weights, card)
    return card, model.eval()


# --------------------------------------------------------------------------- features
def features_of(card: dict, f: Path) -> dict[str, np.ndarray]:
    """One recording's model inputs with the run's recipe: a per-recording recipe on the whole
    file, a per-segment one (AST: ICBHI cycles) on the whole file as one segment."""
    from auscult.audio import AudioError, probe
    from auscult.features.build import RECIPES, SEGMENT_RECIPES

    recipe, params = card["features"]["recipe"], card["features"]["params"]
    try:
        if recipe in RECIPES:
            return RECIPES[recipe](str(f), params)
        if recipe in SEGMENT_RECIPES:
            return SEGMENT_RECIPES[recipe](str(f), [(0.0, probe(f).duration_s)], params)[0]
    except AudioError as e:
        raise UsageError(str(e)) from None
    except Exception as e:  # a decoder error without a file name: name the file
        raise UsageError(f"{f}: cannot compute {recipe} features ({type(e).__name__}: {e})") from None
    raise UsageError(f"recipe {recipe!r}: this auscult has no such feature recipe (the card was written by "
                     "another version)")


def decision_threshold(card: dict, rule: str | None) -> float:
    """The card's threshold, or the one of another rule chosen on the same validation split."""
    d = card["decision"]
    if rule is None or rule == d.get("rule"):
        return float(d["threshold"])
    known = d.get("thresholds") or {}
    if rule not in known:
        raise UsageError(f"this run's card has no threshold for rule {rule!r} (has: {', '.join(known) or d.get('rule')})")
    return float(known[rule])


# --------------------------------------------------------------------------- the run
class Run:
    """A verified run (or export) folder with its model loaded; see the module docstring."""

    def __init__(self, path: str | Path, card: dict, model, device: str):
        self.path, self.card, self.model, self.device = Path(path), card, model, device

    def __repr__(self) -> str:
        c = self.card
        return f"Run({str(self.path)!r}: {c['paper']} / {c['variant']} seed {c.get('seed')}, {self.kind}, {self.device})"

    @property
    def kind(self) -> str:
        return self.card["decision"]["kind"]

    @property
    def classes(self) -> list[str]:
        """Class names: ``["normal", "abnormal"]`` for a binary model, the card's for a multiclass one."""
        return ["normal", "abnormal"] if self.kind == "binary" else list(self.card["decision"]["classes"])

    def scores(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """(N,) abnormal probabilities of a binary model; (N, classes) softmax of a multiclass one."""
        if self.kind == "binary":
            from auscult.training.binary import predict_scores

            return predict_scores(self.model, arrays, batch_size=16, device=self.device)
        from auscult.training.engine import predict_logits

        logits = predict_logits(self.model, arrays, batch_size=16, device=self.device)
        logits = logits.reshape(len(logits), -1)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, paths: Sequence[str | Path] | str | Path, *, threshold_rule: str | None = None,
                skip_bad: bool = False) -> pd.DataFrame:
        """Score recordings (files, or folders searched for .wav/.flac); one row per recording."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        files = audio_files(paths, missing_ok=skip_bad)
        thr = decision_threshold(self.card, threshold_rule) if self.kind == "binary" else None
        inputs = self.card["features"]["inputs"]
        rows, errors = [], {}
        for f in files:
            try:
                rows.append((f, features_of(self.card, f)))
            except UsageError as e:
                if not skip_bad:
                    raise
                errors[f] = str(e)
        good = [f for f, _ in rows]
        s = (self.scores({k: np.stack([r[k] for _, r in rows]) for k in inputs}) if rows
             else np.zeros((0,) if self.kind == "binary" else (0, len(self.classes))))
        at = {f: i for i, f in enumerate(good)}
        out = pd.DataFrame({"record": [f.stem for f in files]})
        if self.kind == "binary":
            score = np.array([s[at[f]] if f in at else np.nan for f in files], dtype=float)
            out["score"] = score
            out["threshold"] = thr
            out["predicted"] = pd.array([int(x >= thr) if f in at else pd.NA for f, x in zip(files, score, strict=True)],
                                        dtype="Int64")
        else:
            for j, name in enumerate(self.classes):
                out[f"score_{name}"] = np.array([s[at[f], j] if f in at else np.nan for f in files], dtype=float)
            out["predicted"] = [self.classes[int(np.argmax(s[at[f]]))] if f in at else "" for f in files]
        if skip_bad:
            out["error"] = [errors.get(f, "") for f in files]
        return out


def load_run(path: str | Path, *, device: str = "auto") -> Run:
    """The run or export folder ``path``, verified against its card, its model loaded on
    ``device`` (``auto``: CUDA when available)."""
    device = resolve_device(device)
    card, model = load_model(path)
    return Run(path, card, model.to(device), device)
