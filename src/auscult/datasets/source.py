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

MISSING_AUDIO = ("error", "synthesise")


def folder_source(name: str, params: dict) -> Path:
    """Where a ``kind: folder`` dataset with ``source: canonical`` is read from: the path in
    the environment variable ``params['path_env']`` when that is set, else
    ``$AUSCULT_DATA_MIRROR/<name>/``."""
    import os

    env = params.get("path_env")
    if env and os.environ.get(env):
        return Path(os.environ[env])
    mirror = os.environ.get(acq.MIRROR_ENV)
    if mirror:
        return Path(mirror) / name
    raise acq.MissingFileError(f"datasets.{name}: folder dataset without a location: set "
                               f"{env + ' or ' if env else ''}{acq.MIRROR_ENV} (a folder {name}/ in the mirror)")


def acquire_or_synthesise(name: str, dest: str | Path, params: dict, *, progress: bool = True) -> Path:
    dest = Path(dest)
    if params.get("kind") == "folder" and params["source"] == "canonical":
        from auscult.datasets.folder import acquire_folder

        return acquire_folder(name, folder_source(name, params), dest)
    if params["source"] == "canonical":
        acq.acquire(name, dest, progress=progress)
        # Only datasets whose parameter slice has the key (ICBHI 2017) can be filled.
        if "missing_audio" in params:
            if params["missing_audio"] not in MISSING_AUDIO:
                raise ValueError(f"datasets.{name}.missing_audio: must be one of {list(MISSING_AUDIO)}, "
                                 f"got {params['missing_audio']!r}")
            if params["missing_audio"] == "synthesise":
                fill_missing_audio(name, dest, params["fill"])
        return dest
    if params["source"] != "synthetic":
        raise ValueError(f"datasets.{name}.source: unknown source {params['source']!r}")
    with atomic_dir(dest) as tmp:
        synthetic.write_dataset("folder" if params.get("kind") == "folder" else name, tmp, **params["synthetic"])
        n = acq.verify_sha256sums(tmp)
        sums = _sha(tmp / "SHA256SUMS")
        write_json(tmp / "ACQUIRED.json", {"dataset": name, "source": "synthetic",
                                           "origin": f"auscult.datasets.synthetic {params['synthetic']}",
                                           "n_files": n, "sha256sums_sha256": sums})
    return dest


def fill_missing_audio(name: str, dest: Path, fill_params: dict) -> dict:
    """Write synthetic audio for the recordings of an acquired ``dest`` that have none, and
    record it in ``ACQUIRED.json`` (``synthesised_audio``); idempotent."""
    import json

    from auscult.datasets import synthetic_icbhi

    if name != "icbhi2017":
        raise ValueError(f"datasets.{name}: missing_audio: synthesise is only supported for icbhi2017")
    summary = synthetic_icbhi.fill_missing_audio(dest, **fill_params)
    marker = dest / acq.ACQUIRED_FILE
    record = json.loads(marker.read_text())
    record.update(synthesised_audio=dict(summary or {}, params=fill_params,
                                         list=synthetic_icbhi.SYNTHESISED_FILE),
                  sha256sums_sha256=_sha(dest / "SHA256SUMS"))
    write_json(marker, record)
    return summary


def _sha(path: Path) -> str:
    from auscult.audio import sha256_file

    return sha256_file(path)
