"""`make bench`: measured figures, printed (no thresholds; timings belong in reports, not tests).

1. Feature caching on the real PhysioNet 2016 mirror: all 3240 recordings (or the first
   AUSCULT_BENCH_LIMIT), the AudioFuse feature stage against the official notebook's serial
   recipe (librosa + cv2) in the same run: wall/CPU seconds, recordings/s, their ratio, and the
   largest difference of the cached images (needs AUSCULT_DATA_MIRROR; skipped otherwise);
   then the Koike and AST recipes' recordings/s.
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


def bench_features(workers: int, recipe: str, dataset: str, limit: int | None = None) -> None:
    """Recordings/s of one feature recipe over a mirror dataset (the Koike and AST recipes)."""
    import importlib

    from auscult.features.build import build_feature_cache
    from auscult.params import load_params

    mirror = os.environ.get("AUSCULT_DATA_MIRROR")
    if not mirror:
        print(f"features {recipe}: skipped (set AUSCULT_DATA_MIRROR to the real-data mirror)")
        return
    root = Path(mirror) / dataset
    try:
        manifest = importlib.import_module(f"auscult.datasets.{dataset}").build_manifest(root, hash_audio=False)
    except Exception as e:  # e.g. the offline ICBHI mirror holds 10 of 920 recordings
        print(f"features {recipe}: skipped ({dataset} mirror: {type(e).__name__}: {str(e)[:160]})")
        return
    if limit:
        keep = manifest["audio_path"].drop_duplicates().iloc[:limit]
        manifest = manifest[manifest["audio_path"].isin(keep)].reset_index(drop=True)
    cfg = load_params(REPO / "params.yaml")["features"][recipe]
    with tempfile.TemporaryDirectory() as tmp:
        stats = build_feature_cache(manifest, root, Path(tmp) / "feat", recipe=recipe, cfg=cfg,
                                    workers=workers, progress=False)
        size = sum(f.stat().st_size for f in (Path(tmp) / "feat").iterdir()) / 2**30
    print(f"features {recipe}: {dataset}, {stats['recordings']} recordings ({stats['rows']} rows), "
          f"{workers} workers: {stats['seconds']:.1f} s, {stats['recordings_per_s']:.1f} recordings/s "
          f"(cache {size:.2f} GiB)")


def reference_recipe(paths: list[str], out_dir: Path) -> None:
    """The official AudioFuse preprocessing notebook, one file after another: librosa.load
    (22050 Hz, first 5 s), zero-pad, melspectrogram, power_to_db, cv2.resize, min-max, np.save
    (spectrogram and waveform, as the cache stores them)."""
    import cv2
    import librosa
    import numpy as np

    for i, path in enumerate(paths):
        y, _ = librosa.load(path, sr=22050, mono=True, duration=5)
        y = np.pad(y, (0, max(0, 110250 - len(y))))[:110250]
        s = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050, n_fft=2048, hop_length=512,
                                                               n_mels=224), ref=np.max)
        s = cv2.resize(s, (224, 224))
        s = (s - s.min()) / (s.max() - s.min() + 1e-6)
        np.save(out_dir / f"{i}_spec.npy", s.astype(np.float32))
        np.save(out_dir / f"{i}_wave.npy", y.astype(np.float32))


def bench_features_vs_reference(workers: int, limit: int | None = None) -> None:
    """The AudioFuse feature stage against the official recipe, in the same run, on the same
    recordings: wall and CPU seconds of each and their ratio (issue target: <= 0.5 in wall time),
    and how far the cached images are from the reference's."""
    import numpy as np

    from auscult.datasets import physionet2016
    from auscult.features.build import build_feature_cache
    from auscult.features.store import load_arrays, read_index
    from auscult.params import load_params

    mirror = os.environ.get("AUSCULT_DATA_MIRROR")
    if not mirror:
        print("features vs reference: skipped (set AUSCULT_DATA_MIRROR to the real-data mirror)")
        return
    root = Path(mirror) / "physionet2016"
    manifest = physionet2016.build_manifest(root, hash_audio=True)
    if limit:
        manifest = manifest.iloc[:limit].reset_index(drop=True)
    paths = [str(root / p) for p in manifest["audio_path"]]
    cfg = load_params(REPO / "params.yaml")["features"]["audiofuse"]
    with tempfile.TemporaryDirectory() as tmp:
        ref_dir, feat = Path(tmp) / "ref", Path(tmp) / "feat"
        ref_dir.mkdir()
        times = {}
        for name, run in (("reference", lambda: reference_recipe(paths, ref_dir)),
                          ("pipeline", lambda: build_feature_cache(manifest, root, feat, recipe="audiofuse",
                                                                   cfg=cfg, workers=workers, progress=False))):
            t0, c0 = time.perf_counter(), _cpu_seconds()
            run()
            times[name] = (time.perf_counter() - t0, _cpu_seconds() - c0)
        ids, arrays = load_arrays(feat, ["spec"], read_index(feat)["record_id"].tolist()[:200])
        ref = np.stack([np.load(ref_dir / f"{i}_spec.npy") for i in range(len(ids))])
        diff = np.abs(arrays["spec"] - ref)
        cols = np.flatnonzero(diff.max(axis=(0, 1)) > 1e-4)
    (rw, rc), (pw, pc) = times["reference"], times["pipeline"]
    n = len(paths)
    print(f"features vs reference: PhysioNet 2016, {n} recordings; reference recipe (serial) {rw:.1f} s wall, "
          f"{rc:.1f} s CPU ({n / rw:.1f} rec/s); pipeline ({workers} workers, sha256 check, shards) {pw:.1f} s wall, "
          f"{pc:.1f} s CPU ({n / pw:.1f} rec/s); pipeline/reference = {pw / rw:.2f} wall, {pc / rc:.2f} CPU "
          f"(target <= 0.5 wall)")
    print(f"features vs reference: first {len(ids)} images: max |diff| {diff.max():.2e}; time columns differing "
          f"by > 1e-4: {cols.tolist()} of 224 (the reference resamples only the first 5 s, so the resampler's "
          f"edge reaches the last columns; the pipeline resamples 5.5 s and crops)")


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_training(overlays: list[str], label: str, threads: int, steps: int = 2) -> None:
    import torch

    from auscult.models import build_model, count_trainable
    from auscult.papers.audiofuse import variant_model as model_config
    from auscult.params import load_params
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

    from auscult import forecast
    from auscult.layout import variant_model_config, variants
    from auscult.models import build_model, count_trainable
    from auscult.params import load_params
    from auscult.reporting.tables import paper_values
    from auscult.training.seeding import seed_everything

    torch.set_num_threads(threads)
    cfg = load_params(REPO / "params.yaml")
    shapes = forecast.input_shapes(cfg, "koike")  # the paper's inputs at this budget
    paper = paper_values()["koike_t4_uar"]["rows"]
    for v in variants(cfg, "koike"):
        mcfg = variant_model_config(cfg, "koike", v)
        seed_everything(0)
        model = build_model(mcfg).train()
        key = model.inputs[0]
        x = torch.randn(bs, *shapes[key]) * (0.1 if key == "wave" else 1.0)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        rate = _step_rate(model, {key: x}, opt, steps, bs, lambda y: y.float().mean())
        m = v.rsplit("_", 1)[0]
        print(f"training [koike paper input] {v:28s} {count_trainable(model) / 1e6:7.2f} M params "
              f"(paper {paper.get(m, {}).get('params_M', '–')} M): {rate:6.2f} samples/s "
              f"(batch {bs}, {threads} threads)")
        del model, opt


def bench_ast(threads: int, steps: int = 2, bs: int = 4) -> None:
    import torch

    from auscult.models import build_model, count_trainable
    from auscult.papers.ast_sam import variant_slice as ast_sam_slice
    from auscult.papers.ast_sam.train import make_optimizer
    from auscult.params import load_params
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
    bench_features_vs_reference(workers=os.cpu_count() or 1,
                                limit=int(os.environ["AUSCULT_BENCH_LIMIT"]) if "AUSCULT_BENCH_LIMIT" in os.environ
                                else None)
    limit = int(os.environ["AUSCULT_BENCH_LIMIT"]) if "AUSCULT_BENCH_LIMIT" in os.environ else None
    bench_features(os.cpu_count() or 1, "koike", "physionet2016", limit)
    bench_features(os.cpu_count() or 1, "ast_sam", "icbhi2017", limit)
    bench_training([], "paper", threads=os.cpu_count() or 1)
    bench_training(["config/quick.yaml"], "quick", threads=os.cpu_count() or 1)
    bench_koike(threads=os.cpu_count() or 1)
    bench_ast(threads=os.cpu_count() or 1)
    bench_dry_run()


if __name__ == "__main__":
    main()
