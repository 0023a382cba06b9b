"""``auscult.__version__``: the installed distribution's version (``auscult-repro``, from
importlib.metadata), else this source tree's (pyproject.toml's, for a checkout used through
PYTHONPATH). A module of its own so that modules needing the version (auscult.cards) do not
import the package root."""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "auscult-repro"
SOURCE_VERSION = "0.1.0"  # pyproject.toml's [project] version (tests/test_packaging.py)

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:
    __version__ = SOURCE_VERSION
