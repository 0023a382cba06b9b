"""The code base stays lint-clean (the project's style standard): ruff for Python, snakefmt
for the Snakefiles, and `snakemake --lint` reports nothing but the conda/container lint
(the environment is requirements.lock, installed by `make install`: no per-rule env)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SNAKEFILES = ["Snakefile", "workflow", "src/auscult/papers", "tests/toy_paper"]  # snakefmt finds Snakefile and *.smk under these
# The one lint left on purpose: every rule runs in the venv of requirements.lock.
ALLOWED_LINTS = {"Specify a conda environment or container for each rule."}


def tool(name: str) -> str:
    path = shutil.which(name) or str(BIN / name)
    if not Path(path).exists():
        pytest.skip(f"{name} is not installed")
    return path


def test_ruff_clean(repo_root):
    out = subprocess.run([tool("ruff"), "check", "src", "tests", "workflow", "benchmarks", "tools"], cwd=repo_root,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:]


def test_snakefmt_clean(repo_root):
    snakefmt = tool("snakefmt")
    out = subprocess.run([snakefmt, "--check", *SNAKEFILES], cwd=repo_root, capture_output=True, text=True)
    if out.returncode != 0:
        files = " ".join(SNAKEFILES)
        diff = subprocess.run([snakefmt, "--compact-diff", *SNAKEFILES], cwd=repo_root, capture_output=True,
                              text=True)
        pytest.fail(f"snakefmt --check {files} failed (rc {out.returncode}): `snakefmt --diff {files}` shows "
                    f"the changes, `snakefmt {files}` makes them\n{out.stderr[-2000:]}\n{diff.stdout[:4000]}")


def snakemake_lints(text: str) -> list[tuple[str, str]]:
    """(subject, title) of every lint in `snakemake --lint` text output: a subject line
    'Lints for snakefile <file>:' or 'Lints for rule <name> (line N, <file>):', then one
    '    * <title>:' line per lint (its explanation indented below)."""
    lints, subject = [], None
    for line in text.splitlines():
        if m := re.match(r"Lints for (.+):$", line):
            subject = m.group(1)
        elif (m := re.match(r" {4}\* (.+):$", line)) and subject:
            lints.append((subject, m.group(1)))
    return lints


def test_snakemake_lint_only_conda_container(repo_root):
    """`snakemake --lint` (the demo config): the conda/container lint and nothing else.
    (Snakemake 9.27 prints text whatever `--lint json` asks for, so the text is parsed.)"""
    tool("snakemake")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--configfile", "config/demo.yaml"],
                         cwd=repo_root, capture_output=True, text=True, env=env, timeout=600)
    text = out.stdout + out.stderr
    lints = snakemake_lints(text)
    # rc 1 = lints printed (the conda ones always are); anything else is a failure to lint
    assert out.returncode in (0, 1) and "Traceback" not in text, text[-4000:]
    assert lints or "Congratulations" in text, f"no lint parsed from the output:\n{text[-4000:]}"
    other = [f"{subject}: {title}" for subject, title in lints if title not in ALLOWED_LINTS]
    assert not other, "snakemake --lint --configfile config/demo.yaml:\n" + "\n".join(other)
