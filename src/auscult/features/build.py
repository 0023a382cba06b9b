"""Build a sharded feature cache from a dataset manifest, in parallel, with a progress bar.

Two kinds of recipe: per-recording (:data:`RECIPES`, one feature row per manifest row and
recording) and per-segment (:data:`SEGMENT_RECIPES`, several manifest rows per recording,
e.g. ICBHI breathing cycles: the recording is decoded once and one feature row is returned
per ``(cycle_start, cycle_end)``). The cache index then has one row per manifest row.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.features import audiofuse, floor, icbhi, koike
from auscult.features.store import write_store

# recipe name (a key of params.yaml `features`) -> per-recording extractor
RECIPES: dict[str, Callable[[str, dict], dict[str, np.ndarray]]] = {
    "audiofuse": audiofuse.extract,
    "koike": koike.extract,
    "floor_stats": floor.extract,
}
# recipe -> per-recording extractor of several segments: (path, [(start_s, end_s)], cfg) -> [dict]
SEGMENT_RECIPES: dict[str, Callable[[str, list, dict], list[dict[str, np.ndarray]]]] = {
    "icbhi_ast": icbhi.extract_cycles,
}
SEGMENT_COLUMNS = ("cycle_start", "cycle_end")


def _extract_one(path: str, recipe: str, cfg: dict) -> list[dict[str, np.ndarray]]:
    return [RECIPES[recipe](path, cfg)]


def _extract_segments(job: tuple[str, list], recipe: str, cfg: dict) -> list[dict[str, np.ndarray]]:
    path, segments = job
    return SEGMENT_RECIPES[recipe](path, segments, cfg)


def _jobs(manifest: pd.DataFrame, raw_root: Path, recipe: str) -> tuple[pd.DataFrame, list, Callable]:
    """(manifest in job order, one job per recording, the worker function)."""
    if recipe in RECIPES:
        paths = [str(raw_root / p) for p in manifest["audio_path"]]
        return manifest, paths, _extract_one
    missing = [c for c in SEGMENT_COLUMNS if c not in manifest]
    if missing:
        raise ValueError(f"recipe {recipe!r} needs manifest column(s) {missing} (one row per segment)")
    groups = list(manifest.groupby("audio_path", sort=False).indices.items())
    order = np.concatenate([idx for _, idx in groups]) if groups else np.zeros(0, int)
    jobs = [
        (str(raw_root / path), manifest.iloc[idx][list(SEGMENT_COLUMNS)].to_numpy().tolist())
        for path, idx in groups
    ]
    return manifest.iloc[order].reset_index(drop=True), jobs, _extract_segments


def build_feature_cache(
    manifest: pd.DataFrame,
    raw_root: str | Path,
    out_dir: str | Path,
    *,
    recipe: str,
    cfg: dict,
    meta: dict | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Extract ``recipe`` features for every manifest row and write them as shards.

    Returns timing figures (recordings, seconds, recordings/s) for benchmarks and logs.
    """
    from tqdm import tqdm

    if recipe not in RECIPES and recipe not in SEGMENT_RECIPES:
        known = sorted([*RECIPES, *SEGMENT_RECIPES])
        raise ValueError(f"unknown feature recipe {recipe!r}; known: {known}")
    raw_root = Path(raw_root)
    manifest, jobs, worker = _jobs(manifest, raw_root, recipe)
    shard_size = int(cfg["shard_size"])
    fn = functools.partial(worker, recipe=recipe, cfg=cfg)
    t0 = time.perf_counter()
    bar = tqdm(total=len(manifest), desc=f"features {recipe}", unit="row", disable=None if progress else True)

    def shards(results: Iterator[list[dict[str, np.ndarray]]]) -> Iterator[dict[str, np.ndarray]]:
        buf: list[dict[str, np.ndarray]] = []
        for items in results:
            for item in items:
                buf.append(item)
                bar.update()
                if len(buf) == shard_size:
                    yield _stack(buf)
                    buf = []
        if buf:
            yield _stack(buf)

    meta = dict(meta or {}, recipe=recipe, params=cfg)
    if workers > 1:
        # Results come back in manifest order; chunks amortise inter-process overhead.
        with ProcessPoolExecutor(max_workers=workers) as pool:
            chunk = 8 if recipe in RECIPES else 1
            write_store(out_dir, manifest, shards(pool.map(fn, jobs, chunksize=chunk)), meta)
    else:
        write_store(out_dir, manifest, shards(map(fn, jobs)), meta)
    bar.close()
    seconds = time.perf_counter() - t0
    return {
        "recordings": len(jobs),
        "rows": len(manifest),
        "seconds": round(seconds, 3),
        "recordings_per_s": round(len(jobs) / seconds, 2) if seconds else None,
        "workers": workers,
        "cpu_count": os.cpu_count(),
    }


def _stack(items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.stack([it[key] for it in items]) for key in items[0]}
