"""Obtain a dataset under its ``datasets.<name>`` parameter slice.

``source: canonical`` downloads the canonical archives, or takes the local mirror named by
``AUSCULT_DATA_MIRROR`` (a runtime setting, not a parameter: the checksums make the two
equivalent). ``source: synthetic`` writes the demo generator's recordings in the same
on-disk layout, so every later stage runs the real code path.
"""

from __future__ import annotations

from pathlib import Path

from auscult.atomic import atomic_dir, write_json
from auscult.datasets import acquire as acq
from auscult.datasets import synthetic


def acquire_or_synthesise(name: str, dest: str | Path, params: dict, *, progress: bool = True) -> Path:
    dest = Path(dest)
    if params["source"] == "canonical":
        return acq.acquire(name, dest, progress=progress)
    if params["source"] != "synthetic":
        raise ValueError(f"datasets.{name}.source: unknown source {params['source']!r}")
    with atomic_dir(dest) as tmp:
        synthetic.write_dataset(name, tmp, **params["synthetic"])
        n = acq.verify_sha256sums(tmp)
        sums = _sha(tmp / "SHA256SUMS")
        write_json(tmp / "ACQUIRED.json", {"dataset": name, "source": "synthetic",
                                           "origin": f"auscult.datasets.synthetic {params['synthetic']}",
                                           "n_files": n, "sha256sums_sha256": sums})
    return dest


def _sha(path: Path) -> str:
    from auscult.audio import sha256_file

    return sha256_file(path)
