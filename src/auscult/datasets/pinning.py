"""Computing the pins of :mod:`auscult.datasets.pinned` from a trusted copy of a dataset.

Apart from :mod:`.pinned` (which the adapters' checks read) because it reads the copy
through the adapters. Regenerate (e.g. from the offline mirror)::

    python -m auscult.datasets.pinning /path/to/mirror [dataset ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from .pinned import write_pins

__all__ = ["compute_pins", "main"]


def compute_pins(dataset: str, root: Path) -> list[dict]:
    """Pin rows for a trusted copy of ``dataset`` at ``root``."""
    from auscult.audio import scan_audio, sha256_file

    from .registry import get_dataset

    root = Path(root)
    rows: list[dict] = []
    if dataset == "icbhi2017":
        from . import icbhi2017 as ic

        rows.append({"kind": "file", "name": ic.DIAGNOSIS_FILE, "label": "",
                     "sha256": sha256_file(root / ic.DIAGNOSIS_FILE)})
        for recording, part in sorted(ic.read_split(root).items()):
            rows.append({"kind": "split", "name": recording, "label": part, "sha256": ""})
        for ann in sorted((root / "annotations").glob("*.txt")):
            rows.append({"kind": "file", "name": f"annotations/{ann.name}", "label": "",
                         "sha256": sha256_file(ann)})
        for audio in sorted((root / "audio").iterdir()):
            rows.append({"kind": "pcm", "name": audio.stem, "label": "",
                         "sha256": scan_audio(audio).pcm_sha256})
        return rows
    manifest = get_dataset(dataset).build_manifest(root, hash_audio=False)
    for rec in manifest.itertuples():
        rows.append({"kind": "pcm", "name": rec.record_id, "label": rec.original_class,
                     "sha256": scan_audio(root / rec.audio_path).pcm_sha256})
    original = root / "ORIGINAL_WAV_SHA256.txt"
    if dataset == "physionet2016" and original.is_file():
        for line in original.read_text().splitlines():
            digest, rest = line.split(maxsplit=1)
            name, size = rest.rsplit("\t", 1) if "\t" in rest else (rest, "")
            rows.append({"kind": "wav", "name": name.strip(), "label": size.strip(), "sha256": digest})
    return rows



def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    mirror, names = Path(argv[0]), argv[1:] or ["physionet2016", "pascal", "icbhi2017"]
    for name in names:
        rows = compute_pins(name, mirror / name)
        out = write_pins(name, rows)
        print(f"{name}: {len(rows)} pins -> {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
