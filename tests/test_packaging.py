"""What a reviewer installs: the distribution's metadata (pyproject.toml, LICENSE,
CITATION.cff), the direct dependencies (requirements.in: each one used), the hash-checked
requirements.lock and its CPU-only variant requirements-cpu.lock (tools/cpu_lock.py), the
Makefile's choice between them, and the Kubernetes profile's image (Containerfile)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+ (tomllib)")
TORCH_STACK = {"torch": "2.11.0", "torchaudio": "2.11.0", "torchvision": "0.26.0"}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@pytest.fixture(scope="module")
def pyproject(repo_root):
    return tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def cpu_lock(repo_root):
    spec = importlib.util.spec_from_file_location("cpu_lock", repo_root / "tools" / "cpu_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(text: str) -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", text, flags=re.M)}


def requirement_names(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]).lower())
    return names


# ------------------------------------------------------------------ distribution metadata
def test_distribution_name_is_free_import_name_and_command_stay(pyproject, repo_root):
    # `auscult` on PyPI is an unrelated project (docs/packaging.md): another distribution name,
    # the same import package and command
    assert pyproject["name"] == "auscult-repro"
    assert pyproject["scripts"] == {"auscult": "auscult.cli:main"}
    assert (repo_root / "src" / "auscult" / "__init__.py").is_file()
    from auscult import __version__

    assert pyproject["version"] == __version__


def test_licence_authors_classifiers(pyproject, repo_root):
    assert pyproject["license"] == "MIT" and pyproject["license-files"] == ["LICENSE"]
    text = (repo_root / "LICENSE").read_text()
    assert text.startswith("MIT License") and "auscult contributors" in text
    assert pyproject["authors"] == [{"name": "auscult contributors"}]
    classifiers = pyproject["classifiers"]
    # setuptools rejects a License :: classifier beside an SPDX expression
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert "Intended Audience :: Science/Research" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "urls" not in pyproject  # no address is known: none is made up
    requires = tomllib.loads((repo_root / "pyproject.toml").read_text())["build-system"]["requires"]
    assert requires == ["setuptools>=77"]  # the first with PEP 639 license expressions


def test_citation_cff_is_valid_and_cites_the_three_papers(repo_root, pyproject):
    import jsonschema

    schema = json.loads((repo_root / "tests/fixtures/cff/schema-1.2.0.json").read_text())
    cff = yaml.safe_load((repo_root / "CITATION.cff").read_text())
    jsonschema.validate(cff, schema, format_checker=jsonschema.FormatChecker())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == pyproject["version"] and cff["license"] == "MIT"
    titles = " | ".join(r["title"] for r in cff["references"])
    for words in ("AudioFuse", "Audio for Audio is Better", "SAM-Optimized Audio Spectrogram Transformers"):
        assert words in titles
    assert {str(i["value"]) for r in cff["references"] for i in r.get("identifiers", [])} == \
        {"arXiv:2509.23454", "arXiv:2512.22564"}
    broken = {k: v for k, v in cff.items() if k != "authors"}
    with pytest.raises(jsonschema.ValidationError):  # the check can fail
        jsonschema.validate(broken, schema)


# ------------------------------------------------------------------ direct dependencies
# requirements.in entries used without an `import` of their own name in src/, tests/,
# workflow/ or benchmarks/, and why each is there
NOT_IMPORTED = {
    "scikit-learn": "imported as sklearn",
    "pyyaml": "imported as yaml",
    "opencv-python-headless": "imported as cv2 (benchmarks only)",
    "pytorch-optimizer": "imported as pytorch_optimizer",
    "snakemake": "the workflow engine (command)",
    "dvc": "the experiment ledger (command)",
    "ipykernel": "the kernel papermill runs the report notebook in",
    "nbformat": "the notebook format papermill and nbconvert read and write",
    "pytest": "the test runner",
    "pytest-xdist": "`make test` runs test files on 2 workers",
    "ruff": "`make lint`",
    "snakefmt": "`make lint`",
    "snakemake-executor-plugin-slurm": "profiles/slurm",
}
IMPORT_NAME = {"scikit-learn": "sklearn", "pyyaml": "yaml", "opencv-python-headless": "cv2",
               "pytorch-optimizer": "pytorch_optimizer"}


def test_every_direct_dependency_is_used(repo_root):
    names = requirement_names((repo_root / "requirements.in").read_text())
    assert "timm" not in names and "rich" not in names  # pinned, never imported: dropped
    code = "\n".join(p.read_text(errors="replace") for d in ("src", "tests", "workflow", "benchmarks")
                     for p in (repo_root / d).rglob("*") if p.suffix in (".py", ".smk", ".ipynb") or p.name == "Snakefile")
    code += (repo_root / "Snakefile").read_text() + (repo_root / "Makefile").read_text()
    unused = []
    for name in names:
        module = IMPORT_NAME.get(name, name.replace("-", "_"))
        imported = re.search(rf"(^|\s)(import|from)\s+{re.escape(module)}\b|[\"']{re.escape(module)}[\"']", code, re.M)
        if not imported and name not in NOT_IMPORTED:
            unused.append(name)
    assert not unused, f"in requirements.in but never imported (drop, or say why in NOT_IMPORTED): {unused}"
    assert not set(NOT_IMPORTED) - set(names), "NOT_IMPORTED names a package requirements.in no longer has"


def test_pyproject_dependencies_are_direct_requirements(pyproject, repo_root):
    direct = set(requirement_names((repo_root / "requirements.in").read_text()))
    declared = requirement_names("\n".join([*pyproject["dependencies"],
                                            *(d for ds in pyproject["optional-dependencies"].values() for d in ds)]))
    assert set(declared) <= direct, set(declared) - direct
    assert "rich" not in declared and "timm" not in declared


# ------------------------------------------------------------------ locks
def test_lock_is_hash_checked_and_pins_every_direct_requirement(repo_root):
    text = (repo_root / "requirements.lock").read_text()
    locked = pins(text)
    for name, version in TORCH_STACK.items():
        assert locked[name] == version
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    requirements = [b for b in blocks if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==", b)]
    assert len(requirements) == len(locked)
    missing = [b.split()[0] for b in requirements if "--hash=sha256:" not in b]
    assert not missing, f"pip's hash-checking mode needs a hash for every requirement: {missing}"
    for name in requirement_names((repo_root / "requirements.in").read_text()):
        assert name in locked, name
    assert "timm" not in locked
    assert "rich" in locked  # still installed: dvc, gto and typer require it


def test_cpu_lock_is_derived_from_the_lock(repo_root, cpu_lock):
    lock = (repo_root / "requirements.lock").read_text()
    cpu = (repo_root / "requirements-cpu.lock").read_text()
    assert cpu == cpu_lock.derive(lock), "requirements-cpu.lock is stale: run `make lock`"
    full, lean = pins(lock), pins(cpu)
    assert f"--extra-index-url {CPU_INDEX}" in cpu.splitlines()
    for name, version in TORCH_STACK.items():
        assert lean[name] == f"{version}+cpu"
    dropped = set(full) - set(lean)
    assert dropped and all(re.match(r"^(nvidia-|cuda-|triton$)", n) for n in dropped), dropped
    assert len([n for n in full if n.startswith("nvidia-")]) >= 15 and not [n for n in lean if n.startswith("nvidia-")]
    assert {n: v for n, v in lean.items() if n not in TORCH_STACK} == \
        {n: v for n, v in full.items() if n not in TORCH_STACK and n not in dropped}
    assert "--hash" not in cpu  # all or none: the +cpu wheels' hashes are not known here


def test_cuda_only_packages_follow_the_via_annotations(cpu_lock):
    text = """a==1 \\
    --hash=sha256:00
    # via torch
torch==2.11.0
    # via -r requirements.in
nvidia-x==1
    # via torch
nvidia-y==2
    # via
    #   nvidia-x
    #   torch
helper==3
    # via nvidia-y
shared==4
    # via
    #   nvidia-x
    #   a
triton==3.6.0
    # via torch
torchaudio==2.11.0
    # via -r requirements.in
torchvision==0.26.0
    # via -r requirements.in
"""
    assert cpu_lock.cuda_only(cpu_lock.parse(text)) == {"nvidia-x", "nvidia-y", "helper", "triton"}
    out = cpu_lock.derive(text)
    assert "shared==4" in out and "a==1" in out and "torch==2.11.0+cpu" in out and "helper" not in out.split("\n", 6)[-1]
    with pytest.raises(ValueError, match="torch"):
        cpu_lock.derive("numpy==2\n")


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_makefile_installs_the_chosen_lock(repo_root, tmp_path):
    def dry(*args):
        out = subprocess.run(["make", "-n", "install", f"VENV={tmp_path / 'venv'}", *args], cwd=repo_root,
                             capture_output=True, text=True, check=True)
        return out.stdout

    assert "-r requirements.lock" in dry()  # CI and a fresh clone: the hash-checked lock
    cpu = dry("LOCK=requirements-cpu.lock")
    assert "-r requirements-cpu.lock" in cpu and "-r requirements.lock" not in cpu


def _cpu_index_page(package: str) -> str:
    try:
        with urllib.request.urlopen(f"{CPU_INDEX}/{package}/", timeout=15) as r:
            return r.read().decode()
    except (urllib.error.URLError, OSError) as e:
        pytest.skip(f"{CPU_INDEX} is not reachable from here ({e}): requirements-cpu.lock is not checked")


@pytest.mark.parametrize("package", sorted(TORCH_STACK))
def test_cpu_index_has_the_pinned_wheels(package):
    """Where the PyTorch CPU index answers: a +cpu wheel of each pinned version for this
    Python on Linux x86-64 (what `pip install -r requirements-cpu.lock` will look for)."""
    page = _cpu_index_page(package)
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    wheel = re.compile(rf"{package}-{re.escape(TORCH_STACK[package])}(%2B|\+)cpu-{tag}-{tag}-[^\"'<>]*x86_64\.whl")
    assert wheel.search(page), f"no {package}=={TORCH_STACK[package]}+cpu wheel for {tag} on {CPU_INDEX}"


# ------------------------------------------------------------------ the Kubernetes image
def test_kubernetes_profile_names_the_image_containerfile_builds(repo_root):
    profile_text = (repo_root / "profiles/kubernetes/profile.yaml").read_text()
    profile = yaml.safe_load(profile_text)
    assert profile["container-image"].endswith("/auscult:CHANGE-ME-commit")  # a tag per commit, to fill in
    assert "ghcr.io/CHANGE-ME/auscult:latest" not in profile_text
    assert "Containerfile" in profile_text
    containerfile = (repo_root / "Containerfile").read_text()
    # every file it copies is in the repository and let through .dockerignore
    ignore = (repo_root / ".dockerignore").read_text()
    for line in containerfile.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (repo_root / src).exists(), src
                assert f"!{src.rstrip('/')}" in ignore.replace("/\n", "\n"), src
    assert "ARG LOCK=requirements.lock" in containerfile
    readme = (repo_root / "profiles/kubernetes/README.md").read_text()
    plugins = set(re.findall(r"snakemake-(?:executor|storage)-plugin-[a-z0-9]+==[0-9.]+", readme))
    assert plugins and plugins <= set(re.findall(r"snakemake-(?:executor|storage)-plugin-[a-z0-9]+==[0-9.]+",
                                                 containerfile))
