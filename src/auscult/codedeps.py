"""The library modules each rule runs: the rules' code inputs, in one place.

Shared rules are listed here; a paper's rules in its module's ``CODE`` (rule name, or a
``fnmatch`` pattern such as ``koike_run_*``, to module paths). ``auscult.smk.rule_code``
turns them into a rule's ``code`` input, and ``tests/test_dag_contract.py`` checks each
against the deps of the DVC stage that may run the rule (``dvc.yaml``), so the two cannot
drift apart. Paths are ``src/auscult/<module>.py`` without the prefix and suffix.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from auscult import registry

SHARED: dict[str, tuple[str, ...]] = {
    "manifest": ("datasets/physionet2016", "datasets/pascal", "datasets/icbhi2017", "datasets/checks",
                 "datasets/pinned", "audio"),
    "features": ("features/build", "features/store", "features/floor", "audio"),
    "cross_dataset_score": ("evaluation/cross_dataset", "cli", "cards", "training/floor", "splits"),
    "tables": ("reporting/build", "reporting/tables", "reporting/markdown", "reporting/compute_cost",
               "reporting/provenance", "reporting/claims", "reporting/floor", "reporting/cross_dataset",
               "reporting/snapshot"),
    "figures": ("reporting/build", "reporting/figures"),
    "report_html": ("reporting/notebook",),
}


def rule_code(rule: str) -> list[str]:
    """The modules rule ``rule`` runs (``KeyError`` for a rule no list names)."""
    from auscult import layout
    from auscult.reporting import build

    if rule in SHARED:
        out = list(SHARED[rule])
        if rule == "features":  # the registered papers' recipes
            out += registry.spec_modules("FEATURE_RECIPES") + registry.spec_modules("SEGMENT_RECIPES")
        if rule in ("tables", "figures"):  # the registered papers' hooks and table builders
            out += build.code_modules()
        return out
    for paper in layout.floor_capable():
        if rule == f"floor_{paper}_run":
            return layout.floor_code(paper)
    for module in registry.REGISTRY.values():
        for pattern, modules in (getattr(module, "CODE", {}) or {}).items():
            if fnmatchcase(rule, pattern):
                return list(modules)
    raise KeyError(f"no code list names rule {rule!r} (auscult.codedeps.SHARED or a paper module's CODE)")
