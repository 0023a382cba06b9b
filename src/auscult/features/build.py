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

from auscult.audio import AudioError, sha256_file
from auscult.features import floor
from auscult.features.store import write_store
from auscult.registry import HookTable

# recipe name (a key of params.yaml `features`) -> per-recording extractor (path, cfg) -> dict;
# a paper brings its own recipes (its module's FEATURE_RECIPES), the floor's is shared
RECIPES: HookTable = HookTable("FEATURE_RECIPES", {"floor_stats": floor.extract})
# recipe -> per-recording extractor of several segments: (path, [(start_s, end_s)], cfg) -> [dict]
# (a paper module's SEGMENT_RECIPES)
SEGMENT_RECIPES: HookTable = HookTable("SEGMENT_RECIPES")
SEGMENT_COLUMNS = ("cycle_start", "cycle_end")


def _checked(path: str, sha256: str, items: Callable[[], list[dict[str, np.ndarray]]]) -> list[dict]:
    """Run one extraction; verify the file on read and the features on the way out.

    Whatever goes wrong comes back as an :class:`AudioError` naming the file (picklable,
    so it survives the worker -> parent hop): a file whose bytes differ from the manifest's
    sha256 (changed after the manifest was built), a decoder error, or a feature array
    holding NaN/Inf (never written into the cache).
    """
    if sha256:
        actual = sha256_file(path)
        if actual != sha256:
            raise AudioError(path, f"changed since the manifest was built (sha256 {actual[:16]}…, "
                                   f"manifest {sha256[:16]}…): rebuild the manifest")
    try:
        out = items()
    except AudioError:
        raise
    except Exception as e:  # librosa/numpy errors do not name the file
        raise AudioError(path, f"feature extraction failed: {type(e).__name__}: {e}") from None
    for item in out:
        for key, arr in item.items():
            if np.issubdtype(np.asarray(arr).dtype, np.floating) and not np.isfinite(arr).all():
                raise AudioError(path, f"feature {key!r} holds NaN/Inf values")
    return out


def _extract_one(job: tuple[str, str], recipe: str, cfg: dict) -> list[dict[str, np.ndarray]]:
    path, sha = job
    return _checked(path, sha, lambda: [RECIPES[recipe](path, cfg)])


def _extract_segments(job: tuple[str, str, list], recipe: str, cfg: dict) -> list[dict[str, np.ndarray]]:
    path, sha, segments = job
    return _checked(path, sha, lambda: SEGMENT_RECIPES[recipe](path, segments, cfg))


def _worker_init(parent_pid: int) -> None:
    """Pool workers die with their parent, also when it is SIGKILLed (no orphans), and run
    single-threaded: the pool already uses every core it was given, and BLAS/OpenMP threads
    inside each worker would only oversubscribe them."""
    import threading

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # scikit-learn's dependency; without it the workers keep their threads
        pass

    try:  # Linux: the kernel sends SIGKILL when the parent exits
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch():
        from auscult.atomic import _alive

        while _alive(parent_pid):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _jobs(manifest: pd.DataFrame, raw_root: Path, recipe: str) -> tuple[pd.DataFrame, list, Callable]:
    """(manifest in job order, one job per recording, the worker function)."""
    shas = manifest["sha256"] if "sha256" in manifest else pd.Series([""] * len(manifest), index=manifest.index)
    shas = shas.fillna("").astype(str)
    if recipe in RECIPES:
        jobs = [(str(raw_root / p), h) for p, h in zip(manifest["audio_path"], shas, strict=True)]
        return manifest, jobs, _extract_one
    missing = [c for c in SEGMENT_COLUMNS if c not in manifest]
    if missing:
        raise ValueError(f"recipe {recipe!r} needs manifest column(s) {missing} (one row per segment)")
    groups = list(manifest.groupby("audio_path", sort=False).indices.items())
    order = np.concatenate([idx for _, idx in groups]) if groups else np.zeros(0, int)
    jobs = [
        (str(raw_root / path), shas.iloc[idx[0]],
         manifest.iloc[idx][list(SEGMENT_COLUMNS)].to_numpy().tolist())
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
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                                 initargs=(os.getpid(),)) as pool:
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
