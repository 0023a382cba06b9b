"""Rule `toy_train`: fit the toy model for one (variant, seed) and score the test records,
inside the job wrapper every workflow script uses (its log and benchmark record)."""

from pathlib import Path

from auscult import registry, runlog

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk) as log:
    registry.load_configured(smk.config)
    train = registry.resolve(registry.get("toy").TRAIN)
    train(smk.input.features, smk.params.train, int(smk.wildcards.seed), Path(smk.output.metrics).parent)
    log.info("trained toy %s seed %s", smk.wildcards.toyvar, smk.wildcards.seed)
