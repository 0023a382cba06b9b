"""Rule `floor_<paper>_run`: the reference floor under one paper's protocol, one seed (the
paper module's ``FLOOR``). Imports only numpy/pandas/scikit-learn: runs from cached features."""

from pathlib import Path

from auscult import registry, runlog

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk) as log:
    registry.load_configured(smk.config)
    run_floor = registry.resolve(registry.get(smk.params.paper).FLOOR)
    run_floor(
        features=list(smk.input.features),
        floor_params=smk.params.floor,
        seed=int(smk.wildcards.seed),
        out_dir=Path(smk.output[0]).parent,
        threads=smk.threads,
    )
    log.info("floor (%s protocol) seed %s: done", smk.params.paper, smk.wildcards.seed)
