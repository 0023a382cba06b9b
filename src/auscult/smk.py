"""Helpers the rule files share (the workflow's common input functions): inputs from another
stage, a rule's code inputs. Imported by ``workflow/rules/common.smk`` and by each paper's
``rules.smk``; Snakemake is imported only when a function runs."""

from __future__ import annotations

import os
from collections.abc import Mapping


def cross_stage(path):
    """An input from another stage. Its path carries a digest of its parameters, so its
    mtime says nothing (and after `dvc pull` it is arbitrary): when it exists, ignore the
    mtime (ancient). When it does not exist it stays a plain input, so Snakemake builds it
    and re-runs the consumer; a missing ancient() input would leave a stale output alone."""
    from snakemake.io import ancient

    return ancient(path) if os.path.exists(path) else path


def cross_stages(files: Mapping) -> dict:
    """cross_stage() of every path of a {name: path or [paths]} mapping."""
    return {k: [cross_stage(p) for p in v] if isinstance(v, list) else cross_stage(v) for k, v in files.items()}


def src_files(*modules):
    """Library modules a rule runs (``x/y`` for ``src/auscult/x/y.py``; a path ending ``.py``,
    an external paper's file, as it is). Listed so the DAG names its code; checkout mtimes are
    arbitrary, so they never trigger re-runs here: DVC tracks their content (dvc.yaml deps),
    and `snakemake -R <rule>` forces a re-run after editing them outside DVC."""
    from snakemake.io import ancient

    return [ancient(m if m.endswith(".py") else f"src/auscult/{m}.py") for m in modules]


def rule_code(rule: str):
    """The code input of rule ``rule``: :func:`src_files` of :func:`auscult.codedeps.rule_code`."""
    from auscult import codedeps

    return src_files(*codedeps.rule_code(rule))
