"""What ``auscult.forecast`` needs of the Koike jobs (the paper module's ``FORECAST``): the
model's input shapes per sample, and each run's workload (samples per epoch, epochs, batch)."""

from __future__ import annotations

from collections.abc import Mapping

from auscult import layout
from auscult.forecast import cap, dataset_size
from auscult.papers import koike


def input_shapes(config: Mapping) -> dict[str, tuple[int, ...]]:
    f = config["features"][config["koike"]["features"]]
    n = int(f["sample_rate"] * f["clip_seconds"])
    frames = 1 + n // int(f["hop_length"])
    return {"wave": (n,), "logmel": (int(f["n_mels"]), frames), "linear": (int(f["n_fft"]) // 2 + 1, frames)}


def table_runs(config: Mapping, rows) -> list[str]:
    """The runs of a table's rows: a row is a model, its runs are the model on each input."""
    return [v for v, (m, _) in koike.variant_table(config["koike"]).items() if m in rows]


def workload(config: Mapping, variant: str, root) -> dict:
    p = config["koike"]
    n = dataset_size(config, p["train_dataset"], root)["records"]
    r = p["split"]["ratios"]
    parts = [n * x / sum(r) for x in r]
    sl = layout.train_slice(config, "koike", variant)
    n_train = cap(round(parts[0]), sl["max_train_records"])
    n_dev, n_test = (cap(round(x), p["max_eval_records"]) for x in parts[1:])
    t = sl["training"]
    recal = min(n_train, int(t["bn_recalibrate_batches"]) * int(t["batch_size"]))
    return {"train_samples": n_train, "fwd_samples": n_dev + recal, "once": n_dev + n_test,
            "max_epochs": int(t["max_epochs"]), "patience": int(t["patience"]), "batch_size": int(t["batch_size"]),
            "passes": 1, "max_steps": t.get("max_steps")}


def record_values(f: Mapping) -> int:
    """Values one recording stores in this paper's feature cache (``auscult doctor``'s disk estimate)."""
    n = int(f["sample_rate"] * f["clip_seconds"])
    frames = 1 + n // int(f["hop_length"])
    size = {"wave": n, "logmel": int(f["n_mels"]) * frames, "linear": (int(f["n_fft"]) // 2 + 1) * frames}
    return sum(size[o] for o in f["outputs"])
