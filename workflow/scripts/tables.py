"""Rule `tables`: every paper table as .csv (long), .md and .tex, plus reports/metrics.json."""

from auscult import runlog
from auscult.atomic import write_json
from auscult.params import read_yaml
from auscult.reporting import audiofuse, provenance
from auscult.reporting.tables import long_frame, metrics_summary, paper_values, write_table

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
p = smk.params
paper = paper_values()

results = {
    v: audiofuse.SeedResults(smk.input[f"metrics_{v}"], smk.input[f"predictions_{v}"]) for v in p.variants
}
tables = audiofuse.build_tables(results, p.tables, p.model_cfgs, paper, p.bootstrap)

devices = sorted({m["train"].get("device", "?") for r in results.values() for m in r.metrics})
train_s = sum(m["train"].get("wall_s", 0) for r in results.values() for m in r.metrics)
eval_s = sum(m.get("wall_s", 0) for r in results.values() for m in r.metrics)
dev = provenance.deviations(smk.config, read_yaml(smk.input.base_params))
prov = {
    "rule / code": "rule `tables` (workflow/rules/report.smk) → auscult.reporting.audiofuse.build_tables; "
    "cells from results/audiofuse/<variant>/<digest>/seed<k>/metrics.json, rule `audiofuse_evaluate` → "
    "auscult.evaluation.audiofuse.run_evaluation",
    "git commit": provenance.git_commit(),
    "params digest": f"{provenance.config_digest(smk.config)} (budget {p.budget})",
    "deviations from params.yaml": "; ".join(dev) if dev else "none",
    "seeds": ", ".join(map(str, p.seeds)),
    **{f"data: {ds}": provenance.dataset_provenance(smk.input[f"raw_{ds}"], smk.input[f"manifest_{ds}"])
       for ds in p.datasets},
    "device": ", ".join(devices),
    "wall time": f"training {train_s / 60:.1f} min, evaluation {eval_s / 60:.1f} min (sum over jobs)",
}
frames = {}
for name, cells in tables.items():
    context = {"data": p.data, "weights": "scratch", "budget": p.budget}
    df = long_frame(cells, context)
    frames[name] = df
    write_table(smk.output.tables, name, df, title=paper[name]["title"], notes=audiofuse.NOTES[name],
                provenance={**prov, "paper source": paper[name]["source"]})
    log.info("wrote %s (%d cells)", name, len(df))
write_json(smk.output.metrics, metrics_summary(frames))
