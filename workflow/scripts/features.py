"""Rule `features`: the sharded feature cache of one dataset under one recipe."""

import pandas as pd

from auscult import runlog
from auscult.audio import sha256_file
from auscult.features.build import build_feature_cache

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk, reap=True) as log:
    manifest = pd.read_csv(smk.input.manifest, dtype={"record_id": str, "patient_id": str}, keep_default_na=False)
    stats = build_feature_cache(
        manifest,
        smk.input.raw,
        smk.output[0],
        recipe=smk.wildcards.recipe,
        cfg=smk.params.recipe_params,
        meta={"dataset": smk.wildcards.ds, "manifest_sha256": sha256_file(smk.input.manifest)},
        workers=smk.threads,
    )
    log.info("features %s/%s: %s", smk.wildcards.ds, smk.wildcards.recipe, stats)
