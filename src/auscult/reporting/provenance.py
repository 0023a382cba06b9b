"""Provenance for table footers: code version, parameters, data, compute."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
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


def deviations(config: Mapping, base: Mapping) -> list[str]:
    """Settings where ``config`` differs from ``base`` (params.yaml), as 'key: base → now'."""
    a, b = flatten(base), flatten(config)
    keys = sorted(set(a) | set(b))
    return [f"{k}: {a.get(k, '∅')} → {b.get(k, '∅')}" for k in keys if a.get(k) != b.get(k)]


def dataset_provenance(raw_dir: str | Path, manifest: str | Path) -> str:
    from auscult.audio import sha256_file

    info_path = Path(raw_dir) / "ACQUIRED.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    source = info.get("source", "unknown")
    origin = info.get("origin", "")
    sums = info.get("sha256sums_sha256", "")
    return (f"source={source} ({origin}); SHA256SUMS sha256={sums[:16]}…; "
            f"manifest sha256={sha256_file(manifest)[:16]}…")


def config_digest(config: Mapping) -> str:
    return digest(config)
