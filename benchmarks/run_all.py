"""`make bench`: measured figures, printed (no thresholds; timings belong in reports, not tests).

1. Feature caching on the real PhysioNet 2016 mirror: all 3240 recordings, recordings/s
   and wall time (needs AUSCULT_DATA_MIRROR; skipped with a message otherwise).
2. Training throughput (samples/s, fwd+bwd+AdamW step, batch 32) per AudioFuse model on
   this machine, for the paper configuration and the quick-budget configuration.
3. Koike et al.: training throughput per model at the paper's input size (60 s at 2 kHz:
   log-mel 64 x 301, spectrogram 201 x 301, CNN14 from the 120 000-sample waveform), with
   the parameter counts beside the paper's Table II.
4. AST (+SAM) throughput at the paper's input (798 x 128 fbank), paper configuration.
5. Dry-run time of the full paper DAG (`snakemake -n all` with params.yaml).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_features(workers: int) -> None:
    from auscult.datasets import physionet2016
    from auscult.features.build import build_feature_cache
    from auscult.params import load_params

    mirror = os.environ.get("AUSCULT_DATA_MIRROR")
    if not mirror:
        print("features: skipped (set AUSCULT_DATA_MIRROR to the real-data mirror)")
        return
    root = Path(mirror) / "physionet2016"
    t0 = time.perf_counter()
    manifest = physionet2016.build_manifest(root, hash_audio=False)
    t_manifest = time.perf_counter() - t0
    cfg = load_params(REPO / "params.yaml")["features"]["audiofuse"]
    with tempfile.TemporaryDirectory() as tmp:
        stats = build_feature_cache(manifest, root, Path(tmp) / "feat", recipe="audiofuse", cfg=cfg,
                                    workers=workers, progress=False)
        size = sum(f.stat().st_size for f in (Path(tmp) / "feat").iterdir()) / 2**30
    print(f"features: PhysioNet 2016, {stats['recordings']} recordings, {workers} workers: "
          f"{stats['seconds']:.1f} s, {stats['recordings_per_s']:.1f} recordings/s "
          f"(manifest without hashing {t_manifest:.1f} s; cache {size:.2f} GiB)")


def bench_training(overlays: list[str], label: str, threads: int, steps: int = 2) -> None:
    import torch

    from auscult.models import build_model, count_trainable
    from auscult.params import load_params, model_config
    from auscult.training.seeding import seed_everything

    torch.set_num_threads(threads)
    cfg = load_params(REPO / "params.yaml", [REPO / o for o in overlays])["audiofuse"]
    for variant in ["vit_only", "cnn_only", "audiofuse"]:
        seed_everything(0)
        model = build_model(model_config(cfg, variant)).train()
        batch = {"spec": torch.rand(32, 224, 224), "wave": torch.randn(32, 110250) * 0.1}
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        rate = _step_rate(model, batch, opt, steps, 32, lambda y: y.float().mean())
        print(f"training [{label}] {variant:10s} {count_trainable(model):>9,d} params: "
              f"{rate:7.1f} samples/s (batch 32, {threads} threads, best of {steps - 1})")


def _step_rate(model, batch, opt, steps: int, bs: int, loss_fn) -> float:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = loss_fn(model(batch))
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    best = min(times[1:]) if len(times) > 1 else times[0]
    return bs / best


def bench_koike(threads: int, steps: int = 2, bs: int = 8) -> None:
    import torch

    from auscult.layout import variant_model_config, variants
    from auscult.models import build_model, count_trainable
    from auscult.params import load_params
    from auscult.reporting.tables import paper_values
    from auscult.training.seeding import seed_everything

    torch.set_num_threads(threads)
    cfg = load_params(REPO / "params.yaml")
    feat = cfg["features"]["koike"]
    n = int(feat["sample_rate"] * feat["clip_seconds"])
    frames = 1 + n // feat["hop_length"]
    shapes = {"logmel": (feat["n_mels"], frames), "linear": (feat["n_fft"] // 2 + 1, frames)}
    paper = paper_values()["koike_t4_uar"]["rows"]
    for v in variants(cfg, "koike"):
        mcfg = variant_model_config(cfg, "koike", v)
        seed_everything(0)
        model = build_model(mcfg).train()
        key = model.inputs[0]
        x = torch.randn(bs, n) * 0.1 if key == "wave" else torch.randn(bs, *shapes[key])
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        rate = _step_rate(model, {key: x}, opt, steps, bs, lambda y: y.float().mean())
        m = v.rsplit("_", 1)[0]
        print(f"training [koike paper input] {v:28s} {count_trainable(model) / 1e6:7.2f} M params "
              f"(paper {paper.get(m, {}).get('params_M', '–')} M): {rate:6.2f} samples/s "
              f"(batch {bs}, {threads} threads)")
        del model, opt


def bench_ast(threads: int, steps: int = 2, bs: int = 4) -> None:
    import torch

    from auscult.layout import ast_sam_slice
    from auscult.models import build_model, count_trainable
    from auscult.params import load_params
    from auscult.training.icbhi import make_optimizer
    from auscult.training.seeding import seed_everything

    torch.set_num_threads(threads)
    cfg = load_params(REPO / "params.yaml")["ast_sam"]
    for v in ("ast", "ast_wrs_sam"):
        sl = ast_sam_slice(cfg, v)
        seed_everything(0)
        model = build_model({**sl["model"], "pretrained": False}).train()
        key = model.inputs[0]
        batch = {key: torch.randn(bs, sl["model"]["max_length"], sl["model"]["num_mel_bins"])}
        y = torch.zeros(bs, dtype=torch.long)
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=sl["training"]["label_smoothing"])
        opt = make_optimizer([p for p in model.parameters() if p.requires_grad], sl["training"])
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            if sl["training"]["sam"]["enabled"]:  # two forward/backward passes per step
                loss_fn(model(batch), y).backward()
                opt.first_step(zero_grad=True)
                loss_fn(model(batch), y).backward()
                opt.second_step(zero_grad=True)
            else:
                loss_fn(model(batch), y).backward()
                opt.step()
                opt.zero_grad()
            times.append(time.perf_counter() - t0)
        best = min(times[1:]) if len(times) > 1 else times[0]
        print(f"training [ast_sam paper input] {v:12s} {count_trainable(model) / 1e6:6.1f} M params: "
              f"{bs / best:6.2f} samples/s (batch {bs}, {threads} threads)")


def bench_dry_run() -> None:
    exe = shutil.which("snakemake") or str(Path(sys.executable).parent / "snakemake")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["Snakefile", "params.yaml", "workflow", "config", "profiles", "src"]:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, Path(tmp) / name)
        t0 = time.perf_counter()
        out = subprocess.run([exe, "-n", "--cores", "8", "--", "all"],
                             cwd=tmp, capture_output=True, text=True)
        dt = time.perf_counter() - t0
    jobs = next((ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("total")), "?")
    status = "ok" if out.returncode == 0 else f"FAILED rc={out.returncode}: {out.stderr[-500:]}"
    print(f"dry-run: full paper DAG ({jobs} jobs) in {dt:.2f} s wall, process start included [{status}]")


def main() -> None:
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    bench_features(workers=os.cpu_count() or 1)
    bench_training([], "paper", threads=os.cpu_count() or 1)
    bench_training(["config/quick.yaml"], "quick", threads=os.cpu_count() or 1)
    bench_koike(threads=os.cpu_count() or 1)
    bench_ast(threads=os.cpu_count() or 1)
    bench_dry_run()


if __name__ == "__main__":
    main()
