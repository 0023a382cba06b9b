"""Each paper's headline claims as data, checked against this pipeline's own tables.

The claims live in ``claims.yaml`` beside ``paper_values.yaml``: one entry per claim with
the table, metric, protocol and rows it is about. :func:`evaluate` reads the long table
frames the ``tables`` rule builds (mean over seeds and the 95 % bootstrap CI of the seed
mean over test recordings) and gives every claim a verdict:

- ``holds``: every comparison the claim makes is separated by the intervals (the lower
  bound of the larger side above the upper bound of the other);
- ``does not hold``: at least one comparison is separated the other way;
- ``inconclusive``: some interval overlaps, a row or interval is missing (e.g. one seed and
  no CI), the rows ran different numbers of seeds (a reduced budget's extra rows), or the
  data are synthetic (a pipeline check, which confirms nothing).

Cells without a bootstrap CI (e.g. relative change) use mean ± 1.96 · std / √n over seeds,
which needs at least two seeds. Claim kinds:

- ``order``: ``variants`` listed from highest to lowest; each beats the next;
- ``best``: ``variant`` beats every other row of ``among`` (default: all rows in scope);
- ``majority``: for most ``pairs`` [a, b], a beats b;
- ``beats_floor``: the paper's best row (highest mean in scope) beats the floor row
  (variant ``floor``, or ``floor_<input>`` in the Koike tables).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from auscult.atomic import write_csv, write_text
from auscult.reporting.tables import metric_digits

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
VERDICTS = ("holds", "does not hold", "inconclusive")
COLUMNS = ["paper", "id", "claim", "table", "metric", "protocol", "verdict", "evidence", "data", "budget"]
KINDS = ("order", "best", "majority", "beats_floor")
FLOOR = "floor"


def load_claims(path: str | Path = CLAIMS_FILE) -> dict[str, list[dict]]:
    """{paper: [claim, ...]} with every claim's keys checked."""
    spec = yaml.safe_load(Path(path).read_text()) or {}
    for paper, claims in spec.items():
        for c in claims:
            missing = {"id", "claim", "kind", "table", "metric"} - set(c)
            if missing:
                raise ValueError(f"{path}: claim {c.get('id', '?')} of {paper} lacks {sorted(missing)}")
            if c["kind"] not in KINDS:
                raise ValueError(f"{path}: claim {c['id']}: kind must be one of {list(KINDS)}, got {c['kind']!r}")
    return spec


@dataclass(frozen=True)
class Interval:
    variant: str
    row: str
    mean: float
    low: float | None
    high: float | None
    protocol: str = ""
    n_seeds: int = 0
    decimals: int = 3

    def text(self) -> str:
        name = f"{self.row} ({self.protocol})" if self.protocol else self.row
        d = self.decimals
        if self.low is None:
            return f"{name} {self.mean:.{d}f} (no interval)"
        return f"{name} {self.mean:.{d}f} [{self.low:.{d}f}, {self.high:.{d}f}]"


def _interval(r: pd.Series, protocol: str = "", metric: str = "") -> Interval:
    mean = float(r["mean"])
    lo, hi = r.get("ci_low"), r.get("ci_high")
    name = (str(r["variant"]), str(r["row"]))
    n, std = int(r["n_seeds"]), float(r["std"])
    if pd.notna(lo) and pd.notna(hi):
        return Interval(*name, mean, float(lo), float(hi), protocol, n, metric_digits(metric))
    if n >= 2 and math.isfinite(std):
        half = 1.96 * std / math.sqrt(n)
        return Interval(*name, mean, mean - half, mean + half, protocol, n, metric_digits(metric))
    return Interval(*name, mean, None, None, protocol, n, metric_digits(metric))


def compare(a: Interval, b: Interval) -> str:
    """Verdict of 'a is higher than b' from the two intervals."""
    if a.low is None or b.low is None or not (math.isfinite(a.mean) and math.isfinite(b.mean)):
        return "inconclusive"
    if a.low > b.high:
        return "holds"
    if a.high < b.low:
        return "does not hold"
    return "inconclusive"


def _combine(verdicts: Sequence[str]) -> str:
    if verdicts and all(v == "holds" for v in verdicts):
        return "holds"
    if any(v == "does not hold" for v in verdicts):
        return "does not hold"
    return "inconclusive"


def _scope(frame: pd.DataFrame, claim: Mapping) -> dict[str, Interval]:
    d = frame[frame["metric"] == claim["metric"]]
    if claim.get("protocol") is not None:
        d = d[d["protocol"] == claim["protocol"]]
    # rows of several protocols (e.g. Koike's two inputs) say which one they are
    many = claim.get("protocol") is None and d["protocol"].nunique() > 1
    return {str(r["variant"]): _interval(r, str(r["protocol"]) if many else "", claim["metric"]) for _, r in d.iterrows()}


def is_floor(variant: str) -> bool:
    """The reference floor's rows: variant ``floor`` (AudioFuse) or ``floor_<input>`` (Koike)."""
    return variant == FLOOR or variant.startswith(FLOOR + "_")


def _judge(claim: Mapping, rows: Mapping[str, Interval]) -> tuple[str, str]:
    """(verdict, evidence) of one claim on its scope's rows."""
    kind = claim["kind"]

    def need(*names: str) -> list[str]:
        return [n for n in names if n not in rows]

    if kind == "order":
        names = list(claim["variants"])
        if missing := need(*names):
            return "inconclusive", f"rows not in the table: {', '.join(missing)}"
        verdicts = [compare(rows[a], rows[b]) for a, b in zip(names, names[1:], strict=False)]
        return _combine(verdicts), " > ".join(rows[n].text() for n in names)
    if kind == "best":
        top = claim["variant"]
        others = [n for n in (claim.get("among") or rows) if n != top and not is_floor(n)]
        if missing := need(top, *others):
            return "inconclusive", f"rows not in the table: {', '.join(missing)}"
        verdicts = [compare(rows[top], rows[o]) for o in others]
        return _combine(verdicts), f"{rows[top].text()} vs " + "; ".join(rows[o].text() for o in others)
    if kind == "majority":
        pairs = [p for p in claim["pairs"] if p[0] in rows and p[1] in rows]
        if not pairs:
            return "inconclusive", "no pair of rows in the table"
        verdicts = [compare(rows[a], rows[b]) for a, b in pairs]
        n_hold, n_not = verdicts.count("holds"), verdicts.count("does not hold")
        if n_hold > len(pairs) / 2:
            verdict = "holds"
        elif n_not >= len(pairs) / 2:
            verdict = "does not hold"
        else:
            verdict = "inconclusive"
        return verdict, f"{n_hold} of {len(pairs)} pairs separated in the claimed direction, {n_not} the other way"
    # beats_floor
    floors = [k for k in rows if is_floor(k)]
    if not floors:
        return "inconclusive", "no floor row in the table"
    floor = floors[0]
    models = {k: v for k, v in rows.items() if not is_floor(k) and math.isfinite(v.mean)}
    if not models:
        return "inconclusive", "no model rows in the table"
    best = max(models.values(), key=lambda r: r.mean)
    return compare(best, rows[floor]), f"best {best.text()} vs {rows[floor].text()}"


def _uneven_seeds(claim: Mapping, rows: Mapping[str, Interval]) -> str | None:
    """Why the claim's rows are not comparable, if they ran different numbers of seeds (every
    cell's ``n_seeds``; e.g. T3's extra rows at a CPU budget run one seed, its 6x8 row two)."""
    named = {*(claim.get("variants") or []), *(claim.get("among") or []),
             *(v for pair in claim.get("pairs") or [] for v in pair)}
    if claim.get("variant"):
        named.add(claim["variant"])
    counts = {k: r.n_seeds for k, r in rows.items() if not named or k in named}
    if len(set(counts.values())) > 1:
        return "its rows ran different numbers of seeds (" + ", ".join(f"{k} {n}" for k, n in counts.items()) + ")"
    return None


def evaluate(frames: Mapping[str, pd.DataFrame], claims: Mapping[str, Sequence[Mapping]]) -> pd.DataFrame:
    """One line per claim of every paper whose tables are in ``frames``."""
    out = []
    for paper, paper_claims in claims.items():
        for c in paper_claims:
            frame = frames.get(c["table"])
            if frame is None:
                continue  # that paper's tables were not built in this run
            first = frame.iloc[0] if len(frame) else {}
            data, budget = str(first.get("data", "?")), str(first.get("budget", "?"))
            rows = _scope(frame, c)
            verdict, evidence = _judge(c, rows)
            if (uneven := _uneven_seeds(c, rows)) and verdict != "inconclusive":
                evidence = f"would read '{verdict}', but {uneven}: {evidence}"
                verdict = "inconclusive"
            if data.startswith("synthetic") and verdict != "inconclusive":
                evidence = f"would read '{verdict}', but the data are synthetic (a pipeline check): {evidence}"
                verdict = "inconclusive"
            out.append({"paper": paper, "id": c["id"], "claim": c["claim"], "table": c["table"],
                        "metric": c["metric"], "protocol": c.get("protocol") or "any",
                        "verdict": verdict, "evidence": evidence, "data": data, "budget": budget})
    return pd.DataFrame(out, columns=COLUMNS)


def render_markdown(df: pd.DataFrame) -> str:
    lines = ["# Claims of the papers, checked on this pipeline's results", ""]
    budgets = sorted(set(df["budget"])) if len(df) else []
    if any(b != "paper" for b in budgets):
        lines += [f"> **Pipeline check at budget {', '.join(budgets)}, not a reproduction**: a verdict says "
                  "what these runs show, not what the paper's full budget would.", ""]
    counts = df["verdict"].value_counts()
    lines += [", ".join(f"**{counts.get(v, 0)}** {v}" for v in VERDICTS) + f" (of {len(df)} claims).", "",
              "| Paper | Claim | Verdict | Evidence (mean [95 % CI]) | Table · metric · protocol |",
              "|---|---|---|---|---|"]
    for _, r in df.iterrows():
        lines.append(f"| {r['paper']} | {r['claim']} | **{r['verdict']}** | {r['evidence']} | "
                     f"`{r['table']}` · {r['metric']} · {r['protocol']} |")
    lines += ["", "Verdicts (auscult.reporting.claims): *holds* when every comparison is separated by the "
              "95 % intervals, *does not hold* when one is separated the other way, *inconclusive* when "
              "intervals overlap, a row or interval is missing, or the data are synthetic. Claims are data: "
              "src/auscult/reporting/claims.yaml.", ""]
    return "\n".join(lines)


def write_claims(df: pd.DataFrame, md_path: str | Path, csv_path: str | Path) -> None:
    write_csv(csv_path, df)
    write_text(md_path, render_markdown(df))
