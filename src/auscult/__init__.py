"""auscult: a reproducibility workflow for auscultation (heart/lung sound) classification papers.

Library first: every stage of the workflow is a function in this package, importable and
testable without Snakemake. Workflow scripts under ``workflow/scripts`` are thin adapters.

Using a trained model from Python (``auscult.api``; torch is imported on first use only)::

    import auscult
    run = auscult.load_run("runs/audiofuse/cnn_only/<d>/seed42")   # or an `auscult export` folder
    table = run.predict(["a.wav", "b.flac"])                        # a pandas DataFrame
"""


# The built-in papers register themselves in auscult.registry (shared code looks them up there).
from auscult import papers as _papers  # noqa: F401

# the installed distribution's version, else the source tree's (auscult._version)
from auscult._version import __version__ as __version__

_API = ("load_run", "Run")


def __getattr__(name: str):
    """``auscult.load_run`` / ``auscult.Run`` from :mod:`auscult.api`, imported on first use."""
    if name in _API:
        from auscult import api

        return getattr(api, name)
    raise AttributeError(f"module 'auscult' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
