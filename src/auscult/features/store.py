"""Sharded feature cache: a few ``.npy`` shard files per dataset, not one file per recording.

Layout of a feature directory::

    index.csv          one row per recording: the manifest columns + shard, row
    meta.json          the recipe parameters, their digest, array shapes and dtypes
    <key>-000.npy      stacked arrays (``spec`` (N, H, W), ``wave`` (N, L)), one file per shard

Reading needs only numpy and pandas, so training runs on a machine without the audio
stack (librosa/soundfile): the GPU machines carry cached features, not raw audio.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.atomic import atomic_dir

INDEX = "index.csv"
META = "meta.json"


class FeatureStoreError(ValueError):
    """A feature directory is missing, incomplete or inconsistent; the message names it."""


def shard_name(key: str, shard: int) -> str:
    return f"{key}-{shard:03d}.npy"


def write_store(
    out_dir: str | Path,
    index: pd.DataFrame,
    shards: Iterable[dict[str, np.ndarray]],
    meta: dict,
) -> Path:
    """Write ``shards`` (dicts of stacked arrays, in ``index`` order) atomically to ``out_dir``.

    ``index`` holds one row per recording; rows are assigned to shards in order.
    """
    out_dir = Path(out_dir)
    index = index.reset_index(drop=True).copy()
    shard_col, row_col, shapes = [], [], {}
    with atomic_dir(out_dir) as tmp:
        n_done = 0
        for s, arrays in enumerate(shards):
            sizes = {len(a) for a in arrays.values()}
            if len(sizes) != 1:
                raise FeatureStoreError(f"{out_dir}: shard {s} arrays differ in length: {sizes}")
            n = sizes.pop()
            for key, arr in arrays.items():
                np.save(tmp / shard_name(key, s), np.ascontiguousarray(arr))
                shapes[key] = {"shape": list(arr.shape[1:]), "dtype": str(arr.dtype)}
            shard_col += [s] * n
            row_col += list(range(n))
            n_done += n
        if n_done != len(index):
            raise FeatureStoreError(
                f"{out_dir}: wrote {n_done} feature rows for an index of {len(index)} recordings"
            )
        index["shard"] = shard_col
        index["row"] = row_col
        index.to_csv(tmp / INDEX, index=False)
        meta = dict(meta, n_records=len(index), n_shards=len(set(shard_col)), arrays=shapes)
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out_dir


def read_index(feature_dir: str | Path) -> pd.DataFrame:
    """The cache's index.csv; a FeatureStoreError naming it when missing or without integer
    ``record_id``/``shard``/``row`` columns."""
    path = Path(feature_dir) / INDEX
    if not path.is_file():
        raise FeatureStoreError(f"{feature_dir}: no {INDEX}; the feature cache is missing or incomplete")
    try:
        index = pd.read_csv(path, dtype={"record_id": str, "patient_id": str}, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as e:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise FeatureStoreError(f"{path}: not a readable CSV file ({e})") from None
    missing = [c for c in ("record_id", "shard", "row") if c not in index.columns]
    if missing:
        raise FeatureStoreError(f"{path}: lacks column(s) {missing}; the feature cache is damaged")
    for col in ("shard", "row"):
        if len(index) and not pd.api.types.is_integer_dtype(index[col]):
            raise FeatureStoreError(f"{path}: column {col!r} holds non-integer values; the feature cache is damaged")
    return index


def read_meta(feature_dir: str | Path) -> dict:
    path = Path(feature_dir) / META
    if not path.is_file():
        raise FeatureStoreError(f"{feature_dir}: no {META}; the feature cache is missing or incomplete")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FeatureStoreError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise FeatureStoreError(f"{path}: not a JSON object")
    return meta


def open_shard(path: Path) -> np.ndarray:
    """A shard memory-mapped, after checking its header: a FeatureStoreError naming the file for
    one that is missing, not a .npy file, truncated, or not numeric (e.g. pickled objects)."""
    if not path.is_file():
        raise FeatureStoreError(f"{path}: shard file missing (feature cache incomplete)")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError) as e:
        raise FeatureStoreError(f"{path}: not a readable .npy shard ({e})") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise FeatureStoreError(f"{path}: holds {dtype} values, not numbers (feature shards are numeric arrays)")
    need = offset + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if size < need:
        raise FeatureStoreError(f"{path}: truncated shard ({size} bytes, its header declares {need})")
    return np.load(path, mmap_mode="r")


def load_arrays(
    feature_dir: str | Path,
    keys: Sequence[str],
    record_ids: Sequence[str] | None = None,
    dtype: str | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Load the arrays ``keys`` for ``record_ids`` (all recordings when None), in that order.

    Returns the matching index rows and a dict ``key -> array`` of stacked rows. Shards are
    memory-mapped and only the requested rows are copied.
    """
    feature_dir = Path(feature_dir)
    index = read_index(feature_dir)
    if record_ids is None:
        rows = index
    else:
        pos = pd.Series(range(len(index)), index=index["record_id"])
        missing = [r for r in record_ids if r not in pos.index]
        if missing:
            raise FeatureStoreError(
                f"{feature_dir}: {len(missing)} requested record(s) not cached, e.g. {missing[:3]}"
            )
        rows = index.iloc[pos.loc[list(record_ids)].to_numpy()].reset_index(drop=True)
    out: dict[str, np.ndarray] = {}
    for key in keys:
        parts = []
        for shard, group in rows.groupby("shard", sort=False):
            path = feature_dir / shard_name(key, int(shard))
            arr = open_shard(path)
            wanted = group["row"].to_numpy()
            bad = (wanted < 0) | (wanted >= len(arr))
            if bad.any():
                raise FeatureStoreError(
                    f"{feature_dir / INDEX}: record {group['record_id'][bad].iloc[0]} is row "
                    f"{wanted[bad][0]} of {path.name}, which holds {len(arr)} rows (index and shards disagree)")
            parts.append((group.index.to_numpy(), arr[wanted]))
        first = parts[0][1] if parts else np.zeros((0,))
        stacked = np.empty((len(rows), *first.shape[1:]), dtype=dtype or first.dtype)
        for where, values in parts:
            stacked[where] = values
        out[key] = stacked
    return rows, out
