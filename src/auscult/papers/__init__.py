"""The built-in papers: one folder (package) per reproduced paper, registered in :mod:`auscult.registry`
(looked up there by its params.yaml key).

Shared mechanisms (``auscult.layout``, ``auscult.params``, the report rules and
``auscult.reporting.build``) never name a paper: they loop over :data:`REGISTRY` (or
:func:`enabled`) and ask the paper's module. A paper module (see ``docs/adding_a_paper.md``)
defines:

- ``NAME``: its top-level key in params.yaml (``config[NAME]``), its ``runs/<NAME>`` and
  ``results/<NAME>`` folders and the prefix of its table names;
- ``variants(config)``, ``seeds(config, variant)``, ``table_variants(config)``;
- ``model_config(config, variant)`` and ``train_slice(config, variant)``: exactly the
  parameters one training job reads (its digest, :func:`auscult.layout.train_digest`);
- ``variant_path(config, variant)`` (the variant's folder under ``runs/<NAME>``) and
  ``result_dir(config, variant, seed)`` (evaluated results, or ``None`` when the training
  job writes them);
- ``datasets(config)``: the datasets it reads (train first);
- ``FLOOR`` (``"module:run_floor"``), ``FLOOR_OUTPUTS``, ``FLOOR_TABLES``, ``FLOOR_FILES``,
  ``floor_protocol(config)``, ``floor_dir(config, digest, seed)``, ``floor_files(config)``:
  how the reference floor runs under its protocol (no ``FLOOR``: no floor, none of these
  needed);
- ``CROSS_FAMILY`` and ``cross_variants(config)``, ``cross_slice(config)``: the runs the
  cross-dataset table scores (``CROSS_FAMILY`` false or absent: none, and no
  ``cross_variants``/``cross_slice`` needed); ``CROSS_FLOOR``: the floor the cross-dataset
  table scores is fitted under this paper's protocol (absent: not);
- ``check(config)``: cross-reference checks the JSON schema cannot express;
- ``cost_jobs(config)``: its training/evaluation jobs and their benchmark files;
- optional ``train_job(config, variant)`` and ``train_job_artifact(config, variant, seed)``:
  where one training job trains several variants (Koike: a model on every input), the job's
  name and the path its log and benchmark are named after (default: the variant and its run
  folder; ``auscult.layout.train_job``, ``train_benchmark``);
- ``table_files(config)``, ``table_params(config)`` and ``build_tables(ctx, pp)``: what its
  tables read and its tables (a built-in paper's builders are in its ``tables`` module);
- optional ``figure_files(config)``, ``figure_params(config)`` and ``build_figures(inputs,
  params, tables, out, plots)``: what its figures read and its figures (absent: none);
- what it brings to the shared layers, each optional (``"module:attribute"`` specs are
  imported on first use): ``FEATURE_RECIPES`` / ``SEGMENT_RECIPES`` and ``MODELS`` (entries of
  the shared recipe and architecture tables), ``TRAIN`` (its ``run_training``) and
  ``describe_run(summary)``, ``FLOOR`` + ``FLOOR_OUTPUTS`` (its floor under its protocol; one
  floor rule serves all), ``PROTOCOL`` (its splits), ``FORECAST`` (a module with
  ``input_shapes``, ``table_runs``, ``workload``, ``record_values``), ``LABEL`` (its name in
  shared tables), ``PRETRAINED`` and ``SOUND`` (model cards), ``MODEL_FILES`` (model files
  per run), ``PADDED_RECIPES`` (recipes that zero-pad short recordings), ``HEADLINE`` (the
  README snapshot's table);
- ``RULES``: the path of its Snakemake rule file (``rules.smk`` in the paper's folder),
  which the Snakefile includes for every registered paper, built-in or external.
"""

from __future__ import annotations

from auscult import registry
from auscult.papers import ast_sam, audiofuse, koike
from auscult.registry import REGISTRY, enabled, get, names, register  # noqa: F401 (the lookup API)

for _module in (audiofuse, koike, ast_sam):
    registry.register(_module)
