"""Rule `acquire`: download | mirror | synthesise one dataset into data/raw/<ds>/<digest>."""

from pathlib import Path

from auscult import layout, runlog
from auscult.atomic import write_json
from auscult.datasets.source import acquire_or_synthesise

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk, reap=True) as log:
    params = smk.params.dataset
    out = acquire_or_synthesise(smk.wildcards.ds, smk.output[0], params)
    if params["source"] == "canonical":
        # What this copy is, for machines that later run without the mirror (layout.content_identity).
        content = (layout.folder_identity(smk.wildcards.ds, params) if params.get("kind") == "folder"
                   else layout.content_identity(smk.wildcards.ds))
        write_json(Path(smk.output[0]).parent / layout.SOURCE_FILE,
                   {"content": content, "digest": Path(smk.output[0]).name})
    log.info("acquired %s into %s", smk.wildcards.ds, out)
