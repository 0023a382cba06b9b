# Shared helpers: validate the config, compute digest-addressed paths, pick parameter slices.
# All path logic lives in the library (auscult.layout) so it is tested without Snakemake.

import os
import shutil
import sys

from auscult import layout, registry
from auscult.params import ParamsError, validate
from auscult.smk import cross_stage, rule_code, src_files

# Fails before any job runs, naming the bad key (closed schema, no injected defaults):
# one line per problem, no traceback.
try:
    validate(config)
except ParamsError as _e:
    from auscult.runlog import problem_lines

    for _line in problem_lines(_e):
        print(f"ERROR {_line}", file=sys.stderr)
    from auscult.dvcexp import restore_rejected_params

    _note = restore_rejected_params("params.yaml")  # only inside `dvc exp run`
    if _note:
        print(_note, file=sys.stderr)
    sys.exit(1)

DATASETS = list(config["datasets"])
PAPERS = config["papers"]

# Runtime setting, not a parameter: where a GPU is visible, each training/evaluation job asks
# for its share of one in `gpu_slots` (of auscult.forecast.GPU_SLOTS_PER_GPU per GPU), so several
# small jobs run on one GPU at once; the profile says how many slots the node has. The share
# comes from the GPU memory a CUDA run of the same shapes measured (`make rehearsal` on the GPU
# first), else from the counted memory and parameters (auscult.forecast.job_gpu_slots). Without
# a GPU jobs ask for none: CPU runs are unchanged.
GPU_VISIBLE = shutil.which("nvidia-smi") is not None


def gpu_slots(paper, variants=None):
    """The job's share of a GPU: its ``variant`` wildcard's, or for a job that trains several
    ``variants`` (Koike: a model on every input) the largest of theirs."""

    def slots(wildcards):
        if not GPU_VISIBLE:
            return 0
        from auscult import forecast

        runs = [wildcards.variant] if variants is None else variants
        return max(forecast.job_gpu_slots(config, paper, v, root=".") for v in runs)

    return slots


wildcard_constraints:
    ds="|".join(DATASETS),
    recipe="|".join(config["features"]),
    dig=r"[0-9a-f]{8}",
    seed=r"\d+",


def file_sha256(path):
    """sha256 of a file that exists when the DAG is built, else '' (it is built in this run)."""
    from auscult.audio import sha256_file

    return sha256_file(path) if os.path.exists(path) else ""
