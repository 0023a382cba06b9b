"""Rule `cross_dataset_score`: one model family's runs, unchanged, scored on every target."""

from auscult import runlog
from auscult.evaluation import cross_dataset as cd

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk, reap=True) as log:
    p = smk.params
    targets = [tuple(t) for t in p.targets]
    datasets = {ds for _, ds, _ in targets}
    features = {ds: smk.input[f"features_{ds}"] for ds in datasets}
    manifests = {ds: smk.input[f"manifest_{ds}"] for ds in datasets}
    runs = [tuple(r) for r in p.runs]
    if smk.wildcards.family == "floor":
        cd.score_floor(runs=runs, train_features=smk.input.train_features, targets=targets, features=features,
                       manifests=manifests, floor_params=p.cross["floor"], out=smk.output.scores, threads=smk.threads,
                       max_records=p.cross.get("max_records"))
    else:
        cd.score_deep(family=smk.wildcards.family, runs=runs, targets=targets, features=features, manifests=manifests,
                      recipe_params=p.recipe_params, threshold_rule=p.cross.get("threshold_rule"),
                      out=smk.output.scores, threads=smk.threads, max_records=p.cross.get("max_records"))
    log.info("wrote %s", smk.output.scores)
