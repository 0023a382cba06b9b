"""Shared fixtures.

Tests that read the real dataset mirror use the ``mirror_root`` fixture: they run whenever
``AUSCULT_DATA_MIRROR`` names a directory laid out like ``../shared/data`` and are skipped
with a clear reason otherwise, so ``make test`` passes for a user without the mirror.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# `make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder` (pytest-xdist): one
# worker runs each file whole (the slow files share module-scoped workflow runs). The slow files
# start first, longest first (measured on the 2-core machine), so a serial one (`dvc repro` runs
# one stage at a time) overlaps with the others and the fast files fill the gaps. Plain `pytest`
# runs the same order in one process. (`--dist loadgroup` would be finer, but pytest-xdist 3.8
# cannot rename pytest 9's node ids, so its xdist_group marks are ignored.)
SLOW_FILES_LONGEST_FIRST = (
    "test_dvc_ledger.py",
    "test_slurm.py",
    "test_workflow.py",
    "test_robustness.py",
    "test_broken_data_workflow.py",
    "test_toy_paper.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FILES_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="module")
def paper(repo_root):
    """params.yaml alone: the paper budget (one load per test module)."""
    from auscult.params import load_params

    return load_params(repo_root / "params.yaml")


@pytest.fixture(scope="module")
def demo(repo_root):
    """params.yaml + config/demo.yaml (one load per test module)."""
    from auscult.params import load_params

    return load_params(repo_root / "params.yaml", [repo_root / "config" / "demo.yaml"])


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module's tests (``pytestmark = pytest.mark.usefixtures(
    "one_thread")``), restored afterwards: small models gain nothing from threads, and 2
    threads on 2 busy cores are much slower. Without torch it does nothing."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def mirror_root() -> Path:
    value = os.environ.get("AUSCULT_DATA_MIRROR")
    if not value:
        pytest.skip("AUSCULT_DATA_MIRROR is not set: no real-data mirror to read")
    root = Path(value)
    if not root.is_dir():
        pytest.skip(f"AUSCULT_DATA_MIRROR={value} is not a directory")
    return root


@pytest.fixture(autouse=True)
def _fresh_pins():
    """Tests may point ``auscult.datasets.pinned.PIN_DIR`` elsewhere: never share the cache."""
    yield
    from auscult.datasets import pinned

    pinned.load_pins.cache_clear()


@pytest.fixture
def checkpoint_every_epoch(monkeypatch):
    """Resumable checkpoints after every epoch (``AUSCULT_CHECKPOINT_EVERY_S=0``) for tests of
    interruption and resume; the default (60 s) skips them for runs whose epochs take seconds."""
    monkeypatch.setenv("AUSCULT_CHECKPOINT_EVERY_S", "0")
