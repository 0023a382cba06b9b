"""``dvc exp run`` leaves no trace when its parameters are rejected.

``dvc exp run -S key=value`` writes the value into the workspace's ``params.yaml`` before
any stage runs, and keeps it there when the run fails. When the workflow refuses the
parameters (schema validation, before any job starts) inside such a run, the committed
``params.yaml`` of the experiment's baseline is put back, and the rejected file is kept as
``params.yaml.rejected`` (git-ignored) so that no edit is lost. Outside ``dvc exp run``
(plain ``snakemake`` or ``dvc repro``) nothing is touched: the user's own edits stay.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

EXP_ENV = ("DVC_EXP_BASELINE_REV", "DVC_EXP_NAME")


def in_experiment() -> bool:
    return any(os.environ.get(k) for k in EXP_ENV)


def restore_rejected_params(path: str | os.PathLike = "params.yaml") -> str | None:
    """Inside ``dvc exp run``: restore ``path`` from the baseline commit if that version is
    valid and differs; return a one-line note of what was done, or None."""
    if not in_experiment():
        return None
    import yaml

    from auscult.params import ParamsError, validate

    path = Path(path)
    rev = os.environ.get("DVC_EXP_BASELINE_REV") or "HEAD"
    try:
        committed = _git_show(rev, path)
        current = path.read_text()
    except (OSError, subprocess.CalledProcessError):
        return None
    if committed == current:
        return None
    try:
        validate(yaml.safe_load(committed))
    except (ParamsError, yaml.YAMLError):
        return None
    from auscult.atomic import write_text

    write_text(path.with_name(path.name + ".rejected"), current)
    write_text(path, committed)
    return (f"{path}: restored to its committed version ({rev[:12]}); the rejected values "
            f"are kept in {path.name}.rejected")


def _git_show(rev: str, path: Path) -> str:
    """``path`` as committed in ``rev`` (an absolute ``path`` is looked up from its folder)."""
    where = f"./{path.name}" if path.is_absolute() else path.as_posix()
    # --end-of-options: a value like '--output=/x' is a revision to git, never an option
    return subprocess.run(["git", "show", "--end-of-options", f"{rev}:{where}"], capture_output=True,
                          text=True, check=True, cwd=path.parent if path.is_absolute() else None).stdout
