"""Compile librosa's numba kernels once, when the environment is installed.

librosa compiles its numba kernels on first use and caches them beside its own source
(numba ``cache=True``). On a fresh install every feature job that starts before that cache
exists compiles them itself: measured 17 s of CPU for one process on the 2-core machine,
paid again by each feature job running at the same time, about 19 s of the first
``make demo``'s wall time. ``make install`` therefore runs every feature recipe of
``params.yaml`` once on two seconds of noise (``python -m auscult.features.warmup``),
as pip compiles ``.pyc`` files at install. The features themselves are unchanged: this
only fills numba's cache. Writes nothing in the project (one temporary WAV).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def warm(params_path: str | Path = "params.yaml") -> dict[str, float]:
    """Run each recipe of ``params_path``'s ``features`` once; return seconds per recipe."""
    import soundfile as sf

    from auscult.features.build import RECIPES, SEGMENT_RECIPES
    from auscult.params import load_params

    cfgs = load_params(params_path)["features"]
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="auscult-warmup-") as tmp:
        path = str(Path(tmp) / "noise.wav")
        # 4 kHz 16-bit: every recipe resamples it (to 2, 16 or 22.05 kHz)
        noise = np.random.default_rng(0).uniform(-0.5, 0.5, 8000)
        sf.write(path, noise, 4000, subtype="PCM_16")
        for recipe, cfg in cfgs.items():
            t0 = time.perf_counter()
            if recipe in RECIPES:
                RECIPES[recipe](path, cfg)
            elif recipe in SEGMENT_RECIPES:
                SEGMENT_RECIPES[recipe](path, [(0.0, 1.5)], cfg)
            else:
                continue
            seconds[recipe] = round(time.perf_counter() - t0, 2)
    return seconds


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    seconds = warm(argv[0] if argv else "params.yaml")
    print("librosa/numba kernels compiled and cached (s per recipe):", seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
