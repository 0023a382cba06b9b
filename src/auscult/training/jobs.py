"""One Snakemake training job: the shared body of every paper's ``scripts/train.py``.

Each rule's script is ``run_job(snakemake, "<paper>")`` (or ``run_jobs`` for a job that trains
several runs, e.g. one model on each of its inputs): the job log, then the paper's
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


def _runner(paper: str) -> Callable[..., dict]:
    """The paper's ``run_training`` (its module's ``TRAIN`` spec)."""
    from auscult import registry

    return registry.resolve(registry.get(paper).TRAIN)


def describe(paper: str, summary: Mapping[str, Any]) -> str:
    """The job log's one-line account of a finished run (the paper's ``describe_run``)."""
    from auscult import registry

    return registry.get(paper).describe_run(summary)


def card_context(config, paper: str, variant: str, log=None) -> dict | None:
    """What the run's model card takes from the workflow configuration
    (:func:`auscult.cards.release_context`: budget, data source, epochs, seeds); None, with a
    warning, for a configuration without those keys (the card then says ``unknown``)."""
    from auscult import cards

    if config is None:
        return None
    try:
        return cards.release_context(config, paper, variant)
    except (KeyError, TypeError, ValueError) as e:
        if log is not None:
            log.warning("model card: no release context for %s/%s (%s: %s)", paper, variant, type(e).__name__, e)
        return None


def _train(smk, paper: str, log, *, variant: str, train_params, out_dir, checkpoint_dir) -> dict:
    """One run of job ``smk``: the paper's ``run_training``, then its line in the job log."""
    summary = _runner(paper)(
        features_dir=smk.input.features,
        train_params=train_params,
        out_dir=Path(out_dir),
        seed=int(smk.wildcards.seed),
        threads=smk.threads,
        checkpoint_dir=checkpoint_dir,
        variant=variant,
        card_context=card_context(getattr(smk, "config", None), paper, variant, log),
    )
    log.info("trained %s seed %s: %s", variant, smk.wildcards.seed, describe(paper, summary))
    from auscult import runlog

    runlog.note_training(summary)  # steps and seconds per step in the job's benchmark record
    return summary


def _job_log(smk, log):
    from auscult import runlog

    return log if log is not None else runlog.setup(runlog.job_log(smk))


def run_job(smk, paper: str, log=None) -> dict:
    """Run the training job ``smk`` (Snakemake's ``snakemake`` object) of ``paper``: the run
    of its ``variant`` wildcard (``log``: the job's logger, ``runlog.job``'s; else set up here)."""
    log = _job_log(smk, log)
    return _train(smk, paper, log, variant=smk.wildcards.variant, train_params=smk.params.train,
                  out_dir=Path(smk.output.model).parent, checkpoint_dir=smk.params.checkpoint_dir)


def run_jobs(smk, paper: str, log=None) -> dict[str, dict]:
    """Run a training job ``smk`` of ``paper`` that trains several runs for the ``seed``
    wildcard, one after the other in this process (its start-up paid once). ``params.runs``
    maps each run's variant to its parameter slice (``train``), run folder (``run_dir``) and
    resumable state (``checkpoint_dir``)."""
    log = _job_log(smk, log)
    return {v: _train(smk, paper, log, variant=v, train_params=run["train"], out_dir=run["run_dir"],
                      checkpoint_dir=run["checkpoint_dir"])
            for v, run in smk.params.runs.items()}
