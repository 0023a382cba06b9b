"""Dataset adapters: one module per dataset, each with ``NAME``, ``SOURCES`` and
``build_manifest(root, *, hash_audio=True)``, registered in :data:`DATASETS`.
"""

from __future__ import annotations

from types import ModuleType

from . import icbhi2017, pascal, physionet2016
from .manifest import MANIFEST_COLUMNS, ManifestError

DATASETS: dict[str, ModuleType] = {
    physionet2016.NAME: physionet2016,
    pascal.NAME: pascal,
    icbhi2017.NAME: icbhi2017,
}

__all__ = ["DATASETS", "MANIFEST_COLUMNS", "ManifestError", "get_dataset"]


def get_dataset(name: str) -> ModuleType:
    """The adapter module registered under ``name``."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None
