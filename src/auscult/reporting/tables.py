"""Paper tables from per-seed results: long CSV, Markdown and LaTeX, with provenance.

Every number comes from a ``metrics.json`` / ``predictions.csv`` written by an evaluation
job. Published numbers come from ``paper_values.yaml`` and are only ever printed beside
ours (``paper``, ``delta``), never in place of them.

Long CSV columns: table, row, variant, metric, protocol, mean, std, n_seeds, ci_low,
ci_high, paper, delta, data, weights, budget, flag. ``std`` is the between-seed standard
deviation (NaN with one seed); ``ci_low``/``ci_high`` the 95 % interval of the seed mean
covering test sampling and seed spread (auscult.stats.paired.estimate; with one seed, test
sampling only); ``flag`` marks a degenerate cell (a constant predictor, a row identical to
another, a reversed decision rule).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from auscult.atomic import write_csv, write_text
from auscult.reporting import markdown as md

LONG_COLUMNS = ["table", "row", "variant", "metric", "protocol", "mean", "std", "n_seeds", "ci_low",
                "ci_high", "paper", "delta", "data", "weights", "budget", "flag"]


def paper_values() -> dict:
    """The published numbers of every registered paper: its folder's ``paper_values.yaml``
    (:func:`auscult.registry.paper_files`), and an external module's ``PAPER_VALUES``."""
    from auscult import registry

    out: dict = {}
    for f in registry.paper_files("paper_values.yaml"):
        out.update(yaml.safe_load(Path(f).read_text()) or {})
    for module in registry.REGISTRY.values():
        out.update(getattr(module, "PAPER_VALUES", {}) or {})
    return out


def fill_title(template: str, fields: Mapping[str, object] | None = None) -> str:
    """A table title from ``paper_values.yaml`` with its ``{placeholders}`` (counts of the data
    the rows were scored on) filled by the table's builder. A placeholder the builder did not
    fill raises instead of reaching the report as ``{n_test}``, or as a paper's number that
    this run's data do not have."""
    try:
        return template.format_map(dict(fields or {}))
    except KeyError as e:
        raise KeyError(f"table title {template!r} needs {e.args[0]!r} from its builder") from None


@dataclass
class Cell:
    """One table cell: a metric for one row over seeds."""

    table: str
    row: str
    variant: str
    metric: str
    protocol: str
    values: Sequence[float]
    paper: float | None = None
    ci: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)  # per-cell context (e.g. weights), overrides the table's
    flag: str = ""  # degenerate cell: what a reader must know before reading its number

    def as_record(self, context: Mapping) -> dict:
        vals = np.asarray([v for v in self.values if v is not None and not math.isnan(v)], float)
        mean = float(vals.mean()) if len(vals) else float("nan")
        std = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")  # one seed: no spread
        delta = mean - self.paper if self.paper is not None else None
        return {
            "table": self.table, "row": self.row, "variant": self.variant, "metric": self.metric,
            "protocol": self.protocol, "mean": mean, "std": std, "n_seeds": len(vals),
            "ci_low": self.ci[0] if self.ci else None, "ci_high": self.ci[1] if self.ci else None,
            "paper": self.paper, "delta": delta, **context, **self.extra, "flag": self.flag,
        }


def long_frame(cells: Sequence[Cell], context: Mapping) -> pd.DataFrame:
    return pd.DataFrame([c.as_record(context) for c in cells], columns=LONG_COLUMNS)


# ---------------------------------------------------------------------------- rendering


def _fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}".replace(",", " ")
    return f"{x:.{digits}f}"


def metric_digits(metric: str) -> int:
    """Decimals a metric is printed with: fractions (AUC, MCC, F1, accuracy) 3, percentages
    (``*_%``, UAR, Sp/Se/Score) 1, parameter and record counts 0 (millions 3)."""
    if metric in ("params", "n_train"):
        return 0
    if metric == "params_M":
        return 3
    if metric == "epochs_run":
        return 1
    if metric.endswith("_%") or metric.startswith(("rel_change", "Sp", "Se", "Score")):
        return 1
    return 3


INTERVAL_NOTE = ("it covers test sampling (a bootstrap over the test recordings, stratified by class) and "
                 "seed spread (the between-seed variance), with t quantiles (auscult.stats.paired.estimate); "
                 "cells over one seed cover test sampling only. ± is the between-seed standard deviation. "
                 "⚠ marks a degenerate cell (constant predictor, identical to another row, reversed "
                 "decision rule): claims exclude or merge such rows.")


def reversed_flag(ci: tuple[float, float] | None, where: str = "") -> str:
    """A transfer AUC whose whole interval lies below 0.5: the model's decision rule flips
    between datasets (it keys on something that differs), not merely a weak model."""
    return f"reversed decision rule{where} (interval below 0.5)" if ci is not None and ci[1] < 0.5 else ""


def budget_banner(budget: str) -> str | None:
    """The warning every table below the paper budget carries above its numbers."""
    if budget == "paper":
        return None
    return (f"Pipeline check at budget {budget}, not a reproduction; paper values for orientation.")


def _cell_text(r: pd.Series, digits: int, mark_weights: bool = False, mark_seeds: bool = False) -> str:
    text = _fmt(r["mean"], digits)
    if r["n_seeds"] > 1 and pd.notna(r["std"]) and r["std"]:
        text += f" ± {_fmt(r['std'], digits)}"
    if pd.notna(r["ci_low"]):
        text += f" [{_fmt(r['ci_low'], digits)}, {_fmt(r['ci_high'], digits)}]"
    if mark_weights:
        text += f" ({r['weights']})"
    if mark_seeds:
        text += f" ({int(r['n_seeds'])} seed{'s' if r['n_seeds'] != 1 else ''})"
    if isinstance(r.get("flag"), str) and r["flag"]:
        text += f" ⚠ {r['flag']}"
    return text


def render_markdown(df: pd.DataFrame, *, title: str, notes: Sequence[str], provenance: Mapping) -> str:
    """A wide table: one line per (row, protocol), per metric 'ours' and 'paper (Δ)'."""
    metrics = list(dict.fromkeys(df["metric"]))
    # a metric the paper does not report gets no 'paper (Δ)' column
    with_paper = {m for m in metrics if df.loc[df["metric"] == m, "paper"].notna().any()}
    header = ["Row", "Protocol"]
    for m in metrics:
        header += [m, f"{m}: paper (Δ)"] if m in with_paper else [m]
    lines = [f"# {md.text(title)}", ""]
    banner = budget_banner(str(df.iloc[0]["budget"])) if len(df) else None
    if banner:
        lines += [f"> **{md.text(banner)}**", ""]
    lines += ["| " + " | ".join(md.cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    mixed = df["weights"].nunique() > 1  # then every cell says which weights it started from
    # rows may run fewer seeds than others (a reduced budget's extra rows): such cells say so
    most = int(df["n_seeds"].max()) if len(df) else 0
    counts = ("params", "params_M")
    for (row, protocol), g in df.groupby(["row", "protocol"], sort=False):
        cells = [str(row), str(protocol)]
        for m in metrics:
            r = g[g["metric"] == m]
            if r.empty:
                cells += ["", ""] if m in with_paper else [""]
                continue
            r = r.iloc[0]
            digits = metric_digits(m)
            cells.append(_cell_text(r, digits, mark_weights=mixed and m != "params",
                                    mark_seeds=m not in counts and r["n_seeds"] < most))
            if m not in with_paper:
                continue
            if pd.notna(r["paper"]):
                cells.append(f"{_fmt(r['paper'], digits)} ({'+' if r['delta'] >= 0 else '−'}"
                             f"{_fmt(abs(r['delta']), digits)})")
            else:
                cells.append("–")
        lines.append("| " + " | ".join(md.cell(c) for c in cells) + " |")
    first = df.iloc[0]
    weights = ", ".join(f"{w} ({n} cells)" for w, n in df["weights"].value_counts().items()) if mixed \
        else first["weights"]
    lines += ["", md.text(f"**data = {first['data']}, weights = {weights}, budget = {first['budget']}**, "
                          f"mean ± std over {most} seed(s)"
                          + ("" if (df["n_seeds"] == most).all() else " (cells marked with a seed count: over fewer)")
                          + "; [95 % interval of the seed mean] where shown: " + INTERVAL_NOTE
                          + ("" if most > 1 else " With one seed the interval covers test sampling only.")), ""]
    lines += [f"- {md.text(n)}" for n in notes]
    lines += ["", "<details><summary>Provenance</summary>", ""]
    for k, v in provenance.items():
        lines.append(f"- **{md.text(k)}**: {md.text(v)}")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def render_latex(df: pd.DataFrame, *, title: str) -> str:
    cols = ["row", "protocol", "metric", "mean", "std", "paper", "delta"]
    banner = budget_banner(str(df.iloc[0]["budget"])) if len(df) else None
    caption = _tex(title) + (f" \\textbf{{{_tex(banner)}}}" if banner else "")
    out = ["% generated by auscult.reporting.tables; do not edit", "\\begin{table}[t]", "\\centering",
           f"\\caption{{{caption}}}", "\\begin{tabular}{lllrrrr}", "\\hline",
           " & ".join(_tex(c) for c in cols) + " \\\\", "\\hline"]
    for _, r in df.iterrows():
        d = metric_digits(str(r["metric"]))
        vals = [_tex(str(r["row"])), _tex(str(r["protocol"])), _tex(str(r["metric"])),
                _fmt(r["mean"], d), _fmt(r["std"], d), _fmt(r["paper"], d), _fmt(r["delta"], d)]
        out.append(" & ".join(vals) + " \\\\")
    out += ["\\hline", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out)


def _tex(s: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("_", "\\_"), ("%", "\\%"), ("&", "\\&"), ("#", "\\#"),
                 ("±", "$\\pm$"), ("Δ", "$\\Delta$")):
        s = s.replace(a, b)
    return s


def write_table(out_dir: str | Path, name: str, df: pd.DataFrame, *, title: str, notes: Sequence[str],
                provenance: Mapping) -> None:
    out_dir = Path(out_dir)
    write_csv(out_dir / f"{name}.csv", df)
    write_text(out_dir / f"{name}.md", render_markdown(df, title=title, notes=notes, provenance=provenance))
    write_text(out_dir / f"{name}.tex", render_latex(df, title=title))


def metrics_summary(frames: Mapping[str, pd.DataFrame]) -> dict:
    """Nested {table: {row: {metric[/protocol]: mean}}} for `dvc metrics show`."""
    out: dict = {}
    for name, df in frames.items():
        for _, r in df.iterrows():
            key = r["metric"] if r["protocol"] in ("", "test") else f"{r['metric']}/{r['protocol']}"
            out.setdefault(name, {}).setdefault(str(r["row"]), {})[key] = (
                None if math.isnan(r["mean"]) else round(float(r["mean"]), 6))
    return out


def load_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
