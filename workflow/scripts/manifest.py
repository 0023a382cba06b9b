"""Rule `manifest`: one row per labelled recording, with checksums and audio properties.

Every recording is decoded and checked (``datasets.<ds>.bad_audio``); the records dropped
under ``skip`` (and pinned recordings absent from this copy) go to the ``skipped`` output.
Problems name the file the user can fix: the mirror's file where the copy came from one.
"""

import json
from pathlib import Path

from auscult import runlog
from auscult.atomic import write_csv
from auscult.datasets import ManifestError, adapter
from auscult.datasets.checks import checks_for, skipped_frame

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk, reap=True) as log:
    ds = smk.wildcards.ds
    raw = Path(smk.input.raw)
    try:
        acquired = json.loads((raw / "ACQUIRED.json").read_text())
    except (OSError, ValueError):
        acquired = {}
    mirror = acquired.get("origin") if acquired.get("source") == "mirror" else None

    def user_facing(text: str) -> str:
        """Name the mirror's file rather than the pipeline's copy of it."""
        return text.replace(str(raw), mirror) if mirror else text

    checks = checks_for(ds, smk.params.dataset)
    try:
        module = adapter(ds, smk.params.dataset)
        kw = {"dataset": ds} if module.NAME == "folder" else {}
        manifest = module.build_manifest(raw, hash_audio=True, checks=checks, **kw)
    except ValueError as e:
        if mirror and runlog.is_data_error(e):
            raise ManifestError(user_facing(str(e))) from e
        raise
    skipped = skipped_frame(checks)
    skipped["path"] = [p.replace(f"{raw}/", "") for p in skipped["path"]]
    write_csv(smk.output.skipped, skipped)
    write_csv(smk.output.manifest, manifest)
    log.info("%s: %d rows, %d labelled abnormal", ds, len(manifest), int((manifest["label"] > 0).sum()))
    if len(skipped):
        counts = skipped["kind"].value_counts().to_dict()
        log.warning("%s: %d record(s) not in the manifest %s, listed in %s", ds, len(skipped), counts,
                    smk.output.skipped)
