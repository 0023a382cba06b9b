"""Dataset adapters: one module per dataset, each with ``NAME``, ``SOURCES`` and
``build_manifest(root, *, hash_audio=True, checks=None)``, registered in :data:`DATASETS`.
``checks`` (:class:`auscult.datasets.checks.Checks`) carries the ``bad_audio`` policy, the
minimum length and the pinned checksums; :func:`skipped_records` reads what a manifest
build dropped.
"""

from __future__ import annotations

from types import ModuleType

from . import folder
from .checks import BadRecordError, Checks, skipped_records
from .manifest import MANIFEST_COLUMNS, ManifestError
from .registry import DATASETS, get_dataset

__all__ = ["DATASETS", "adapter", "MANIFEST_COLUMNS", "BadRecordError", "Checks", "ManifestError", "get_dataset",
           "skipped_records"]


def adapter(name: str, params: dict | None = None) -> ModuleType:
    """The adapter of dataset ``name`` under its ``datasets.<name>`` slice: ``kind: folder``
    datasets (any name) use :mod:`auscult.datasets.folder`, the others their own module."""
    if (params or {}).get("kind") == "folder":
        return folder
    return get_dataset(name)
