"""What each table cost to compute: wall time, CPU time and peak memory, summed from the
Snakemake ``benchmark:`` files of the jobs behind it, and on what device.

Every heavy rule (the reference floor's included) writes ``<stage folder>/benchmarks/<...>.tsv`` (inside the folder its DVC
stage versions, so ``dvc pull`` brings the figures along with the artifacts). A job's
table membership comes from params (the variants each table lists). Jobs whose benchmark
file is absent (for example outputs restored by DVC from an older run without one) are
counted as missing, never guessed.

``reports/tables/compute_cost.{csv,md}``: one line per (scope, name, stage) where scope is
``table`` (every job a table depends on, shared data and feature jobs included), ``model``
(the training/evaluation jobs of one variant) or ``total``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from auscult import layout
from auscult.atomic import write_csv, write_text

COLUMNS = ["scope", "name", "stage", "n_jobs", "n_missing", "wall_s", "cpu_s", "peak_rss_mb", "device"]


def read_benchmark(path: str | Path) -> dict | None:
    """Wall seconds, CPU seconds and max RSS (MB) of one benchmark file (last repeat)."""
    path = Path(path)
    if not path.is_file():
        return None
    df = pd.read_csv(path, sep="\t")
    if df.empty:
        return None
    row = df.iloc[-1]

    def num(col: str) -> float:
        v = pd.to_numeric(row.get(col), errors="coerce")
        return float(v) if pd.notna(v) else float("nan")

    # the file is written when the job ends: its mtime dates the job (for the elapsed span)
    return {"wall_s": num("s"), "cpu_s": num("cpu_time"), "peak_rss_mb": num("max_rss"),
            "ended": path.stat().st_mtime}


def jobs(config: Mapping) -> list[dict]:
    """Every heavy job of the enabled papers: stage, variant, tables it feeds, benchmark path."""
    out: list[dict] = []
    feature_jobs: dict[str, dict] = {}

    def features(ds: str, recipe: str, tables: Sequence[str]) -> None:
        d = layout.features_digest(config, ds, recipe)
        job = feature_jobs.setdefault(f"{ds}/{recipe}", {
            "stage": "features", "variant": f"{ds}/{recipe}", "tables": set(),
            "path": f"data/features/{ds}/benchmarks/{recipe}-{d}.tsv"})
        job["tables"].update(tables)
        for kind in ("raw", "manifests"):
            key = f"{kind}:{ds}"
            dd = layout.dataset_digest(config, ds)
            feature_jobs.setdefault(key, {"stage": "data", "variant": ds, "tables": set(),
                                          "path": f"data/{kind}/{ds}/benchmarks/{dd}.tsv"})
            feature_jobs[key]["tables"].update(tables)

    if "audiofuse" in config["papers"]:
        af = config["audiofuse"]
        for v in layout.table_variants(config, "audiofuse"):
            tables = [f"audiofuse_{t}" for t, rows in af["tables"].items() if v in rows]
            for s in layout.seeds(config, "audiofuse", v):
                td, ed = layout.train_digest(config, "audiofuse", v), layout.eval_digest(config, v)
                out.append({"stage": "train", "variant": v, "tables": set(tables),
                            "path": f"runs/audiofuse/{v}/benchmarks/{td}-seed{s}.tsv"})
                out.append({"stage": "evaluate", "variant": v, "tables": set(tables),
                            "path": f"results/audiofuse/{v}/benchmarks/{ed}-seed{s}.tsv"})
        names = [f"audiofuse_{t}" for t in af["tables"]]
        features(af["train_dataset"], af["features"], names)
        features(af["transfer_dataset"], af["features"], [n for n in names if "pascal" in n])
    if "koike" in config["papers"]:
        kk = config["koike"]
        models = {m for rows in kk["tables"].values() for m in rows}
        for v, (m, inp) in layout.koike_variants(kk).items():
            if m not in models:
                continue
            tables = [f"koike_{t}" for t, rows in kk["tables"].items() if m in rows]
            for s in kk["seeds"]:
                d = layout.train_digest(config, "koike", v)
                out.append({"stage": "train", "variant": v, "tables": set(tables),
                            "path": f"runs/koike/{m}/benchmarks/{inp}-{d}-seed{s}.tsv"})
        features(kk["train_dataset"], kk["features"], [f"koike_{t}" for t in kk["tables"]])
    if "ast_sam" in config["papers"]:
        asm = config["ast_sam"]
        for v in layout.table_variants(config, "ast_sam"):
            tables = [f"ast_sam_{t}" for t, rows in asm["tables"].items() if v in rows]
            d = layout.train_digest(config, "ast_sam", v)
            for s in asm["seeds"]:
                out.append({"stage": "train", "variant": v, "tables": set(tables),
                            "path": f"runs/ast_sam/{v}/benchmarks/{d}-seed{s}.tsv"})
                out.append({"stage": "evaluate", "variant": v, "tables": set(tables),
                            "path": f"results/ast_sam/{v}/benchmarks/{d}-seed{s}.tsv"})
        features(asm["train_dataset"], asm["features"], [f"ast_sam_{t}" for t in asm["tables"]])
    # the reference floor: one job per seed and paper (fit + every protocol), and its feature caches
    floor_tables = {"audiofuse": ["audiofuse_t1_physionet", "audiofuse_t2_pascal"],
                    "koike": ["koike_t4_uar", "koike_t5_spec_sens_f1"]}
    for paper in layout.floor_papers(config):
        d, p = layout.floor_digest(config, paper), config[paper]
        recipe = config["floor"]["features"]
        bench = (f"runs/koike/{layout.FLOOR}/benchmarks/{recipe}-{d}" if paper == "koike"
                 else f"results/{paper}/{layout.FLOOR}/benchmarks/{d}")
        for s in p["seeds"]:
            out.append({"stage": "train", "variant": f"{layout.FLOOR} ({paper})", "tables": set(floor_tables[paper]),
                        "path": f"{bench}-seed{s}.tsv"})
        for ds in layout.floor_datasets(config, paper):
            features(ds, recipe, [t for t in floor_tables[paper] if paper == "koike" or ds == p["train_dataset"]
                                  or "pascal" in t])
    # the cross-dataset table: one scoring job per model family, and the targets' feature caches
    for family in layout.cross_models(config):
        out.append({"stage": "evaluate", "variant": f"cross_dataset ({family})", "tables": {"cross_dataset"},
                    "path": f"results/cross_dataset/benchmarks/{family}-{layout.cross_digest(config, family)}.tsv"})
        for ds in layout.cross_datasets(config):
            features(ds, layout.cross_recipe(config, family), ["cross_dataset"])
    return out + list(feature_jobs.values())


def _sum(rows: list[dict], device: str) -> dict:
    found = [r["bench"] for r in rows if r["bench"] is not None]
    return {
        "n_jobs": len(rows), "n_missing": len(rows) - len(found),
        "wall_s": round(sum(b["wall_s"] for b in found), 2),
        "cpu_s": round(sum(b["cpu_s"] for b in found), 2),
        "peak_rss_mb": round(max((b["peak_rss_mb"] for b in found), default=float("nan")), 1),
        "device": device,
    }


def cost_frame(job_list: Sequence[Mapping], device: str, root: str | Path = ".") -> pd.DataFrame:
    """Sum the benchmark files of ``job_list`` per table, per model and in total."""
    rows = [dict(j, bench=read_benchmark(Path(root) / j["path"])) for j in job_list]
    records = []
    tables = sorted({t for r in rows for t in r["tables"]})
    for t in tables:
        mine = [r for r in rows if t in r["tables"]]
        for stage in ("data", "features", "train", "evaluate"):
            part = [r for r in mine if r["stage"] == stage]
            if part:
                records.append({"scope": "table", "name": t, "stage": stage, **_sum(part, device)})
        records.append({"scope": "table", "name": t, "stage": "all", **_sum(mine, device)})
    for v in dict.fromkeys(r["variant"] for r in rows if r["stage"] in ("train", "evaluate")):
        for stage in ("train", "evaluate"):
            part = [r for r in rows if r["variant"] == v and r["stage"] == stage]
            if part:
                records.append({"scope": "model", "name": v, "stage": stage, **_sum(part, device)})
    records.append({"scope": "total", "name": "all jobs", "stage": "all", **_sum(rows, device)})
    records.append({"scope": "total", "name": ELAPSED, "stage": "all", **_sum(rows, device),
                    "wall_s": _elapsed(rows), "cpu_s": float("nan")})
    return pd.DataFrame(records, columns=COLUMNS)


ELAPSED = "elapsed, first job start to last job end"


def _elapsed(rows: list[dict]) -> float:
    """Seconds from the earliest job start (its benchmark file's mtime minus its wall time) to
    the latest job end: the budget's wall clock when its jobs ran in one go (idle gaps and
    parallel jobs included, unlike the sum of job walls)."""
    found = [r["bench"] for r in rows if r["bench"] is not None]
    if not found:
        return float("nan")
    return round(max(b["ended"] for b in found) - min(b["ended"] - b["wall_s"] for b in found), 2)


def render_markdown(df: pd.DataFrame, *, provenance: Mapping) -> str:
    lines = ["# Compute cost per table and per model", "",
             "Summed from the Snakemake benchmark files of the jobs behind each table (wall and CPU "
             "seconds; peak RSS is the largest single job). Shared data and feature jobs count towards "
             "every table that uses them; `n_missing` jobs had no benchmark file (not guessed). The "
             f"last line, *{ELAPSED}*, is the wall clock of the whole run, from the benchmark files' "
             "times (meaningful in the tree that ran the jobs, not after `dvc pull`).", "",
             "| scope | name | stage | jobs | missing | wall (min) | CPU (min) | peak RSS (MB) | device |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        lines.append(f"| {r['scope']} | {r['name']} | {r['stage']} | {r['n_jobs']} | {r['n_missing']} | "
                     f"{r['wall_s'] / 60:.2f} | {_minutes(r['cpu_s'])} | {r['peak_rss_mb']:.0f} | {r['device']} |")
    lines += ["", "<details><summary>Provenance</summary>", ""]
    lines += [f"- **{k}**: {v}" for k, v in provenance.items()]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return "–" if pd.isna(seconds) else f"{seconds / 60:.2f}"


def write_compute_cost(out_dir: str | Path, df: pd.DataFrame, *, provenance: Mapping) -> None:
    out_dir = Path(out_dir)
    write_csv(out_dir / "compute_cost.csv", df)
    write_text(out_dir / "compute_cost.md", render_markdown(df, provenance=provenance))
