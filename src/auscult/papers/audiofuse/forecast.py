"""What ``auscult.forecast`` needs of the AudioFuse jobs (the paper module's ``FORECAST``): the
model's input shapes per sample, and each run's workload (samples per epoch, epochs, batch)."""

from __future__ import annotations

from collections.abc import Mapping

from auscult import layout
from auscult.forecast import cap, dataset_size


def input_shapes(config: Mapping) -> dict[str, tuple[int, ...]]:
    f = config["features"][config["audiofuse"]["features"]]
    return {"spec": tuple(f["logmel"]["resize"]), "wave": (int(f["sample_rate"] * f["clip_seconds"]),)}


def table_runs(config: Mapping, rows) -> list[str]:
    """The runs of a table's rows (one per variant)."""
    return list(rows)


def workload(config: Mapping, variant: str, root) -> dict:
    p = config["audiofuse"]
    ds = dataset_size(config, p["train_dataset"], root)
    pool = ds["records"] - ds["test"]
    n_val = round(pool * p["split"]["val_fraction"])
    n_train = cap(pool - n_val, p["max_train_records"])
    n_val, n_test = (cap(n, p.get("max_eval_records")) for n in (n_val, ds["test"]))
    t = layout.train_slice(config, "audiofuse", variant)["training"]  # a variant may override it
    recal = min(n_train, int(t["bn_recalibrate_batches"]) * int(t["batch_size"]))
    transfer = cap(dataset_size(config, p["transfer_dataset"], root)["records"], p.get("max_eval_records"))
    # evaluation job: validation + test + every transfer recording (head re-training is on embeddings)
    return {"train_samples": n_train, "fwd_samples": n_val + recal, "once": n_val + n_test + transfer,
            "max_epochs": int(t["max_epochs"]), "patience": int(t["patience"]), "batch_size": int(t["batch_size"]),
            "passes": 1, "max_steps": t.get("max_steps")}


def record_values(f: Mapping) -> int:
    """Values one recording stores in this paper's feature cache (``auscult doctor``'s disk estimate)."""
    h, w = f["logmel"]["resize"]
    return int(h * w + (f["sample_rate"] * f["clip_seconds"] if f["waveform"] else 0))
