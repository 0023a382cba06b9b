"""Training runs with only torch, numpy, pandas and scikit-learn: no audio stack imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
AUDIO = ("librosa", "torchaudio", "soundfile", "soxr", "scipy.signal")

CODE = f"""
import sys
sys.path.insert(0, {str(SRC)!r})
import tempfile
import numpy as np, torch
from torch import nn
import auscult.training.jobs, auscult.papers.audiofuse.train, auscult.papers.koike.train, auscult.papers.ast_sam.train
from auscult.training import train_binary, run_job, fit
from auscult.papers.ast_sam.train import train_cycles

class M(nn.Module):
    inputs = ("x",)
    def __init__(self, k):
        super().__init__()
        self.fc = nn.Linear(3, k)
    def forward(self, b):
        out = self.fc(b["x"])
        return out.reshape(-1) if out.shape[1] == 1 else out

rng = np.random.default_rng(0)
x = {{"x": rng.random((16, 3)).astype(np.float32)}}
y = np.array([0, 1] * 8)
cfg = {{"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 4, "max_epochs": 1, "patience": 1,
       "monitor": "val_auc", "lr_plateau": {{"factor": 0.5, "patience": 1, "min_lr": 0.0}},
       "class_balance": "none", "amp": False, "trainable": "all", "bn_recalibrate_batches": 0}}
icfg = {{"lr": 1e-3, "weight_decay": 0.0, "batch_size": 4, "epochs": 1, "label_smoothing": 0.0,
        "sampler": "weighted", "sam": {{"enabled": True, "rho": 0.05, "adaptive": False}}, "amp": False,
        "monitor": "score_exact", "paper_protocol": False}}
with tempfile.TemporaryDirectory() as t:
    train_binary(M(1), x, y, x, y, cfg, t + "/b", seed=0, progress=False)
    train_cycles(M(4), x, y % 4, x, y % 4, icfg, t + "/c", checkpoint_dir=t + "/ck", seed=0, progress=False)
print(sorted(m for m in {AUDIO!r} if m in sys.modules))
"""


def test_training_imports_no_audio_stack():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
