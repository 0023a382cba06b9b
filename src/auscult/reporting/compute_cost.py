"""What each table cost to compute: wall time, CPU time and peak memory, summed from the
benchmark files of the jobs behind it, and on what device.

Every heavy rule (the reference floor's included) names a log ``benchmark``,
``<stage folder>/benchmarks/<...>.tsv``, that the job writes itself when it ends
(:func:`auscult.runlog.write_benchmark`: exact CPU seconds, Snakemake's ``benchmark:`` columns,
which a rule of a paper from outside the package may use instead). It lies inside the folder
the job's DVC stage versions, so ``dvc pull`` brings the figures along with the artifacts. A
job's table membership comes from params (the variants each table lists). Jobs whose benchmark
file is absent (for example outputs restored by DVC from an older run without one) are
counted as missing, never guessed.

``reports/tables/compute_cost.{csv,md}``: one line per (scope, name, stage) where scope is
``table`` (every job a table depends on, shared data and feature jobs included), ``model``
(the training/evaluation jobs of one variant) or ``total``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from auscult import layout
from auscult.atomic import write_csv, write_text
from auscult.reporting import markdown as md

COLUMNS = ["scope", "name", "stage", "n_jobs", "n_missing", "wall_s", "cpu_s", "peak_rss_mb", "device",
           "steps", "s_per_step", "gpu_max_mem_mb"]


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
            "steps": num("steps"), "s_per_step": num("s_per_step"), "gpu_max_mem_mb": num("gpu_max_mem_mb"),
            "ended": path.stat().st_mtime}


def jobs(config: Mapping) -> list[dict]:
    """Every heavy job of the enabled papers: stage, variant, tables it feeds, benchmark path
    (:func:`auscult.layout.benchmark_path` of what the job writes, its rule's ``log: benchmark=``)."""
    from auscult import registry

    out: list[dict] = []
    feature_jobs: dict[str, dict] = {}

    def features(ds: str, recipe: str, tables: Sequence[str]) -> None:
        job = feature_jobs.setdefault(f"{ds}/{recipe}", {
            "stage": "features", "variant": f"{ds}/{recipe}", "tables": set(),
            "path": layout.benchmark_path(layout.features_dir(config, ds, recipe))})
        job["tables"].update(tables)
        for kind, artifact in (("raw", layout.raw_dir), ("manifests", layout.manifest_path)):
            key = f"{kind}:{ds}"
            feature_jobs.setdefault(key, {"stage": "data", "variant": ds, "tables": set(),
                                          "path": layout.benchmark_path(artifact(config, ds))})
            feature_jobs[key]["tables"].update(tables)

    for paper in registry.enabled(config):  # each paper's training/evaluation jobs, its feature caches
        paper_jobs, uses = paper.cost_jobs(config)
        out += paper_jobs
        for ds, recipe, tables in uses:
            features(ds, recipe, tables)
    # the reference floor: one job per seed and paper (fit + every protocol), and its feature caches
    for name in layout.floor_papers(config):
        paper, p = registry.get(name), config[name]
        floor_tables = [f"{name}_{t}" for t in paper.FLOOR_TABLES]
        recipe = config["floor"]["features"]
        for s in p["seeds"]:
            out.append({"stage": "train", "variant": f"{layout.FLOOR} ({name})", "tables": set(floor_tables),
                        "path": layout.benchmark_path(layout.floor_dir(config, name, s))})
        # a dataset's floor cache serves the floor tables the paper's own cache of it serves
        # (e.g. a transfer dataset's only the transfer tables)
        served = {ds: set(tables) for ds, _, tables in paper.cost_jobs(config)[1]}
        for ds in layout.floor_datasets(config, name):
            features(ds, recipe, [t for t in floor_tables if t in served.get(ds, ())])
    # the cross-dataset table: one scoring job per model family, and the targets' feature caches
    for family in layout.cross_models(config):
        scores = layout.cross_scores(config, family)
        out.append({"stage": "evaluate", "variant": f"cross_dataset ({family})", "tables": {"cross_dataset"},
                    "path": layout.benchmark_path(scores.rsplit("/", 1)[0], depth=layout.CROSS_DEPTH)})
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
    for r in rows:  # every training job: its peak memory and seconds per optimizer step
        if r["stage"] == "train" and r["bench"] is not None:
            b = r["bench"]
            gpu = b.get("gpu_max_mem_mb", float("nan"))
            # its own device: a CUDA run always records its GPU memory; the tables' union of
            # devices would label a CPU-only job with every device of the build
            records.append({"scope": "job", "name": f"{r['variant']} ({Path(r['path']).stem})", "stage": "train",
                            "n_jobs": 1, "n_missing": 0, "wall_s": round(b["wall_s"], 2),
                            "cpu_s": round(b["cpu_s"], 2), "peak_rss_mb": round(b["peak_rss_mb"], 1),
                            "device": "cpu" if math.isnan(gpu) else "cuda", "steps": b.get("steps", float("nan")),
                            "s_per_step": b.get("s_per_step", float("nan")), "gpu_max_mem_mb": gpu})
    total = _sum(rows, device)
    records.append({"scope": "total", "name": "all jobs", "stage": "all", **total})
    records.append({"scope": "total", "name": ELAPSED, "stage": "all", **total,
                    "wall_s": _elapsed(rows), "cpu_s": float("nan")})
    return pd.DataFrame(records, columns=COLUMNS)


ELAPSED = "wall clock with a job running (union of job intervals)"


def _elapsed(rows: list[dict]) -> float:
    """Seconds during which at least one job ran: the union of the jobs' [start, end] intervals
    (end = the benchmark file's mtime, start = end minus its wall time). Parallel jobs count
    once, so this is the budget's wall clock; gaps between separate invocations (a budget run
    in parts, e.g. one table rerun after a parameter change) are left out rather than counted
    as work."""
    spans = sorted((b["ended"] - b["wall_s"], b["ended"]) for b in
                   (r["bench"] for r in rows if r["bench"] is not None))
    if not spans:
        return float("nan")
    total, (lo, hi) = 0.0, spans[0]
    for start, end in spans[1:]:
        if start > hi:
            total, lo = total + hi - lo, start
        hi = max(hi, end)
    return round(total + hi - lo, 2)


def render_markdown(df: pd.DataFrame, *, provenance: Mapping) -> str:
    lines = ["# Compute cost per table and per model", "",
             "Summed from the benchmark files of the jobs behind each table (wall and CPU "
             "seconds; peak RSS is the largest single job). Shared data and feature jobs count towards "
             "every table that uses them; `n_missing` jobs had no benchmark file (not guessed). The "
             f"last line, *{ELAPSED}*, is the budget's wall clock: the time during which at least "
             "one job ran, from the benchmark files' times (parallel jobs count once, idle gaps between "
             "separate invocations are left out; meaningful in the tree that ran the jobs, not after "
             "`dvc pull`).", "",
             "| scope | name | stage | jobs | missing | wall (min) | CPU (min) | peak RSS (MB) | device |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in df[df["scope"] != "job"].iterrows():
        cells = [r["scope"], r["name"], r["stage"], r["n_jobs"], r["n_missing"], f"{r['wall_s'] / 60:.2f}",
                 _minutes(r["cpu_s"]), f"{r['peak_rss_mb']:.0f}", r["device"]]
        lines.append("| " + " | ".join(md.cell(c) for c in cells) + " |")
    jobs_ = df[df["scope"] == "job"]
    if len(jobs_):
        lines += ["", "## Training jobs: peak memory and seconds per optimizer step", "",
                  "One row per training job (a job may train several runs: one model on each input). "
                  "Peak RSS is host memory of the job's process; seconds per step time the training "
                  "passes only (no validation, no BatchNorm recalibration), from the runs' summaries; "
                  "GPU memory is torch's peak allocation, on CUDA only.", "",
                  "| job | wall (s) | peak RSS (MB) | steps | s per step | GPU memory (MB) | device |",
                  "|---|---|---|---|---|---|---|"]
        for _, r in jobs_.iterrows():
            cells = [r["name"], f"{r['wall_s']:.1f}", f"{r['peak_rss_mb']:.0f}", _num(r["steps"], "{:.0f}"),
                     _num(r["s_per_step"], "{:.3f}"), _num(r["gpu_max_mem_mb"], "{:.0f}"), r["device"]]
            lines.append("| " + " | ".join(md.cell(c) for c in cells) + " |")
    lines += ["", "<details><summary>Provenance</summary>", ""]
    lines += [f"- **{md.text(k)}**: {md.text(v)}" for k, v in provenance.items()]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _num(value, fmt: str) -> str:
    return "–" if pd.isna(value) else fmt.format(value)


def _minutes(seconds: float) -> str:
    return "–" if pd.isna(seconds) else f"{seconds / 60:.2f}"


def write_compute_cost(out_dir: str | Path, df: pd.DataFrame, *, provenance: Mapping) -> None:
    out_dir = Path(out_dir)
    write_csv(out_dir / "compute_cost.csv", df)
    write_text(out_dir / "compute_cost.md", render_markdown(df, provenance=provenance))
