"""Provenance for table footers: code version, parameters, data, compute."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from auscult.params import digest


def git_commit(cwd: str | Path = ".") -> str:
    """HEAD commit, with '+dirty' when tracked source files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src",
                                "workflow", "params.yaml", "config"], cwd=cwd, capture_output=True,
                               text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def flatten(d: Mapping, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def deviations(config: Mapping, base: Mapping, prefixes: Sequence[str] | None = None) -> list[str]:
    """Settings where ``config`` differs from ``base`` (params.yaml), as 'key: base → now';
    only keys equal to or below one of the dotted ``prefixes`` when given (a table lists
    the settings its own paper reads, not another paper's)."""
    a, b = flatten(base), flatten(config)
    keys = sorted(set(a) | set(b))
    if prefixes is not None:
        keys = [k for k in keys if any(k == p or k.startswith(p + ".") for p in prefixes)]
    return [f"{k}: {a.get(k, '∅')} → {b.get(k, '∅')}" for k in keys if a.get(k) != b.get(k)]


def paper_prefixes(config: Mapping, paper: str, datasets: Sequence[str]) -> list[str]:
    """The params.yaml keys a paper's tables depend on: its block, its datasets, its feature
    recipe(s) and the budget label."""
    block = config.get(paper, {})
    recipes = [block["features"]] if isinstance(block.get("features"), str) else []
    return ["budget", paper, *(f"datasets.{d}" for d in datasets), *(f"features.{r}" for r in recipes)]


def public_origin(source: str, origin: str) -> str:
    """Where the data came from, without this machine's paths: a mirror folder is named as
    ``$AUSCULT_DATA_MIRROR/<dataset>``, a URL stays a URL."""
    if source == "mirror" and origin:
        return f"$AUSCULT_DATA_MIRROR/{Path(origin).name}"
    if origin.startswith("/"):
        return f"<local>/{Path(origin).name}"
    return origin


def dataset_provenance(raw_dir: str | Path, manifest: str | Path) -> str:
    from auscult.audio import sha256_file

    info_path = Path(raw_dir) / "ACQUIRED.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    source = info.get("source", "unknown")
    origin = public_origin(source, str(info.get("origin", "")))
    sums = info.get("sha256sums_sha256", "")
    return (f"source={source} ({origin}); SHA256SUMS sha256={sums[:16]}…; "
            f"manifest sha256={sha256_file(manifest)[:16]}…")


def config_digest(config: Mapping) -> str:
    return digest(config)


def skipped_note(dataset: str, manifest: str | Path, shown: int = 20) -> str | None:
    """The records a manifest build dropped (``bad_audio: skip``, absent, unlabelled), for the
    notes of every table built on that dataset; None when nothing was dropped."""
    from auscult.datasets import skipped_records

    df = skipped_records(manifest)
    if df.empty:
        return None
    items = [f"{r.record_id} ({r.kind}: {r.problem})" for r in df.head(shown).itertuples()]
    more = f"; and {len(df) - shown} more" if len(df) > shown else ""
    return (f"{len(df)} record(s) of {dataset} were left out when its manifest was built "
            f"(datasets.{dataset}.bad_audio and the pinned checksums; list in {Path(manifest).name[:-4]}"
            f".skipped.csv): " + "; ".join(items) + more + ".")
