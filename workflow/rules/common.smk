# Shared helpers: validate the config, compute digest-addressed paths, pick parameter slices.
# All path logic lives in the library (auscult.layout) so it is tested without Snakemake.

import os
import shutil

from auscult import layout
from auscult.params import validate, model_config

# Fails before any job runs, naming the bad key (closed schema, no injected defaults).
validate(config)

DATASETS = list(config["datasets"])
AF = config["audiofuse"]
AF_VARIANTS = list(AF["variants"])
AF_TABLE_VARIANTS = layout.table_variants(config)

# Runtime setting, not a parameter: training asks for a GPU only where one is visible.
GPUS_PER_TRAINING_JOB = 1 if shutil.which("nvidia-smi") else 0


wildcard_constraints:
    ds="|".join(DATASETS),
    recipe="|".join(config["features"]),
    variant="|".join(AF_VARIANTS),
    dig=r"[0-9a-f]{8}",
    seed=r"\d+",


def cross_stage(path):
    """Inputs from another stage are content-addressed (digest in the path): their mtime is
    irrelevant, and after `dvc pull` it is arbitrary, so never let it trigger a re-run."""
    return ancient(path)


def src_files(*modules):
    """Library modules a rule runs, as inputs, so editing them re-runs the rule."""
    return [f"src/auscult/{m}.py" for m in modules]
