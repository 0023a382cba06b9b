"""The params schema ships inside the package: validate() works from a copy of src/auscult
outside the repository (no workflow/ folder next to it)."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_validate_from_a_copy_outside_the_repo(tmp_path):
    shutil.copytree(REPO / "src" / "auscult", tmp_path / "site" / "auscult",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    code = (f"import auscult, auscult.params as p, yaml\n"
            f"assert auscult.__file__.startswith({str(tmp_path)!r})\n"
            "cfg = yaml.safe_load(open('params.yaml'))\np.validate(cfg)\ncfg['budget'] = 'tiny'\n"
            "try:\n    p.validate(cfg)\nexcept p.ParamsError as e:\n    print('refused:', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout and "budget" in proc.stdout
