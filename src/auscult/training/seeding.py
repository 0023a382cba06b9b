"""Seeding and RNG-state capture for reproducible, resumable training."""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python ``random``, NumPy's global RNG and torch (CPU and all CUDA devices).

    ``deterministic=True`` turns on ``torch.use_deterministic_algorithms(True,
    warn_only=True)`` and cuDNN determinism (bit-identical runs on CPU; on CUDA an op without
    a deterministic kernel warns instead of failing). ``deterministic=False`` switches these
    global flags off again, so a previous call cannot leak into this one.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # Needed by cuBLAS for deterministic matmuls; only effective before CUDA initialises.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    _set_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = False


def _set_deterministic_algorithms(mode: bool) -> None:
    # What torch.use_deterministic_algorithms(mode, warn_only=True) does, without its import of
    # torch._inductor.config (1.7 s of every training and evaluation job's start-up on this
    # CPU, for a flag only torch.compile reads, which auscult does not use). The inductor flag
    # is still set when something has loaded inductor already.
    torch._C._set_deterministic_algorithms(mode, warn_only=True)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = mode


def get_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """All RNG states as a dict of tensors/plain Python objects (loadable with
    ``torch.load(weights_only=True)``)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": np_state[0],
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore states captured by :func:`get_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None:
        if "generator" not in state:
            raise KeyError("RNG state has no 'generator' entry to restore")
        generator.set_state(state["generator"])
