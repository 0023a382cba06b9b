"""The dataset registry: name -> adapter module (each with ``NAME``, ``SOURCES`` and
``build_manifest``). Apart from the package ``__init__`` so that modules the adapters import
(acquisition, pinning) can look adapters up without an import circle.
"""

from __future__ import annotations

from types import ModuleType

from . import icbhi2017, pascal, physionet2016

DATASETS: dict[str, ModuleType] = {
    physionet2016.NAME: physionet2016,
    pascal.NAME: pascal,
    icbhi2017.NAME: icbhi2017,
}


def get_dataset(name: str) -> ModuleType:
    """The adapter module registered under ``name``."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None
