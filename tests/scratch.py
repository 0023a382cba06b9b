"""Scratch copies of the workflow for tests that run Snakemake or DVC (never in the repo)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

SRC = Path(__file__).resolve().parents[1] / "src"
WORKFLOW_FILES = ["Snakefile", "params.yaml", "workflow", "config", "profiles", "src"]


def copy_workflow(repo: Path, dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """Copy what Snakemake needs (plus ``extra`` paths, e.g. dvc.yaml) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in [*WORKFLOW_FILES, *extra]:
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def small_demo_params(repo: Path) -> dict:
    """params.yaml + config/demo.yaml merged (DVC reads only params.yaml), made smaller:
    60/80 synthetic recordings, 2 epochs, only the variants T1-T3 need, one Koike model, one AST+SAM variant."""
    from auscult.params import load_params

    cfg = load_params(repo / "params.yaml", [repo / "config" / "demo.yaml"])
    cfg["datasets"]["physionet2016"]["synthetic"].update(n_records=60, n_test=16)
    af = cfg["audiofuse"]
    af["variants"] = {"cnn_only": af["variants"]["cnn_only"], "audiofuse": af["variants"]["audiofuse"]}
    af["tables"] = {"t1_physionet": ["cnn_only", "audiofuse"], "t2_pascal": ["cnn_only", "audiofuse"],
                    "t3_vit_ablation": ["audiofuse"]}
    af["training"]["max_epochs"] = 2
    af["head_retrain"]["training"]["max_epochs"] = 2
    af["evaluation"]["bootstrap"]["n_boot"] = 50
    # Koike: one small model on one input (one DVC stage, one job per seed)
    kk = cfg["koike"]
    kk["models"] = {"mobilenet_v2": {**kk["models"]["mobilenet_v2"], "inputs": ["logmel"]}}
    kk["tables"] = {"t4_uar": ["mobilenet_v2"], "t5_spec_sens_f1": ["mobilenet_v2"]}
    kk["max_train_records"], kk["max_eval_records"] = 24, 12
    kk["bootstrap"]["n_boot"] = 20
    cfg["cross_dataset"]["koike_models"] = None  # the one model left
    # AST+SAM: one variant, one seed, one epoch
    asm = cfg["ast_sam"]
    asm["variants"] = {"ast_wrs_sam": asm["variants"]["ast_wrs_sam"]}
    asm["tables"] = {"t6_ablation": ["ast_wrs_sam"]}
    asm["training"]["epochs"] = 1
    return cfg


def write_params(dest: Path, cfg: dict) -> None:
    """Validate ``cfg`` and write it as the scratch copy's params.yaml."""
    from auscult.params import validate

    validate(cfg)
    (dest / "params.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def src_env() -> dict:
    """The environment with this checkout's ``src`` on the path (what a job process imports)."""
    return dict(os.environ, PYTHONPATH=str(SRC))


def run_python(code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh interpreter on this checkout's ``src`` (text output)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=src_env())


def demo_feature_cache(tmp: Path, *, n_records: int, seed: int, n_test: int,
                       duration_s: tuple[float, float]) -> tuple:
    """A synthetic PhysioNet folder and its AudioFuse feature cache at the demo's settings:
    (params.yaml + config/demo.yaml, the raw folder, its manifest, the cache), for tests that train a
    tiny run."""
    from auscult.datasets import physionet2016, synthetic
    from auscult.features.build import build_feature_cache
    from auscult.params import load_params

    repo = SRC.parent
    raw = tmp / "raw"
    synthetic.write_physionet2016(raw, n_records=n_records, seed=seed, n_test=n_test, duration_s=duration_s)
    manifest = physionet2016.build_manifest(raw, hash_audio=False)
    cfg = load_params(repo / "params.yaml", [repo / "config" / "demo.yaml"])
    feats = tmp / "features" / "audiofuse-0123abcd"
    build_feature_cache(manifest, raw, feats, recipe="audiofuse", cfg=cfg["features"]["audiofuse"],
                        meta={"dataset": "physionet2016", "manifest_sha256": "x" * 64}, progress=False)
    return cfg, raw, manifest, feats
