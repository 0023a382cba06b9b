"""Rule `manifest`: one row per labelled recording, with checksums and audio properties.

Every recording is decoded and checked (``datasets.<ds>.bad_audio``); the records dropped
under ``skip`` (and pinned recordings absent from this copy) go to the ``skipped`` output.
"""

from auscult import runlog
from auscult.atomic import write_csv
from auscult.datasets import get_dataset
from auscult.datasets.checks import checks_for, skipped_frame

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.start_job(smk)
ds = smk.wildcards.ds
checks = checks_for(ds, smk.params.dataset)
manifest = get_dataset(ds).build_manifest(smk.input.raw, hash_audio=True, checks=checks)
skipped = skipped_frame(checks)
write_csv(smk.output.skipped, skipped)
write_csv(smk.output.manifest, manifest)
log.info("%s: %d rows, %d labelled abnormal", ds, len(manifest), int((manifest["label"] > 0).sum()))
if len(skipped):
    counts = skipped["kind"].value_counts().to_dict()
    log.warning("%s: %d record(s) not in the manifest %s, listed in %s", ds, len(skipped), counts,
                smk.output.skipped)
