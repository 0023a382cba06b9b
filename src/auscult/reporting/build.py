"""What rule ``tables`` reads and writes, without Snakemake: the driver behind
``workflow/rules/report.smk`` and ``workflow/scripts/tables.py``.

- :func:`table_inputs`, :func:`figure_inputs`: the files the report rules read (named as
  the builders look them up), from each enabled paper's module (:mod:`auscult.papers`);
- :func:`table_params`, :func:`figure_params`: the exact parameter slices they read;
- :func:`build_all_tables`: every enabled paper's tables (its module's ``build_tables``), the
  cross-dataset table, compute cost, ``reports/metrics.json`` and the claims.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auscult import layout, registry
from auscult.papers._shared import data_kind

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- what the report rules read
def paper_datasets(config: Mapping) -> list[str]:
    """Every dataset an enabled paper reads (its provenance and notes come from their folders)."""
    return list(dict.fromkeys(ds for p in registry.enabled(config) for ds in p.datasets(config)))


def table_inputs(config: Mapping) -> dict[str, str | list[str]]:
    """Named inputs of rule ``tables``: each enabled paper's result files, the floor's, the
    cross-dataset scores, and the raw folder and manifest of every dataset they read."""
    out: dict = {}
    for p in registry.enabled(config):
        out.update(p.table_files(config))
    for name in layout.floor_papers(config):
        out.update(registry.get(name).floor_files(config))
    out.update(cross_score_files(config))
    data = paper_datasets(config)
    out.update({f"raw_{ds}": layout.raw_dir(config, ds) for ds in data})
    out.update({f"manifest_{ds}": layout.manifest_path(config, ds) for ds in data})
    return out


def cross_score_files(config: Mapping) -> dict[str, str]:
    return {f"cross_{f}": layout.cross_scores(config, f) for f in layout.cross_models(config)}


def figure_inputs(config: Mapping) -> dict[str, list[str]]:
    out: dict = {}
    for p in registry.enabled(config):  # a paper without figures defines no figure_files
        if hasattr(p, "figure_files"):
            out.update(p.figure_files(config))
    return out


def paper_table_params(config: Mapping) -> dict:
    """The exact parameter slice each enabled paper's tables read."""
    return {p.NAME: p.table_params(config) for p in registry.enabled(config)}


def cross_table_params(config: Mapping) -> dict:
    """What the cross-dataset table reads (empty when no model family is enabled)."""
    families = layout.cross_models(config)
    if not families:
        return {}
    used = layout.cross_datasets(config) + [config[layout.cross_floor_paper()]["train_dataset"]]
    return {
        "families": families,
        "targets": config["cross_dataset"]["targets"],
        "bootstrap": config["cross_dataset"]["bootstrap"],
        "clip_seconds": {f: config["features"][layout.cross_recipe(config, f)].get("clip_seconds")
                         for f in families},
        "data": data_kind(config, used),
    }


def input_paths(files: Mapping) -> list[str]:
    """Every path of a {name: path or [paths]} mapping, sorted: a rule parameter, so that the
    rule re-runs when the *set* of files it reads changes. Its inputs from other stages are
    ancient() (digest-addressed paths, arbitrary mtimes), so a switch to results that already
    exist (a parameter set back to an earlier value, a run built on its own first) would
    otherwise leave the table stale; Snakemake's own ``input`` trigger is off (see
    profiles/default/profile.yaml)."""
    return sorted(str(x) for v in files.values() for x in (v if isinstance(v, list) else [v]))


def table_params(config: Mapping) -> dict:
    return {"budget": config["budget"], "papers": paper_table_params(config), "cross": cross_table_params(config),
            "input_paths": input_paths(table_inputs(config))}


def figure_params(config: Mapping) -> dict:
    """Each paper's figure parameters (its variant lists; empty lists when it is off)."""
    on = {p.NAME for p in registry.enabled(config)}
    out: dict = {}
    for name, p in registry.REGISTRY.items():  # a paper without figures defines no figure_params
        hook = getattr(p, "figure_params", None)
        if hook is not None:
            out.update(hook(config if name in on else None))
    return out


def code_modules() -> list[str]:
    """The modules (``src/auscult/<m>.py``) rule ``tables`` runs for the registered papers:
    each built-in paper's hooks and table builders (an external paper's rule file names its own)."""
    out = ["papers/__init__", "papers/_shared", "stats/__init__", "stats/paired"]
    for name, p in registry.REGISTRY.items():
        if registry.is_builtin(p):
            out += [f"papers/{name}/__init__", f"papers/{name}/tables"]
    return out


# ---------------------------------------------------------------- building the tables
@dataclass
class TableContext:
    """What a paper's ``build_tables`` gets: inputs by name, published values, and writers."""

    config: Mapping
    inputs: Mapping
    budget: str
    out_dir: str
    paper: dict  # published values (auscult.reporting.tables.paper_values)
    base_params: dict  # params.yaml as committed (deviations are reported against it)
    frames: dict = field(default_factory=dict)
    devices: set = field(default_factory=set)
    runs: dict = field(default_factory=dict)  # {table: {variant: {protocol: Runs}}}, for the claims
    budgets: dict = field(default_factory=dict)  # {table: {variant: {max_epochs, n_train}}}

    def add_runs(self, runs: Mapping, budgets: Mapping | None = None) -> None:
        """A paper's predictions behind its tables' cells (auscult.stats.paired.Runs), which
        the claims engine compares paired, recording by recording, and each row's configured
        training budget (the claims' matched-budget premise)."""
        for table, by_variant in runs.items():
            for variant, by_protocol in by_variant.items():
                self.runs.setdefault(table, {}).setdefault(variant, {}).update(by_protocol)
        for table, by_variant in (budgets or {}).items():
            self.budgets.setdefault(table, {}).update(by_variant)

    def common_provenance(self, pp: Mapping, code: str, paper_key: str) -> dict:
        from auscult.reporting import provenance

        dev = provenance.deviations(self.config, self.base_params,
                                    provenance.paper_prefixes(self.config, paper_key, pp["datasets"]))
        return {
            "rule / code": code,
            "git commit": provenance.git_commit(),
            "params digest": f"{provenance.config_digest(self.config)} (budget {self.budget})",
            "deviations from params.yaml": "; ".join(dev) if dev else "none",
            "seeds": ", ".join(map(str, pp["seeds"])) + "".join(
                f"; {v}: {', '.join(map(str, s))}" for v, s in pp.get("variant_seeds", {}).items()
                if s != pp["seeds"]),
            **{f"data: {ds}": provenance.dataset_provenance(self.inputs[f"raw_{ds}"], self.inputs[f"manifest_{ds}"])
               for ds in pp["datasets"]},
        }

    def run_provenance(self, pp: Mapping, code: str, paper_key: str, devices: set, wall: str) -> dict:
        """:meth:`common_provenance` plus the devices the runs used and their summed wall time
        (``wall``: e.g. 'training 3.1 min'); records the devices for the compute-cost table."""
        self.devices |= devices
        return {**self.common_provenance(pp, code, paper_key), "device": ", ".join(sorted(devices)),
                "wall time": f"{wall} (sum over jobs)"}

    def skipped_notes(self, pp: Mapping) -> list[str]:
        """One note per dataset of the paper whose manifest build left records out."""
        from auscult.reporting import provenance

        notes = [provenance.skipped_note(ds, self.inputs[f"manifest_{ds}"]) for ds in pp["datasets"]]
        return [n for n in notes if n]

    def write_all(self, tables: Mapping, notes: Mapping, context: Mapping, prov: Mapping, pp: Mapping,
                  title_fields: Mapping[str, Mapping] | None = None) -> None:
        """Write each table; ``title_fields``: {table: {placeholder: value}} for the titles in
        paper_values.yaml that name counts of the data (``{n_test}``), filled from the runs."""
        from auscult.reporting.tables import fill_title, long_frame, write_table

        extra = self.skipped_notes(pp)
        notes = {k: [*v, *extra] for k, v in notes.items()}
        for name, cells in tables.items():
            df = long_frame(cells, context)
            self.frames[name] = df
            title = fill_title(self.paper[name]["title"], (title_fields or {}).get(name))
            write_table(self.out_dir, name, df, title=title, notes=notes[name],
                        provenance={**prov, "paper source": self.paper[name]["source"]})
            log.info("wrote %s (%d cells)", name, len(df))


def build_all_tables(config: Mapping, inputs: Mapping, params: Mapping, outputs: Mapping) -> dict:
    """Write every table of rule ``tables``.

    ``inputs``: :func:`table_inputs` (paths, lists over seeds) plus ``base_params`` and
    ``claims``; ``params``: :func:`table_params`; ``outputs``: ``tables`` (folder),
    ``metrics``, ``claims_md``, ``claims_csv``. Returns the long frames by table name.
    """
    from auscult.atomic import write_json
    from auscult.params import read_yaml
    from auscult.reporting import claims, compute_cost, provenance
    from auscult.reporting.tables import metrics_summary, paper_values

    registry.load_configured(config)  # papers from outside the package, in this job's process

    budget = params["budget"]
    ctx = TableContext(config=config, inputs=inputs, budget=budget, out_dir=outputs["tables"],
                       paper=paper_values(), base_params=read_yaml(inputs["base_params"]))
    for name, pp in params["papers"].items():
        registry.get(name).build_tables(ctx, pp)
    if params["cross"]:  # the cross-dataset table (auscult.reporting.cross_dataset)
        from auscult.reporting import cross_dataset as xd

        pc = params["cross"]
        scores = xd.load_scores([inputs[f"cross_{f}"] for f in pc["families"]])
        table = xd.build_table(scores, pc["bootstrap"], targets=pc["targets"], data=pc["data"], budget=budget)
        # the scored models' papers and the table's own block (e.g. a rehearsal's record cap)
        prefixes = ["budget", "cross_dataset", *(f for f in pc["families"] if f in config["papers"])]
        dev = provenance.deviations(config, ctx.base_params, prefixes)
        xd.write(outputs["tables"], table, notes=[*xd.NOTES, *xd.padding_notes(table, pc["clip_seconds"])],
                 provenance={"rule / code": "rule `tables` (workflow/rules/report.smk) → auscult.reporting."
                             "cross_dataset.build_table; scores from `results/cross_dataset/<family>/<digest>/"
                             "scores.csv`, rule `cross_dataset_score` → auscult.evaluation.cross_dataset",
                             "git commit": provenance.git_commit(),
                             "params digest": f"{provenance.config_digest(config)} (budget {budget})",
                             "deviations from params.yaml": "; ".join(dev) if dev else "none",
                             "targets": ", ".join(pc["targets"])},
                 budget=budget)
        log.info("wrote cross_dataset (%d rows)", len(table))
    # Compute cost of every table and model, from the jobs' benchmark files.
    cost = compute_cost.cost_frame(compute_cost.jobs(config), device=", ".join(sorted(ctx.devices)) or "?")
    compute_cost.write_compute_cost(outputs["tables"], cost, provenance={
        "rule / code": "rule `tables` (workflow/rules/report.smk) → auscult.reporting.compute_cost.cost_frame; "
        "benchmark files of every rule (its log `benchmark`, auscult.runlog.write_benchmark)",
        "git commit": provenance.git_commit(),
        "params digest": f"{provenance.config_digest(config)} (budget {budget})",
    })
    log.info("wrote compute_cost (%d lines)", len(cost))
    write_json(outputs["metrics"], metrics_summary(ctx.frames))
    verdicts = claims.evaluate(ctx.frames, claims.load_claims(inputs["claims"]), ctx.runs, ctx.budgets)
    claims.write_claims(verdicts, outputs["claims_md"], outputs["claims_csv"])
    from auscult.reporting import (
        snapshot,  # the README's results snapshot, from what was just written
    )

    snapshot.write(Path(outputs["claims_csv"]).parent, Path(outputs["tables"]) / "snapshot.md")
    log.info("claims: %s", verdicts["verdict"].value_counts().to_dict())
    return ctx.frames


def build_all_figures(inputs: Mapping, params: Mapping, outputs: Mapping, config: Mapping | None = None) -> None:
    """Rule ``figures``: each registered paper's figures (its module's ``build_figures``; a
    disabled paper's parameters are empty) and the cross-dataset heat map. ``inputs``:
    ``tables`` (folder) and :func:`figure_inputs`; ``params``: :func:`figure_params`;
    ``outputs``: ``figures`` and ``plots`` (plain CSVs for ``dvc plots``); ``config``: the
    workflow config, whose ``paper_modules`` are loaded."""
    if config is not None:
        registry.load_configured(config)  # papers from outside the package, in this job's process
    from pathlib import Path

    import pandas as pd

    from auscult.reporting import figures

    out, plots, tables = Path(outputs["figures"]), Path(outputs["plots"]), Path(inputs["tables"])
    out.mkdir(parents=True, exist_ok=True)
    plots.mkdir(parents=True, exist_ok=True)
    if (tables / "cross_dataset.csv").exists():
        xt = pd.read_csv(tables / "cross_dataset.csv")
        if len(xt):
            figures.cross_dataset_heatmap(
                xt, out / "cross_dataset.png",
                title=f"Zero-shot AUC per model and target ({xt['data'].iloc[0]} data, {xt['budget'].iloc[0]} budget)")
    for paper in registry.REGISTRY.values():
        if hasattr(paper, "build_figures"):  # a paper without figures defines none
            paper.build_figures(inputs, params, tables, out, plots)
    log.info("figures written to %s", out)
