"""Rule `manifest`: one row per labelled recording, with checksums and audio properties."""

from auscult import runlog
from auscult.atomic import write_csv
from auscult.datasets import get_dataset

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
manifest = get_dataset(smk.wildcards.ds).build_manifest(smk.input.raw, hash_audio=True)
write_csv(smk.output[0], manifest)
log.info("%s: %d recordings, %d abnormal", smk.wildcards.ds, len(manifest), int(manifest["label"].sum()))
