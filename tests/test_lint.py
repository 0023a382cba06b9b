"""The code base stays ruff-clean (the project's style standard)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_ruff_clean(repo_root):
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    out = subprocess.run([ruff, "check", "src", "tests", "workflow", "benchmarks"], cwd=repo_root,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:]
