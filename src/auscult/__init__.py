"""auscult: a reproducibility workflow for auscultation (heart/lung sound) classification papers.

Library first: every stage of the workflow is a function in this package, importable and
testable without Snakemake. Workflow scripts under ``workflow/scripts`` are thin adapters.
"""

__version__ = "0.1.0"

# The built-in papers register themselves in auscult.registry (shared code looks them up there).
from auscult import papers as _papers  # noqa: E402,F401
