"""Rule `tables`: every enabled paper's tables as .csv (long), .md and .tex, plus
reports/metrics.json. Each paper's cells come from its reporting module (one hop from the
table name: audiofuse_* -> auscult.reporting.audiofuse, koike_* -> auscult.reporting.koike)."""

import pandas as pd

from auscult import runlog
from auscult.atomic import write_json
from auscult.layout import FLOOR
from auscult.params import read_yaml
from auscult.reporting import audiofuse, claims, compute_cost, floor, icbhi, koike, provenance
from auscult.reporting.tables import long_frame, metrics_summary, paper_values, write_table

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
p = smk.params
paper = paper_values()
base_params = read_yaml(smk.input.base_params)


def common_provenance(pp: dict, code: str, paper_key: str) -> dict:
    dev = provenance.deviations(smk.config, base_params,
                                provenance.paper_prefixes(smk.config, paper_key, pp["datasets"]))
    return {
        "rule / code": code,
        "git commit": provenance.git_commit(),
        "params digest": f"{provenance.config_digest(smk.config)} (budget {p.budget})",
        "deviations from params.yaml": "; ".join(dev) if dev else "none",
        "seeds": ", ".join(map(str, pp["seeds"])) + "".join(
            f"; {v}: {', '.join(map(str, s))}" for v, s in pp.get("variant_seeds", {}).items() if s != pp["seeds"]),
        **{f"data: {ds}": provenance.dataset_provenance(smk.input[f"raw_{ds}"], smk.input[f"manifest_{ds}"])
           for ds in pp["datasets"]},
    }


def skipped_notes(pp: dict) -> list[str]:
    """One note per dataset of the paper whose manifest build left records out."""
    notes = [provenance.skipped_note(ds, smk.input[f"manifest_{ds}"]) for ds in pp["datasets"]]
    return [n for n in notes if n]


def write_all(tables: dict, notes: dict, context: dict, prov: dict, frames: dict, pp: dict) -> None:
    extra = skipped_notes(pp)
    notes = {k: [*v, *extra] for k, v in notes.items()}
    for name, cells in tables.items():
        df = long_frame(cells, context)
        frames[name] = df
        write_table(smk.output.tables, name, df, title=paper[name]["title"], notes=notes[name],
                    provenance={**prov, "paper source": paper[name]["source"]})
        log.info("wrote %s (%d cells)", name, len(df))


frames: dict = {}
devices: set[str] = set()
if "audiofuse" in p.papers:
    pp = p.papers["audiofuse"]
    results = {v: audiofuse.SeedResults(smk.input[f"metrics_{v}"], smk.input[f"predictions_{v}"])
               for v in pp["variants"]}
    tables_cfg, notes = pp["tables"], {k: list(v) for k, v in audiofuse.NOTES.items()}
    if pp["floor"]:  # the reference floor: one more entry, rows in T1 and T2
        results[FLOOR] = audiofuse.SeedResults(smk.input[f"metrics_{FLOOR}"], smk.input[f"predictions_{FLOOR}"])
        tables_cfg = floor.with_floor(tables_cfg, ["t1_physionet", "t2_pascal"])
        fnote = floor.note(results[FLOOR].metrics[0]["train"]["model"], "the same splits, validation threshold "
                           "and PASCAL protocols (head re-trained = the floor re-fitted on the PASCAL train part)")
        notes.update({t: [*notes[t], fnote] for t in (audiofuse.T1, audiofuse.T2)})
    transfer = pd.read_csv(smk.input[f"manifest_{pp['datasets'][1]}"], dtype={"record_id": str})
    several_sets = "subset" in transfer and transfer["subset"].nunique() > 1
    subsets = audiofuse.pascal_subsets(transfer) if several_sets else None
    if several_sets:
        notes[audiofuse.T2].append(audiofuse.subset_note(transfer))
    tables = audiofuse.build_tables(results, tables_cfg, pp["model_cfgs"], paper, pp["bootstrap"], subsets)
    train_s = sum(m["train"].get("wall_s", 0) for r in results.values() for m in r.metrics)
    eval_s = sum(m.get("wall_s", 0) for r in results.values() for m in r.metrics)
    prov = {
        **common_provenance(pp, "rule `tables` (workflow/rules/report.smk) → auscult.reporting.audiofuse."
                            "build_tables; cells from results/audiofuse/<variant>/<digest>/seed<k>/metrics.json, "
                            "rule `audiofuse_evaluate` → auscult.evaluation.audiofuse.run_evaluation", "audiofuse"),
        "device": ", ".join(sorted({m["train"].get("device_name", "?") for r in results.values() for m in r.metrics})),
        "wall time": f"training {train_s / 60:.1f} min, evaluation {eval_s / 60:.1f} min (sum over jobs)",
    }
    devices |= {m["train"].get("device_name", "?") for r in results.values() for m in r.metrics}
    write_all(tables, notes, {"data": pp["data"], "weights": "scratch", "budget": p.budget}, prov, frames, pp)

if "koike" in p.papers:
    pp = p.papers["koike"]
    runs = {v: koike.KoikeRuns(smk.input[f"koike_train_summary_{v}"], smk.input[f"koike_predictions_{v}"])
            for v in pp["variants"]}
    models, tables_cfg, floor_notes = pp["models"], pp["tables"], []
    if pp["floor"]:  # the reference floor: one more model (its input: the floor recipe), rows in T4 and T5
        runs[f"{FLOOR}_{pp['floor']}"] = koike.KoikeRuns(smk.input[f"koike_train_summary_{FLOOR}"],
                                                         smk.input[f"koike_predictions_{FLOOR}"])
        models = {**models, FLOOR: [pp["floor"]]}
        tables_cfg = floor.with_floor(tables_cfg, ["t4_uar", "t5_spec_sens_f1"])
        floor_notes = [floor.note(runs[f"{FLOOR}_{pp['floor']}"].summaries[0]["model"],
                                  "the same 3:1:1 parts (trained on train; dev unused, nothing to select), test "
                                  "scored at probability 0.5")]
    tables = koike.build_tables(runs, models, tables_cfg, paper, pp["bootstrap"])
    train_s = sum(s.get("wall_s", 0) for r in runs.values() for s in r.summaries)
    notes = {k: [*v, koike.split_note(runs), koike.paper_consistency_note(paper), *floor_notes]
             for k, v in koike.NOTES.items()}
    prov = {
        **common_provenance(pp, "rule `tables` (workflow/rules/report.smk) → auscult.reporting.koike.build_tables; "
                            "cells from runs/koike/<model>/<input>/<digest>/seed<k>/predictions.csv, rule "
                            "`koike_train` → auscult.training.koike.run_training", "koike"),
        "device": ", ".join(sorted({s.get("device_name", "?") for r in runs.values() for s in r.summaries})),
        "wall time": f"training {train_s / 60:.1f} min (sum over jobs)",
    }
    devices |= {s.get("device_name", "?") for r in runs.values() for s in r.summaries}
    write_all(tables, notes, {"data": pp["data"], "weights": "see cell", "budget": p.budget}, prov, frames, pp)

if "ast_sam" in p.papers:
    from auscult.datasets import icbhi2017, synthetic_icbhi

    pp = p.papers["ast_sam"]
    seed_metrics = {v: icbhi.load_seed_metrics(smk.input[f"ast_sam_metrics_{v}"]) for v in pp["variants"]}
    raw = smk.input[f"raw_{pp['datasets'][0]}"]
    if pp["data_source"] == "synthetic":  # the demo database: every recording generated
        n = len(icbhi2017.read_split(raw))
        summary = {"synthesised": n, "recordings": n}
    else:
        summary = synthetic_icbhi.synthesis_summary(raw)
    devices |= {(m.get("train") or {}).get("device_name") or "?" for r in seed_metrics.values() for m in r}
    prov = common_provenance(pp, "rule `tables` (workflow/rules/report.smk) → auscult.reporting.icbhi.t6_cells; "
                             "cells from results/ast_sam/<variant>/<digest>/seed<k>/metrics.json, rule "
                             "`icbhi_evaluate` → auscult.evaluation.icbhi.run_evaluation (trained by rule "
                             "`icbhi_train` → auscult.training.icbhi.run_training)", "ast_sam")
    tables = {icbhi.T6: icbhi.t6_cells(seed_metrics, pp["tables"]["t6_ablation"], paper)}
    first = next(iter(seed_metrics.values()))[0]
    trained = first.get("train") or {}  # absent in results written before it was recorded
    used = (f"Cycles used here: {trained.get('n_train', '?')} train / {trained.get('n_val', '?')} validation / "
            f"{first['n_test']} test (ast_sam.split caps them on small budgets).")
    manifest = pd.read_csv(smk.input[f"manifest_{pp['datasets'][0]}"], dtype={"patient_id": str})
    write_all(tables, {icbhi.T6: [*icbhi.NOTES, icbhi.input_note(pp["max_length"]), icbhi.split_note(manifest), used]}, {"data": icbhi.data_label([summary]),
                                                "weights": icbhi.weights_label(seed_metrics), "budget": p.budget},
              prov, frames, pp)

if p.cross:  # the cross-dataset table (auscult.reporting.cross_dataset)
    from auscult.reporting import cross_dataset as xd

    pc = p.cross
    scores = xd.load_scores([smk.input[f"cross_{f}"] for f in pc["families"]])
    table = xd.build_table(scores, pc["bootstrap"], targets=pc["targets"], data=pc["data"], budget=p.budget)
    xd.write(smk.output.tables, table, notes=[*xd.NOTES, *xd.padding_notes(table, pc["clip_seconds"])],
             provenance={"rule / code": "rule `tables` (workflow/rules/report.smk) → auscult.reporting.cross_dataset."
                         "build_table; scores from results/cross_dataset/<family>/<digest>/scores.csv, rule "
                         "`cross_dataset_score` → auscult.evaluation.cross_dataset",
                         "git commit": provenance.git_commit(),
                         "params digest": f"{provenance.config_digest(smk.config)} (budget {p.budget})",
                         "targets": ", ".join(pc["targets"])},
             budget=p.budget)
    log.info("wrote cross_dataset (%d rows)", len(table))

# Compute cost of every table and model, from the jobs' benchmark files.
cost = compute_cost.cost_frame(compute_cost.jobs(smk.config), device=", ".join(sorted(devices)) or "?")
compute_cost.write_compute_cost(smk.output.tables, cost, provenance={
    "rule / code": "rule `tables` (workflow/rules/report.smk) → auscult.reporting.compute_cost.cost_frame; "
    "benchmark files of every rule (benchmark: directive)",
    "git commit": provenance.git_commit(),
    "params digest": f"{provenance.config_digest(smk.config)} (budget {p.budget})",
})
log.info("wrote compute_cost (%d lines)", len(cost))
write_json(smk.output.metrics, metrics_summary(frames))
verdicts = claims.evaluate(frames, claims.load_claims(smk.input.claims))
claims.write_claims(verdicts, smk.output.claims_md, smk.output.claims_csv)
log.info("claims: %s", verdicts["verdict"].value_counts().to_dict())
