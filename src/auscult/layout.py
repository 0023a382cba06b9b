"""Where every artifact lives: paths that carry a digest of the parameters behind them.

Each digest covers the stage's own parameter slice *and* the digests upstream of it, so a
change anywhere in the chain yields new paths downstream and nothing stale is ever reused,
whatever Snakemake's metadata or file timestamps say (a fresh clone or ``dvc pull`` has
neither). Demo, quick and paper outputs have different digests and never collide.

    data/raw/<dataset>/<d>/                       acquired recordings (or synthetic ones)
    data/manifests/<dataset>/<d>.csv              one row per recording
    data/features/<dataset>/<recipe>-<d>/         sharded feature cache
    runs/<paper>/<variant>/<d>/seed<k>/           checkpoint, history, training summary
    results/<paper>/<variant>/<d>/seed<k>/        metrics.json, predictions.csv
"""

from __future__ import annotations

from collections.abc import Mapping

from auscult.params import digest, model_config

PAPER = "audiofuse"


def dataset_digest(config: Mapping, dataset: str) -> str:
    params = config["datasets"][dataset]
    if params["source"] == "synthetic":
        from auscult.datasets.synthetic import GENERATOR_VERSION

        params = {**params, "generator_version": GENERATOR_VERSION}
    return digest({"dataset": dataset, **params})


def raw_dir(config: Mapping, dataset: str) -> str:
    return f"data/raw/{dataset}/{dataset_digest(config, dataset)}"


def manifest_path(config: Mapping, dataset: str) -> str:
    return f"data/manifests/{dataset}/{dataset_digest(config, dataset)}.csv"


def features_digest(config: Mapping, dataset: str, recipe: str) -> str:
    return digest(
        {"data": dataset_digest(config, dataset), "recipe": recipe, "params": config["features"][recipe]}
    )


def features_dir(config: Mapping, dataset: str, recipe: str) -> str:
    return f"data/features/{dataset}/{recipe}-{features_digest(config, dataset, recipe)}"


def train_slice(config: Mapping, variant: str) -> dict:
    """Exactly the parameters a training job of ``variant`` uses (seed excluded)."""
    p = config[PAPER]
    return {
        "model": model_config(p, variant),
        "training": p["training"],
        "split": p["split"],
        "max_train_records": p["max_train_records"],
    }


def train_digest(config: Mapping, variant: str) -> str:
    p = config[PAPER]
    return digest(
        {"features": features_digest(config, p["train_dataset"], p["features"]), **train_slice(config, variant)}
    )


def run_dir(config: Mapping, variant: str, seed: int) -> str:
    return f"runs/{PAPER}/{variant}/{train_digest(config, variant)}/seed{seed}"


def eval_slice(config: Mapping) -> dict:
    p = config[PAPER]
    return {"evaluation": p["evaluation"], "head_retrain": p["head_retrain"], "split": p["split"]}


def eval_digest(config: Mapping, variant: str) -> str:
    p = config[PAPER]
    return digest(
        {
            "train": train_digest(config, variant),
            "transfer": features_digest(config, p["transfer_dataset"], p["features"]),
            **eval_slice(config),
        }
    )


def result_dir(config: Mapping, variant: str, seed: int) -> str:
    return f"results/{PAPER}/{variant}/{eval_digest(config, variant)}/seed{seed}"


def table_variants(config: Mapping) -> list[str]:
    """Variants any AudioFuse table needs, in first-mention order."""
    seen: dict[str, None] = {}
    for rows in config[PAPER]["tables"].values():
        seen.update(dict.fromkeys(rows))
    return list(seen)
