"""The ``auscult`` command: use a reproduced model on new recordings.

    auscult --version
    auscult info RUN_DIR [--results RESULT_DIR]
    auscult predict RUN_DIR AUDIO_OR_FOLDER... [-o preds.csv] [--device auto|cpu|cuda] [--skip-bad]
    auscult evaluate RUN_DIR --labels labels.csv (--audio DIR | --features CACHE_DIR) [-o metrics.json] [--device ...]
    auscult compare --a PRED... --b PRED... [--metric auc] [--protocol P] [--json]
    auscult export RUN_DIR DEST [--results RESULT_DIR] [--force]
    auscult doctor --budget NAME [--root DIR] [--max-hours H]

A run folder is what a training job writes (``runs/<paper>/.../seed<k>/``): ``model.pt``
and ``model_card.json`` (auscult.cards); an export folder holds ``model.safetensors``, the
card and a ``README.md`` instead, and every command that takes a run folder takes it too.
``predict`` recomputes the features of each recording with the run's own recipe and
parameters, scores it and applies the run's validation-chosen threshold (an ICBHI AST model:
each file is one breathing cycle, four class scores and the argmax; auscult.api). ``evaluate`` scores a labelled folder with the T1 metrics and
bootstrap CIs; from a feature cache it needs neither librosa nor the audio. ``compare`` tests
model B against model A on the recordings both scored, from their runs' ``predictions.csv``
files (one per seed; auscult.stats.paired: paired bootstrap over recordings + seed spread).
Errors are one line (``auscult: error: <what>``) and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.api import AUDIO_SUFFIXES, UsageError, audio_files, decision_threshold  # noqa: F401 (re-exported)


# --------------------------------------------------------------------------- helpers
def load_run(run_dir: str | Path, kinds=("binary",)):
    """(card, model in eval mode) of a verified run folder whose decision is one of ``kinds``
    (auscult.api.load_model; the cross-dataset job scores binary runs through it)."""
    from auscult.api import load_model

    return load_model(run_dir, kinds)


def recording_features(card: dict, files: Sequence[Path]) -> dict[str, np.ndarray]:
    """The model's input arrays for ``files``, computed with the run's recipe (needs librosa)."""
    from auscult.api import features_of

    rows = [features_of(card, f) for f in files]
    return {k: np.stack([r[k] for r in rows]) for k in card["features"]["inputs"]}


def score(model, arrays: dict[str, np.ndarray], device: str = "cpu") -> np.ndarray:
    from auscult.training.binary import predict_scores

    return predict_scores(model.to(device), arrays, batch_size=16, device=device)


def check_output(path: str | None) -> None:
    """Refuse an ``-o`` that names a folder or lies in a folder that does not exist (before any work)."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p}: is a folder; -o takes the name of a file to write")
    if not p.parent.is_dir():
        raise UsageError(f"{p.parent}: no such folder (for -o {p})")


def _cached_features(card: dict, cache: Path, records: list[str]) -> dict[str, np.ndarray]:
    from auscult.features.store import load_arrays, read_index, read_meta

    if not cache.is_dir():
        raise UsageError(f"{cache}: no such feature cache folder")
    meta = read_meta(cache)
    if meta.get("recipe") != card["features"]["recipe"] or \
            json.dumps(meta.get("params"), sort_keys=True) != json.dumps(card["features"]["params"], sort_keys=True):
        raise UsageError(f"{cache}: this feature cache was built with another recipe or parameters than the run's "
                         f"({card['features']['recipe']}, digest {card['features']['digest']})")
    known = set(read_index(cache)["record_id"].astype(str))
    missing = [r for r in records if r not in known]
    if missing:
        raise UsageError(f"{cache}: {len(missing)} labelled record(s) not in the cache, e.g. {missing[:3]}")
    _, arrays = load_arrays(cache, card["features"]["inputs"], records)
    return arrays


def read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise UsageError(f"{path}: no such labels file")
    try:
        df = pd.read_csv(path, dtype={"record": str}, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as e:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise UsageError(f"{path}: not a readable CSV file ({str(e).splitlines()[0] if str(e) else e!r})") from None
    df.columns = [c.strip() for c in df.columns]
    if not {"record", "label"} <= set(df.columns):
        raise UsageError(f"{path}: needs columns record,label (has {', '.join(df.columns)})")
    # the folder datasets' parser: 1/abnormal -> 1, 0/normal/-1 -> 0 (auscult.datasets.folder)
    from auscult.datasets.folder import parse_label

    parsed = df["label"].map(lambda v: parse_label("" if pd.isna(v) else str(v)))
    bad = df[parsed.isna()]
    if len(bad):
        raise UsageError(f"{path}: line {bad.index[0] + 2}: label must be 0 or 1 (or normal / abnormal, -1 = "
                         f"normal), got {bad['label'].iloc[0]!r}")
    dup = df["record"][df["record"].duplicated()]
    if len(dup):
        raise UsageError(f"{path}: record {dup.iloc[0]!r} is listed twice")
    return df.assign(label=parsed.astype(int))


# --------------------------------------------------------------------------- commands
def cmd_info(args) -> int:
    from auscult import cards

    card = cards.with_test(cards.verify(args.run_dir), args.run_dir, args.results)
    if args.json:
        print(json.dumps(card, indent=2))
    else:
        print("\n".join(cards.summary_lines(card)))
    return 0


def cmd_predict(args) -> int:
    from auscult.api import load_run as load
    from auscult.atomic import write_csv

    check_output(args.output)
    audio_files(args.audio, missing_ok=args.skip_bad)  # a bad path list fails before the model loads
    run = load(args.run_dir, device=args.device)
    if args.threshold_rule and run.kind != "binary":
        raise UsageError(f"{args.run_dir}: --threshold-rule applies to binary models; this {run.kind} model "
                         "has no threshold (argmax over its classes)")
    out = run.predict(args.audio, threshold_rule=args.threshold_rule, skip_bad=args.skip_bad)
    n_bad = int((out["error"] != "").sum()) if "error" in out else 0
    if args.output:
        write_csv(args.output, out)
        print(f"{len(out) - n_bad} recording(s) scored -> {args.output}")
    else:
        out.to_csv(sys.stdout, index=False)
    if n_bad:
        print(f"auscult: {n_bad} of {len(out)} recording(s) could not be scored (see the error column)",
              file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from auscult.atomic import write_json
    from auscult.evaluation.metrics import binary_metrics
    from auscult.stats import paired

    if args.n_boot < 2:
        raise UsageError(f"--n-boot must be at least 2, got {args.n_boot}")
    check_output(args.output)
    labels = read_labels(Path(args.labels))
    from auscult.api import resolve_device

    device = resolve_device(args.device)
    card, model = load_run(args.run_dir)
    records = labels["record"].tolist()
    if args.features:
        arrays = _cached_features(card, Path(args.features), records)
    else:
        by_name = {f.stem: f for f in audio_files([args.audio])}
        missing = [r for r in records if r not in by_name]
        if missing:
            raise UsageError(f"{args.labels}: {len(missing)} labelled record(s) have no audio in {args.audio}, "
                             f"e.g. {missing[:3]}")
        arrays = recording_features(card, [by_name[r] for r in records])
    y = labels["label"].to_numpy()
    if len(np.unique(y)) < 2:
        raise UsageError(f"{args.labels}: needs both classes (0 and 1) for AUC")
    s = score(model, arrays, device)
    thr = decision_threshold(card, args.threshold_rule)
    metrics = binary_metrics(y, s, thr)
    runs = paired.Runs(np.array(records), y, s, [thr])
    ci = {m: [(e := paired.estimate(runs, m, n_boot=args.n_boot)).low, e.high]
          for m in ("auc", "sensitivity", "specificity", "mcc", "f1")}
    result = {"run": str(args.run_dir), "paper": card["paper"], "variant": card["variant"], "n": int(len(y)),
              "n_abnormal": int(y.sum()), "threshold": thr, "metrics": metrics, "ci95": ci}
    text = json.dumps(result, indent=2, default=float)
    if args.output:
        write_json(args.output, result)
    print(text)
    return 0


COMPARE_METRICS = ("auc", "uar", "mcc", "f1", "sensitivity", "specificity")


def _finite_or_none(x):
    return x if not isinstance(x, float) or np.isfinite(x) else None


def compare_text(c, a, b) -> str:
    """One paragraph on a :class:`auscult.stats.paired.Comparison` of loaded runs ``a``, ``b``
    (:class:`auscult.stats.predictions.LoadedRuns`)."""
    from auscult.stats.paired import THRESHOLD_METRICS, identical, is_constant
    from auscult.stats.predictions import DEFAULT_THRESHOLD

    def seeds(n: int) -> str:
        return f"{n} seed" + ("s" if n != 1 else "")

    if a.protocol == b.protocol:
        where = f" (protocol {a.protocol})" if a.protocol else ""
    else:
        where = f" (A: protocol {a.protocol or 'none'}, B: {b.protocol or 'none'})"
    p = "p < 0.0001" if c.p_value < 1e-4 else f"p = {c.p_value:.4f}"
    if max(c.n_seeds_a, c.n_seeds_b) < 2:
        covers = ("test sampling only (1 seed per model: the spread between training seeds is not estimable "
                  "and not included)")
    elif min(c.n_seeds_a, c.n_seeds_b) < 2:
        one, many = ("A", "B") if c.n_seeds_a < 2 else ("B", "A")
        covers = (f"test sampling and {many}'s seed spread ({seeds(max(c.n_seeds_a, c.n_seeds_b))}), not "
                  f"{one}'s ({one} has 1 seed: its seed spread is not estimable)")
    else:
        covers = f"test sampling and seed spread ({seeds(c.n_seeds_a)} for A, {seeds(c.n_seeds_b)} for B)"
    parts = [
        f"{c.metric.upper()} on {c.n_records} recordings{where}: A {c.value_a:.4f} ({seeds(c.n_seeds_a)}), "
        f"B {c.value_b:.4f} ({seeds(c.n_seeds_b)}).",
        f"Difference B - A = {c.difference:+.4f}, 95 % interval [{c.ci_low:+.4f}, {c.ci_high:+.4f}], {p}; "
        f"P(B > A) = {c.prob_b_better:.3f}.",
        f"The interval covers {covers}.",
        f"Minimum detectable effect (80 % power at the 5 % level): {c.mde:.4f}.",
    ]
    if c.metric in THRESHOLD_METRICS:
        default = [name for name, r in (("A", a), ("B", b)) if not r.threshold_from_file]
        if default:
            who = " and ".join(f"{n}'s" for n in default)
            parts.append(f"{who} files have no threshold column: {' and '.join(default)} thresholded at "
                         f"{DEFAULT_THRESHOLD} (abnormal when score >= {DEFAULT_THRESHOLD}).")
        for name, r in (("A", a), ("B", b)):
            if is_constant(r.runs):
                parts.append(f"{name} puts every recording on the same side of its threshold: its "
                             f"{c.metric} says nothing about the recordings.")
    if identical(a.runs, b.runs):
        parts.append("A and B have identical scores.")
    parts.append(f"Method: {c.method}.")
    return " ".join(parts)


def cmd_compare(args) -> int:
    from auscult.stats.paired import compare
    from auscult.stats.predictions import check_same_records, read_runs

    if args.n_boot < 2:
        raise UsageError(f"--n-boot must be at least 2, got {args.n_boot}")
    try:
        a = read_runs(args.a, args.protocol)
        b = read_runs(args.b, args.protocol)
        check_same_records(a, b)
        c = compare(a.runs, b.runs, args.metric, n_boot=args.n_boot, seed=args.seed)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        print(json.dumps({k: _finite_or_none(v) for k, v in c.as_dict().items()}))
    else:
        print(compare_text(c, a, b))
    return 0


# --------------------------------------------------------------------------- doctor
def cmd_doctor(args) -> int:
    """Machine, forecast and verdict for a budget (auscult.doctor): exit 0 fits here, 1 does not."""
    from auscult import doctor

    try:
        return doctor.run(args.budget, args.root, max_hours=args.max_hours)
    except doctor.DoctorError as e:
        raise UsageError(str(e)) from None


def add_doctor_parser(sub) -> None:
    d = sub.add_parser("doctor", help="can this machine run a budget? machine, forecast, verdict",
                       description="Print this machine (CPU cores, memory, GPUs, free disk), the budget's compute "
                                   "forecast (auscult.forecast) and a verdict: exit 0 when the budget fits here, 1 "
                                   "when it would take longer than --max-hours or does not fit in memory or on disk.")
    d.add_argument("--budget", required=True, help="paper, or the name of an overlay config/<NAME>.yaml "
                                                   "(demo, quick, cpu, rehearsal)")
    d.add_argument("--root", default=".", help="the repository (holds params.yaml and config/; default: here)")
    d.add_argument("--max-hours", type=float, default=24.0,
                   help="longest acceptable forecast time here, in hours (default 24)")
    d.set_defaults(fn=cmd_doctor)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="auscult", description="Use a model reproduced by the auscult workflow.")
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser("info", help="print a run folder's model card",
                       description="Print the model card of a training run folder (after checking its files).")
    i.add_argument("run_dir", help="a training run folder (holds model.pt and model_card.json)")
    i.add_argument("--json", action="store_true", help="the whole card as JSON")
    i.set_defaults(fn=cmd_info)
    pr = sub.add_parser("predict", help="score recordings with a run's model",
                        description="Score .wav/.flac recordings (files or folders) with a run's model: features "
                                    "recomputed with the run's recipe, its validation-chosen threshold applied. "
                                    "Writes record,score,threshold,predicted; for an ICBHI (AST) model, each file is one "
                                    "breathing cycle: record,score_<class>...,predicted (argmax of four classes).")
    pr.add_argument("run_dir", help="a training run folder")
    pr.add_argument("audio", nargs="+", help="audio files or folders (searched recursively)")
    pr.add_argument("-o", "--output", help="CSV to write (default: standard output)")
    pr.add_argument("--threshold-rule", help="use another rule's validation threshold from the card "
                                             "(youden, max_mcc, max_f1, fixed_0.5; default: the card's)")
    pr.set_defaults(fn=cmd_predict)
    ev = sub.add_parser("evaluate", help="score a labelled folder: AUC, sensitivity, ... with bootstrap CIs",
                        description="Evaluate a run's model on labelled recordings (labels.csv with columns "
                                    "record,label; 1 = abnormal), from audio or from a feature cache.")
    ev.add_argument("run_dir", help="a training run folder")
    ev.add_argument("--labels", required=True, help="CSV with columns record,label")
    src = ev.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="folder with the recordings (<record>.wav|.flac)")
    src.add_argument("--features", help="a feature cache folder built with the run's recipe (no audio stack needed)")
    ev.add_argument("-o", "--output", help="JSON file to write the metrics to")
    ev.add_argument("--threshold-rule", help="another rule's validation threshold from the card")
    ev.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates for the CIs (default 1000)")
    ev.set_defaults(fn=cmd_evaluate)
    co = sub.add_parser("compare", help="test model B against model A on the same recordings",
                        description="Compare two models scored on the same recordings, from their runs' "
                                    "predictions.csv files (several paths = several seeds): the difference "
                                    "B - A of a metric with its 95 % interval and p-value (paired bootstrap "
                                    "over recordings, stratified by class, plus the spread between seeds).")
    co.add_argument("--a", nargs="+", required=True, metavar="PATH",
                    help="model A: predictions.csv files or run folders holding one, one per seed")
    co.add_argument("--b", nargs="+", required=True, metavar="PATH", help="model B, the same way")
    co.add_argument("--metric", default="auc", choices=COMPARE_METRICS, help="the metric to compare (default auc)")
    co.add_argument("--protocol", help="the protocol (AudioFuse) or part (Koike) whose rows to use (default: "
                                       "physionet_test, or test, or the only one)")
    co.add_argument("--json", action="store_true", help="print one JSON object instead of a paragraph")
    co.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples of the recordings (default 2000)")
    co.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    co.set_defaults(fn=cmd_compare)
    add_release_cli(p, sub, info=i, predict=pr, evaluate=ev)
    add_doctor_parser(sub)
    return p


# --------------------------------------------------------------------------- release: export, --version, ...
def export_run(run_dir: str | Path, dest: str | Path, *, results: str | Path | None = None,
               force: bool = False) -> Path:
    """Write ``dest`` with the run's weights as ``model.safetensors``, its card (pointing at
    them, with the test section of ``results`` or of the one result folder found in the
    workflow layout) and a Hugging Face-style ``README.md``; ``auscult predict`` reads it."""
    from safetensors.torch import save_file

    from auscult import cards
    from auscult._version import __version__
    from auscult.api import load_model, state_dict
    from auscult.atomic import atomic_dir, write_json, write_text

    run_dir, dest = Path(run_dir), Path(dest)
    card, _ = load_model(run_dir)  # verified, and the weights fit the card's architecture
    if dest.resolve() == run_dir.resolve() or run_dir.resolve() in dest.resolve().parents:
        raise UsageError(f"{dest}: the export folder must lie outside the run folder {run_dir}")
    if dest.exists() and not (dest.is_dir() and (force or not any(dest.iterdir()))):
        raise UsageError(f"{dest}: exists and is not an empty folder (--force replaces it)")
    weights = run_dir / card["model"]["file"]
    state = {k: v.detach().contiguous().clone() for k, v in state_dict(weights).items()}
    card = cards.with_test(card, run_dir, results)
    with atomic_dir(dest) as tmp:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        card["exported_from"] = {"run": str(run_dir), "file": card["model"]["file"],
                                 "sha256": card["model"]["sha256"], "by": f"auscult {__version__}"}
        card["model"] = {**card["model"], "file": "model.safetensors",
                         "sha256": cards.file_sha256(tmp / "model.safetensors")}
        write_json(tmp / cards.CARD, card)
        write_text(tmp / cards.README, cards.render_readme(card))
    cards.verify(dest)
    return dest


def cmd_export(args) -> int:
    out = export_run(args.run_dir, args.dest, results=args.results, force=args.force)
    print(f"exported {args.run_dir} -> {out} (model.safetensors, model_card.json, README.md)")
    return 0


def add_release_cli(p: argparse.ArgumentParser, sub, *, info, predict, evaluate) -> None:
    """``--version``; ``--device`` for predict/evaluate; ``--skip-bad`` for predict; ``info
    --results``; the ``export`` command."""
    from auscult._version import __version__
    from auscult.api import DEVICES

    p.add_argument("--version", action="version", version=f"auscult {__version__} (distribution auscult-repro)")
    for cmd in (predict, evaluate):
        cmd.add_argument("--device", default="auto", choices=DEVICES,
                         help="where the model runs: cpu, cuda, or auto (cuda when available; default)")
    predict.add_argument("--skip-bad", action="store_true",
                         help="a recording that cannot be read gets an error column instead of stopping the batch")
    info.add_argument("--results", help="an evaluation result folder (results/<paper>/<variant>/<d>/seed<k>) whose "
                                        "test metrics to show (default: the one found in the workflow layout)")
    ex = sub.add_parser("export", help="write a shareable folder: weights as safetensors, model card, README.md",
                        description="Export a run folder: model.safetensors, model_card.json (with test metrics "
                                    "from the evaluation's result folder) and a Hugging Face-style README.md. "
                                    "auscult predict / info read the exported folder.")
    ex.add_argument("run_dir", help="a training run folder")
    ex.add_argument("dest", help="the folder to write (new, or empty)")
    ex.add_argument("--results", help="the evaluation result folder whose test metrics go into the card "
                                      "(default: the one found in the workflow layout, if exactly one)")
    ex.add_argument("--force", action="store_true", help="replace an existing export folder")
    ex.set_defaults(fn=cmd_export)


def error_line(e: BaseException) -> str:
    """One line for a user-fixable error: an OSError as ``<file>: <reason>``, others joined."""
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {(e.strerror or str(e)).lower()}"
    return "; ".join(ln.strip() for ln in str(e).splitlines() if ln.strip()) or type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    from auscult.runlog import is_data_error

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (UsageError, ValueError, OSError) as e:
        # a UsageError, or an auscult error about the input (CardError, FeatureStoreError,
        # AudioError, ...), or a file the system refused; anything else is a bug: traceback
        if not (isinstance(e, UsageError) or is_data_error(e) or (isinstance(e, OSError) and e.filename)):
            raise
        print(f"auscult: error: {error_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
