"""`make forecast`: the paper budget's predicted compute per table, before running it.

Prints, per model: FLOPs per sample, the estimated peak memory of a training job at the
budget's batch size and input shapes, how many such jobs fit in an 80 GB GPU and the
gpu_slots it asks for; per table: training jobs, PFLOPs and H100 GPU-hours at max_epochs and
at the expected early-stopping point, and the wall time on one GPU with small jobs sharing it
(auscult.forecast states every assumption). Then checks the counting against measurement:
the same forecast for a budget already run in this working tree (default: demo), at the
epochs each job ran and this CPU's matmul rate, against its training jobs' benchmark files.

    python benchmarks/forecast.py [--budget paper] [--check demo] [--threads 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from auscult import forecast
from auscult.params import load_params

REPO = Path(__file__).resolve().parents[1]
OVERLAYS = {"paper": [], "cpu": ["config/cpu.yaml"], "quick": ["config/quick.yaml"], "demo": ["config/demo.yaml"],
            "rehearsal": ["config/rehearsal.yaml"]}


def config_for(budget: str) -> dict:
    return load_params(REPO / "params.yaml", [REPO / o for o in OVERLAYS[budget]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default="paper", choices=sorted(OVERLAYS))
    ap.add_argument("--check", default="demo", choices=sorted(OVERLAYS),
                    help="budget whose measured runs in this tree check the counting")
    ap.add_argument("--threads", type=int, default=1, help="threads the checked jobs ran with (demo: 1)")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)

    cfg = config_for(args.budget)
    jobs = forecast.jobs(cfg, REPO)
    print(f"== forecast, budget {args.budget}: H100 bf16 dense peak {forecast.H100_BF16_DENSE_TFLOPS} TFLOP/s; "
          f"assumed utilisation by trainable parameters {forecast.UTILISATION}; expected stop = "
          f"min(max_epochs, {forecast.EXPECTED_STOP_PATIENCES} x patience); "
          f"{forecast.GPU_SLOTS_PER_GPU} gpu_slots per GPU, slots by parameters {forecast.SLOTS}")
    print(f"peak_mem_gb per training job (estimate, auscult.forecast): fp32 tensors saved for backward x batch + "
          f"{forecast.BYTES_PER_TRAINABLE} B per trainable parameter (+{forecast.BYTES_SAM_COPY} under SAM) + "
          f"{forecast.BYTES_PER_FROZEN} B per frozen one + {forecast.CUDA_OVERHEAD_BYTES / 1e9:g} GB CUDA overhead; "
          f"jobs_per_80gb_gpu = {forecast.GPU_MEMORY_BYTES / 1e9:g} GB // peak; gpu_slots = max(by parameters, "
          "by memory share)")
    print(forecast.per_model_frame(jobs).round(3).to_string(index=False))
    print()
    print(forecast.forecast_frame(jobs).round(2).to_string(index=False))

    check = config_for(args.check)
    measured = forecast.measured_vs_forecast(check, forecast.jobs(check, REPO), REPO, threads=args.threads)
    reached = measured["forecast_at_peak_s"].sum() / measured["measured_s"].sum() if not measured.empty else None
    # the optimizer steps alone (what s/step times): independent of start-up and evaluation
    timed = measured.dropna(subset=["step_s", "step_gflop"]) if not measured.empty else measured
    reached_steps = (timed["step_gflop"].sum() / (timed["cpu_matmul_tflops"].iloc[0] * 1e3) / timed["step_s"].sum()
                     if not timed.empty else None)
    efficiency, source = 0.167, "the cpu budget's share of matmul peak (README)"
    if args.check == "rehearsal" and reached_steps is not None:
        efficiency = reached_steps
        source = "the share of matmul peak this rehearsal's optimizer steps reached (check below)"

    rehearsal = config_for("rehearsal")
    steps = forecast.measured_step_forecast(jobs, rehearsal, REPO, threads=args.threads, cpu_efficiency=efficiency)
    print("\n== from the rehearsal's measured seconds per optimizer step (paper shapes and batch sizes on "
          f"this machine; `make rehearsal` first). CPU rate = {efficiency:.3f} x its matmul peak: {source}")
    if steps["measured_s_per_step_cpu"].notna().any():
        print(steps.round(4).to_string(index=False))
        found = steps.dropna(subset=["measured_s_per_step_cpu"])
        once = found.drop_duplicates(["paper", "variant"])  # tables that share a job count it once
        print(f"\nmeasured for {len(found)} of {len(steps)} (table, model) rows; each job once: "
              f"{once['gpu_h'].sum():.2f} H100-hours at the expected stop ({once['cpu_h'].sum():.1f} hours on this "
              f"CPU), against {once['gpu_h_from_flops'].sum():.2f} from the FLOP count (training and evaluation). "
              "A job that trains several runs (Koike: one model on both inputs) records one mean s/step for them.")
    else:
        print("no rehearsal training runs with a step time in this tree")

    print(f"\n== check on this CPU, budget {args.check} (runs found in this working tree)")
    if measured.empty:
        print(f"no measured {args.check} training runs here: run `make {args.check}` first")
        return
    print(measured.round(4).to_string(index=False))
    print(f"\nforecast at this CPU's matmul peak / measured wall, all {len(measured)} training jobs: {reached:.3f} "
          "(the fraction of matmul peak the jobs reached, start-up and validation included; the GPU forecast "
          "assumes the utilisation above)")
    if reached_steps is not None:
        print(f"the same for their optimizer steps alone ({len(timed)} jobs with a step time): {reached_steps:.3f} "
              "(step FLOPs / matmul peak / steps x s/step)")


if __name__ == "__main__":
    main()
