"""One Snakemake training job: the shared body of ``workflow/scripts/*_train.py``.

Each rule's script is ``run_job(snakemake, "<paper>")`` (Koike: ``run_koike_job``, one model's
runs on all its inputs): the job log, then the paper's
``run_training`` (features ``input.features``, the run folder of ``output.model``, the
``params.train`` slice, ``params.checkpoint_dir`` for the resumable state outside the
versioned run folder, the ``seed`` wildcard and the job's threads), then one log line.
Imports only torch/numpy/pandas/scikit-learn (through auscult), so it runs on a GPU machine
without the audio stack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

PAPERS = ("audiofuse", "koike", "ast_sam")


def _runner(paper: str) -> Callable[..., dict]:
    if paper == "audiofuse":
        from auscult.training.audiofuse import run_training
    elif paper == "koike":
        from auscult.training.koike import run_training
    elif paper == "ast_sam":
        from auscult.training.ast_sam import run_training
    else:
        raise ValueError(f"unknown paper {paper!r}; one of {list(PAPERS)}")
    return run_training


def describe(paper: str, summary: Mapping[str, Any]) -> str:
    """The job log's one-line account of a finished run."""
    if paper == "ast_sam":
        return (f"clean epoch {summary['selection']['clean']['epoch']}, paper-protocol epoch "
                f"{(summary['selection']['paper'] or {}).get('epoch')}, weights "
                f"{(summary['weights'] or {}).get('status')}")
    text = f"best epoch {summary.get('best_epoch')}"
    return text + (f", weights {summary['weights']}" if paper == "koike" else "")


def run_job(smk, paper: str, *, variant: str | None = None) -> dict:
    """Run the training job ``smk`` (Snakemake's ``snakemake`` object) of ``paper``;
    ``variant`` (default: the ``variant`` wildcard) names the run in its model card."""
    from auscult import runlog

    run_training = _runner(paper)
    log = runlog.setup(runlog.job_log(smk))
    variant = smk.wildcards.variant if variant is None else variant
    summary = run_training(
        features_dir=smk.input.features,
        train_params=smk.params.train,
        out_dir=Path(smk.output.model).parent,
        seed=int(smk.wildcards.seed),
        threads=smk.threads,
        checkpoint_dir=smk.params.checkpoint_dir,
        variant=variant,
    )
    log.info("trained %s seed %s: %s", variant, smk.wildcards.seed, describe(paper, summary))
    return summary


def run_koike_job(smk) -> dict[str, dict]:
    """Run the Koike training job ``smk`` (rule ``koike_run_<model>``): the model's run on
    each of its inputs for the ``seed`` wildcard, one after the other in this process, each
    into its own run folder (``params.run_dirs``) with its own parameter slice
    (``params.train``) and resumable state (``params.checkpoint_dir``), keyed by input."""
    from auscult import runlog

    run_training = _runner("koike")
    log = runlog.setup(runlog.job_log(smk))
    model, seed = smk.params.model, int(smk.wildcards.seed)
    out = {}
    for inp, train_params in smk.params.train.items():
        variant = f"{model}_{inp}"
        out[inp] = run_training(
            features_dir=smk.input.features,
            train_params=train_params,
            out_dir=Path(smk.params.run_dirs[inp]),
            seed=seed,
            threads=smk.threads,
            checkpoint_dir=smk.params.checkpoint_dir[inp],
            variant=variant,
        )
        log.info("trained %s seed %s: %s", variant, seed, describe("koike", out[inp]))
    return out
