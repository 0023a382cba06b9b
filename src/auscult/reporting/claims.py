"""Each paper's headline claims as data, tested on this pipeline's own predictions.

The claims live in each paper's folder (``src/auscult/papers/<name>/claims.yaml``, beside its
``paper_values.yaml``): one entry per claim with
the table, metric, protocol and rows it is about, and its **premises**: what must hold for
the claim to be tested here at all. A claim is judged in two steps.

1. **Premises** (:func:`premise_failures`), each from the claim's ``premises`` (defaults in
   :data:`DEFAULT_PREMISES`): real data; the weights the paper used (``pretrained`` or
   ``scratch``) in every compared row; at least ``min_seeds`` seeds per row; the rows'
   configured training budgets (max epochs, training records) equal; for a transfer claim,
   every row competent in-domain (its in-domain AUC interval above 0.5); rows that are not
   constant predictors. A failed premise gives **not testable here: <premise>**, never
   "does not hold". Rows with bit-identical scores (the same network under two names) are
   merged: a claim counts them once.
2. **Paired comparisons** (:func:`auscult.stats.paired.compare`): every comparison the claim
   makes, on the same recordings, over both rows' seeds (test sampling and seed spread).
   *holds*: every comparison's 95 % interval lies above zero in the claimed direction (an
   intersection-union test: no correction needed). *does not hold*: some comparison goes
   the other way with a Holm-adjusted p-value below alpha across the claim's comparisons.
   Otherwise *inconclusive*, with the minimum detectable effect of the weakest comparison
   beside the paper's own gap. Below the paper budget each verdict reads "… at budget X".

Claim kinds: ``order`` (``variants`` from highest to lowest, each beats the next);
``best`` (``variant`` beats every other row of ``among``); ``majority`` (for most ``pairs``
[a, b], a beats b); ``beats_floor`` (the paper's designated model ``variant`` beats the
floor row: variant ``floor``, or ``floor_<recipe>`` in the Koike tables).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from auscult.atomic import write_csv, write_text
from auscult.reporting import markdown as md
from auscult.reporting.tables import metric_digits
from auscult.stats import paired

VERDICTS = ("holds", "does not hold", "inconclusive", "not testable here")
COLUMNS = ["paper", "id", "claim", "table", "metric", "protocol", "verdict", "reason", "premises", "effect",
           "ci_low", "ci_high", "p_value", "mde", "paper_gap", "n_comparisons", "evidence", "data", "budget"]
KINDS = ("order", "best", "majority", "beats_floor")
FLOOR = "floor"
DEFAULT_PREMISES = {"real_data": True, "min_seeds": 3, "matched_budget": True, "non_degenerate": True}
PREMISE_KEYS = {"weights", "real_data", "min_seeds", "matched_budget", "non_degenerate", "in_domain"}
ALPHA = 0.05
N_BOOT = 2000  # resamples per comparison (seeded: the same verdicts on every run)


def claim_files() -> list[str]:
    """Every registered paper's ``claims.yaml`` (in its folder)."""
    from auscult import registry

    return registry.paper_files("claims.yaml")


def load_claims(paths: str | Path | Sequence[str | Path] | None = None) -> dict[str, list[dict]]:
    """{paper: [claim, ...]} from ``paths`` (default: :func:`claim_files`), every claim's keys checked."""
    if paths is None:
        paths = claim_files()
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: dict[str, list[dict]] = {}
    for path in paths:
        spec = _load_claim_file(path)
        for paper, claims in spec.items():
            out.setdefault(paper, []).extend(claims)
    return out


def _load_claim_file(path: str | Path) -> dict[str, list[dict]]:
    spec = yaml.safe_load(Path(path).read_text()) or {}
    for paper, claims in spec.items():
        for c in claims:
            missing = {"id", "claim", "kind", "table", "metric"} - set(c)
            if missing:
                raise ValueError(f"{path}: claim {c.get('id', '?')} of {paper} lacks {sorted(missing)}")
            if c["kind"] not in KINDS:
                raise ValueError(f"{path}: claim {c['id']}: kind must be one of {list(KINDS)}, got {c['kind']!r}")
            prem = c.get("premises") or {}
            if not isinstance(prem, dict):
                raise ValueError(f"{path}: claim {c['id']}: premises must be a mapping, got {prem!r}")
            dom = prem.get("in_domain")
            if dom is not None and not (isinstance(dom, dict) and {"table", "protocol"} <= set(dom)):
                raise ValueError(f"{path}: claim {c['id']}: premises.in_domain needs `table` and `protocol`")
            unknown = set(prem) - PREMISE_KEYS
            if unknown:
                raise ValueError(f"{path}: claim {c['id']}: unknown premise(s) {sorted(unknown)}; "
                                 f"allowed: {sorted(PREMISE_KEYS)}")
            if c["kind"] == "beats_floor" and not c.get("variant"):
                raise ValueError(f"{path}: claim {c['id']}: beats_floor names the paper's model in `variant`")
    return spec


def is_floor(variant: str) -> bool:
    """The reference floor's rows: variant ``floor`` (AudioFuse) or ``floor_<recipe>`` (Koike)."""
    return variant == FLOOR or variant.startswith(FLOOR + "_")


# ------------------------------------------------------------------ the rows a claim names
def comparisons(claim: Mapping, available: Sequence[str]) -> list[tuple[str, str]]:
    """(higher, lower) pairs the claim asserts, over rows in ``available``."""
    kind = claim["kind"]
    if kind == "order":
        names = list(claim["variants"])
        return list(zip(names, names[1:], strict=False))
    if kind == "best":
        top = claim["variant"]
        return [(top, o) for o in (claim.get("among") or available) if o != top and not is_floor(o)]
    if kind == "majority":
        return [(a, b) for a, b in claim["pairs"]]
    floors = [v for v in available if is_floor(v)]
    return [(claim["variant"], floors[0])] if floors else []


def _scope(runs: Mapping[str, Mapping[str, paired.Runs]], claim: Mapping) -> dict[str, paired.Runs]:
    """{variant: Runs} of the claim's protocol (a null protocol: each row's only one)."""
    out = {}
    for v, by_protocol in runs.items():
        if claim.get("protocol") is not None:
            if claim["protocol"] in by_protocol:
                out[v] = by_protocol[claim["protocol"]]
        elif len(by_protocol) == 1:
            out[v] = next(iter(by_protocol.values()))
    return out


@dataclass
class Rows:
    """What the premises read about the rows in a claim's scope."""

    runs: dict[str, paired.Runs]
    weights: dict[str, str]
    budgets: dict[str, dict]
    data: str
    merged: dict[str, str] = field(default_factory=dict)  # duplicate -> the row it equals


def _merge_identical(rows: Rows, names: Sequence[str]) -> None:
    seen: list[str] = []
    for n in names:
        if n not in rows.runs:
            continue
        twin = next((s for s in seen if paired.identical(rows.runs[s], rows.runs[n])), None)
        if twin is not None:
            rows.merged[n] = twin
        else:
            seen.append(n)


# ------------------------------------------------------------------ premises
def premise_failures(claim: Mapping, pairs: Sequence[tuple[str, str]], rows: Rows,
                     in_domain: Mapping[str, paired.Runs] | None, boot: Mapping) -> tuple[list[str], list[str]]:
    """(failed premises, premises checked), each a short sentence."""
    prem = {**DEFAULT_PREMISES, **(claim.get("premises") or {})}
    names = list(dict.fromkeys(n for p in pairs for n in p))
    models = [n for n in names if not is_floor(n)]
    failed, checked = [], []
    missing = [n for n in names if n not in rows.runs]
    if missing:
        failed.append(f"rows without per-recording predictions: {', '.join(missing)}")
    if prem.get("real_data"):
        checked.append("real data")
        if not rows.data.startswith("real"):
            failed.append(f"real data (these are {rows.data})")
    if prem.get("weights"):
        checked.append(f"{prem['weights']} weights, as the paper")
        off = [f"{n} {rows.weights.get(n, '?')}" for n in models if rows.weights.get(n) != prem["weights"]]
        if off:
            failed.append(f"{prem['weights']} weights as in the paper (rows: {', '.join(off)})")
    if prem.get("min_seeds"):
        k = int(prem["min_seeds"])
        checked.append(f">= {k} seeds per row")
        few = [f"{n} {rows.runs[n].n_seeds}" for n in names if n in rows.runs and rows.runs[n].n_seeds < k]
        if few:
            failed.append(f">= {k} seeds per row (seeds: {', '.join(few)})")
    if prem.get("matched_budget") and len(models) > 1:
        checked.append("matched training budgets")
        seen = {n: rows.budgets.get(n) for n in models if rows.budgets.get(n)}
        if len({tuple(sorted(b.items())) for b in seen.values()}) > 1:
            failed.append("matched training budgets (" + "; ".join(
                f"{n}: {b.get('max_epochs')} epochs, {b.get('max_train_records') or 'all'} records"
                for n, b in seen.items()) + ")")
    if prem.get("non_degenerate"):
        checked.append("no constant predictor")
        const = [n for n in names if n in rows.runs and paired.is_constant(rows.runs[n])]
        if const:
            failed.append(f"rows that are not constant predictors ({', '.join(const)})")
    if prem.get("in_domain"):
        checked.append("in-domain AUC above chance")
        weak = []
        for n in models:
            r = (in_domain or {}).get(n)
            if r is None:
                weak.append(f"{n} (no in-domain runs)")
                continue
            e = paired.estimate(r, "auc", n_boot=boot["n_boot"], seed=boot["seed"], alpha=boot["alpha"])
            if not e.low > 0.5:
                weak.append(f"{n} AUC {e.value:.3f} [{e.low:.3f}, {e.high:.3f}]")
        if weak:
            failed.append("in-domain competence (in-domain AUC interval above 0.5: " + "; ".join(weak) + ")")
    return failed, checked


# ------------------------------------------------------------------ verdicts
def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    out, running = [1.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        out[i] = running
    return out


def _scale(metric: str) -> float:
    """Table units per engine unit: percentages of a fraction (``uar_%``) x 100; a relative
    change is a percentage already."""
    return 100.0 if metric.endswith("_%") and not metric.startswith("rel_change") else 1.0


def _base_metric(metric: str) -> str:
    """The paired engine's metric for a table metric (``uar_%`` -> ``uar``)."""
    return metric[:-2] if metric.endswith("_%") else metric


def judge(kind: str, results: Sequence[tuple[str, str, paired.Comparison]], alpha: float = ALPHA) -> str:
    """Verdict from the comparisons (higher, lower, Comparison of higher - lower)."""
    if not results:
        return "inconclusive"
    support = [c.ci_low > 0 for *_, c in results]
    adjusted = holm([c.p_value for *_, c in results])
    adverse = [c.difference < 0 and p < alpha for (*_, c), p in zip(results, adjusted, strict=True)]
    if kind == "majority":
        if sum(support) > len(results) / 2:
            return "holds"
        return "does not hold" if sum(adverse) >= len(results) / 2 else "inconclusive"
    if all(support):
        return "holds"
    return "does not hold" if any(adverse) else "inconclusive"


def _paper_gap(frame: pd.DataFrame, claim: Mapping, hi: str, lo: str) -> float | None:
    d = frame[(frame["metric"] == claim["metric"])]
    if claim.get("protocol") is not None:
        d = d[d["protocol"] == claim["protocol"]]
    vals = {str(r["variant"]): r["paper"] for _, r in d.iterrows() if pd.notna(r["paper"])}
    if hi in vals and lo in vals:
        return float(vals[hi]) - float(vals[lo])
    return None


def _text(c: paired.Comparison, hi: str, lo: str, scale: float, d: int) -> str:
    if not math.isfinite(c.ci_low):
        return f"{hi} − {lo} = {scale * c.difference:+.{d}f} (no interval: the metric is unstable on these runs)"
    return (f"{hi} − {lo} = {scale * c.difference:+.{d}f} [{scale * c.ci_low:+.{d}f}, {scale * c.ci_high:+.{d}f}], "
            f"p = {c.p_value:.3g}")


def evaluate_claim(claim: Mapping, frame: pd.DataFrame, runs: Mapping[str, Mapping[str, paired.Runs]],
                   budgets: Mapping[str, dict], in_domain: Mapping[str, paired.Runs] | None,
                   boot: Mapping) -> dict:
    """One claim's line of the claims table."""
    first = frame.iloc[0] if len(frame) else {}
    data, budget = str(first.get("data", "?")), str(first.get("budget", "?"))
    weights = {str(r["variant"]): str(r["weights"]) for _, r in frame.iterrows()}
    rows = Rows(_scope(runs, claim), weights, dict(budgets), data)
    pairs = comparisons(claim, list(rows.runs) or list(weights))
    line = {"paper": "", "id": claim["id"], "claim": claim["claim"], "table": claim["table"], "metric": claim["metric"],
            "protocol": claim.get("protocol") or "any", "data": data, "budget": budget, "effect": None,
            "ci_low": None, "ci_high": None, "p_value": None, "mde": None, "paper_gap": None,
            "n_comparisons": len(pairs), "premises": "", "evidence": ""}
    if not pairs:
        return {**line, "verdict": "not testable here", "reason": "no rows to compare in the table (e.g. no floor row)"}
    failed, checked = premise_failures(claim, pairs, rows, in_domain, boot)
    line["premises"] = "; ".join(checked)
    if failed:
        line = {**line, "verdict": "not testable here", "reason": "premise failed: " + " · ".join(failed)}
        if all(n in rows.runs for p in pairs for n in p):  # what the runs show, for information
            metric, scale, d = _base_metric(claim["metric"]), _scale(claim["metric"]), metric_digits(claim["metric"])
            shown = [(hi, lo, paired.compare(rows.runs[lo], rows.runs[hi], metric, n_boot=boot["n_boot"],
                                             seed=boot["seed"], alpha=boot["alpha"])) for hi, lo in pairs]
            line["evidence"] = "for information, not a verdict: " + "; ".join(_text(c, a, b, scale, d)
                                                                             for a, b, c in shown)
        return line
    # a duplicate row counts once: its comparisons go to the row it equals
    _merge_identical(rows, list(dict.fromkeys(n for p in pairs for n in p)))
    merged = "; ".join(f"{a} merged with {b} (identical scores)" for a, b in rows.merged.items())
    pairs = list(dict.fromkeys((rows.merged.get(a, a), rows.merged.get(b, b)) for a, b in pairs))
    pairs = [(a, b) for a, b in pairs if a != b]
    line.update(n_comparisons=len(pairs), evidence=merged)
    if not pairs:
        return {**line, "verdict": "not testable here", "reason": f"the compared rows have identical scores ({merged})"}
    metric, scale, d = _base_metric(claim["metric"]), _scale(claim["metric"]), metric_digits(claim["metric"])
    results = [(hi, lo, paired.compare(rows.runs[lo], rows.runs[hi], metric, n_boot=boot["n_boot"],
                                       seed=boot["seed"], alpha=boot["alpha"])) for hi, lo in pairs]
    verdict = judge(claim["kind"], results, boot["alpha"])
    # the comparison that decides: the weakest in the claimed direction (lowest t)
    hi, lo, key = min(results, key=lambda t: t[2].difference / t[2].se if t[2].se > 0 else 0)
    gap = _paper_gap(frame, claim, hi, lo)
    at = f" at budget {budget}" if budget != "paper" else ""
    reason = {"holds": "every comparison's interval above 0",
              "does not hold": "a comparison goes the other way (Holm-adjusted p < 0.05)",
              "inconclusive": f"detects Δ ≥ {scale * key.mde:.{d}f} (80 % power)"
              + (f"; the paper reports {scale * gap:+.{d}f}" if gap is not None else "")}[verdict]
    evidence = "; ".join(_text(c, a, b, scale, d) for a, b, c in results)
    return {**line, "verdict": verdict + at, "reason": reason,
            "effect": scale * key.difference, "ci_low": scale * key.ci_low, "ci_high": scale * key.ci_high,
            "p_value": key.p_value, "mde": scale * key.mde, "paper_gap": None if gap is None else scale * gap,
            "evidence": evidence + (f"; {merged}" if merged else "")}


def evaluate(frames: Mapping[str, pd.DataFrame], claims: Mapping[str, Sequence[Mapping]],
             runs: Mapping[str, Mapping] | None = None, budgets: Mapping[str, Mapping] | None = None,
             boot: Mapping | None = None) -> pd.DataFrame:
    """One line per claim of every paper whose tables are in ``frames``. ``runs``:
    {table: {variant: {protocol: Runs}}}, the predictions behind the cells; ``budgets``:
    {table: {variant: configured budget}}."""
    boot = {"n_boot": N_BOOT, "seed": 0, "alpha": ALPHA, **(boot or {})}
    runs, budgets, out = runs or {}, budgets or {}, []
    for paper, paper_claims in claims.items():
        for c in paper_claims:
            frame = frames.get(c["table"])
            if frame is None:
                continue  # that paper's tables were not built in this run
            dom = (c.get("premises") or {}).get("in_domain")
            in_domain = None
            if dom:
                in_domain = {v: bp[dom["protocol"]] for v, bp in runs.get(dom["table"], {}).items()
                             if dom["protocol"] in bp}
            line = evaluate_claim(c, frame, runs.get(c["table"], {}), budgets.get(c["table"], {}), in_domain, boot)
            out.append({**line, "paper": paper})
    return pd.DataFrame(out, columns=COLUMNS)


# ------------------------------------------------------------------ rendering
def _num(x, d: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.{d}f}"


def render_markdown(df: pd.DataFrame) -> str:
    lines = ["# Claims of the papers, tested on this pipeline's predictions", ""]
    budgets = sorted(set(df["budget"])) if len(df) else []
    if any(b != "paper" for b in budgets):
        lines += [f"> **Pipeline check at budget {', '.join(budgets)}, not a reproduction**: a verdict says "
                  "what these runs show, not what the paper's full budget would.", ""]
    base = df["verdict"].str.replace(r" at budget .*$", "", regex=True)
    counts = base.value_counts()
    lines += [", ".join(f"**{counts.get(v, 0)}** {v}" for v in VERDICTS) + f" (of {len(df)} claims).", "",
              "| Paper | Claim | Verdict | Why | Effect [95 % CI] · MDE | Premises checked | Table · metric · protocol |",
              "|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        d = metric_digits(str(r["metric"]))
        effect = "–" if r["effect"] is None or pd.isna(r["effect"]) else (
            f"{_num(r['effect'], d)} [{_num(r['ci_low'], d)}, {_num(r['ci_high'], d)}], p = {r['p_value']:.3g}"
            f" · MDE {abs(r['mde']):.{d}f}")
        cells = [md.cell(r["paper"]), md.cell(r["claim"]), f"**{md.cell(r['verdict'])}**", md.cell(r["reason"]),
                 md.cell(effect), md.cell(r["premises"]),
                 md.cell(f"`{r['table']}` · {r['metric']} · {r['protocol']}")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Comparisons", ""]
    lines += [f"- **{md.text(r['id'])}**: {md.text(r['evidence'] or '–')}" for _, r in df.iterrows()]
    lines += ["", "How a verdict is reached (auscult.reporting.claims; claims and their premises are data: "
              "src/auscult/papers/<name>/claims.yaml):", "",
              "- *not testable here*: a premise of the claim fails on these runs (the paper's weights, real data, "
              "at least 3 seeds per row, matched training budgets, in-domain AUC above chance for a transfer "
              "claim, no constant predictor). It says nothing about the paper.",
              "- Otherwise every comparison is paired: both rows scored the same test recordings; the difference's "
              "95 % interval covers test sampling (a bootstrap over recordings, stratified by class, the same "
              "resamples for both rows) and seed spread (between-seed variance, t with Welch-Satterthwaite df) "
              "(auscult.stats.paired.compare).",
              "- *holds*: every comparison's interval lies above 0 (intersection-union test). *does not hold*: a "
              "comparison goes the other way with a Holm-adjusted p < 0.05 across the claim's comparisons. "
              "*inconclusive*: neither; MDE is the smallest difference the weakest comparison would detect with "
              "80 % power at α = 0.05, beside the paper's own gap where it reports one.",
              "- Effect, interval and p are those of the deciding comparison (the weakest for *holds*, the most "
              "adverse otherwise); every comparison is listed above. Rows with bit-identical scores are merged.",
              ""]
    return "\n".join(lines)


def write_claims(df: pd.DataFrame, md_path: str | Path, csv_path: str | Path) -> None:
    write_csv(csv_path, df)
    write_text(md_path, render_markdown(df))
