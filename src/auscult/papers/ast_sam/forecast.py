"""What ``auscult.forecast`` needs of the AST + SAM jobs (the paper module's ``FORECAST``): the
model's input shapes per sample, and each run's workload (samples per epoch, epochs, batch)."""

from __future__ import annotations

from collections.abc import Mapping

from auscult.forecast import cap, dataset_size
from auscult.papers import ast_sam


def input_shapes(config: Mapping) -> dict[str, tuple[int, ...]]:
    m = config["ast_sam"]["model"]
    return {"fbank": (int(m["max_length"]), int(m["num_mel_bins"]))}


def table_runs(config: Mapping, rows) -> list[str]:
    """The runs of a table's rows (one per variant)."""
    return list(rows)


def workload(config: Mapping, variant: str, root) -> dict:
    """SAM's two passes count as two training samples; the paper protocol scores test every epoch."""
    sl = ast_sam.variant_slice(config["ast_sam"], variant)
    ds = dataset_size(config, config["ast_sam"]["train_dataset"], root)
    sp = sl["split"]
    pool = ds["records"] - ds["test"]
    n_val = cap(round(pool * sp["val_fraction"]), sp["max_val_cycles"])
    n_train = cap(pool - round(pool * sp["val_fraction"]), sp["max_train_cycles"])
    n_test = cap(ds["test"], sp["max_test_cycles"])
    t = sl["training"]
    passes = 2 if t["sam"]["enabled"] else 1
    per_epoch_fwd = n_val + (n_test if t["paper_protocol"] else 0)
    return {"train_samples": n_train * passes, "fwd_samples": per_epoch_fwd, "once": n_test,
            "max_epochs": int(t["epochs"]), "patience": None, "batch_size": int(t["batch_size"]),
            "passes": passes, "max_steps": t.get("max_steps")}


def record_values(f: Mapping) -> int:
    """Values one breathing cycle stores in this paper's feature cache (``auscult doctor``'s disk estimate)."""
    frames = int(round(f["clip_seconds"] * 1000 / f["frame_shift_ms"]))
    return frames * int(f["num_mel_bins"])
