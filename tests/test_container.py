"""The image of profiles/kubernetes (Containerfile) builds, and the package and its stack import
inside it. Runs where a container engine answers (`docker info` / `podman info`), skipped with
the reason otherwise. It downloads the whole pinned stack (several GB with the CUDA lock), so
it builds with requirements-cpu.lock where the PyTorch CPU index is reachable, else with
requirements.lock (AUSCULT_CONTAINER_LOCK overrides)."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

pytestmark = pytest.mark.slow


def _engine() -> str | None:
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path and subprocess.run([path, "info"], capture_output=True, timeout=60).returncode == 0:
            return path
    return None


def _lock() -> str:
    if os.environ.get("AUSCULT_CONTAINER_LOCK"):
        return os.environ["AUSCULT_CONTAINER_LOCK"]
    try:
        urllib.request.urlopen("https://download.pytorch.org/whl/cpu/torch/", timeout=15).close()
        return "requirements-cpu.lock"
    except (urllib.error.URLError, OSError):
        return "requirements.lock"


def test_containerfile_builds_and_imports(repo_root):
    engine = _engine()
    if engine is None:
        found = [n for n in ("docker", "podman") if shutil.which(n)]
        pytest.skip("no container engine answers here (" + (f"{', '.join(found)} found but `info` fails: no daemon"
                    if found else "neither docker nor podman on PATH") + "): the Containerfile is not built")
    tag = f"auscult-test:{uuid.uuid4().hex[:8]}"
    lock = _lock()
    try:
        build = subprocess.run([engine, "build", "-f", "Containerfile", "--build-arg", f"LOCK={lock}", "-t", tag, "."],
                               cwd=repo_root, capture_output=True, text=True, timeout=3600)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        run = subprocess.run([engine, "run", "--rm", tag, "python", "-c",
                              "import torch, torchaudio, librosa, snakemake, dvc, auscult; "
                              "from importlib.metadata import version; "
                              "print(version('auscult-repro'), torch.__version__, torch.cuda.is_available())"],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        dist, torch_version, _ = run.stdout.split()
        assert dist == "0.1.0" and torch_version.startswith("2.11.0")
        cli = subprocess.run([engine, "run", "--rm", tag, "auscult", "--help"], capture_output=True, text=True,
                             timeout=300)
        assert cli.returncode == 0 and "auscult" in cli.stdout
    finally:
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True, timeout=300)
