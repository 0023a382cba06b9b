# Input and parameter functions of the Koike rules (koike.smk). Functions live apart from
# rules (`snakemake --lint`); the Snakefile includes this file before koike.smk.

from auscult.papers import koike as koike_paper


def kk_features(w=None):
    return cross_stage(layout.paper_features_dir(config, "koike"))


def kk_runs(model, name="model.pt"):
    """``name`` of every run of ``model``: each of its inputs, every seed."""
    return [
        f
        for v in koike_paper.model_variants(config, model)
        for f in layout.variant_run_files(config, "koike", v, (name,))
    ]


KK_RUN_FILES = (
    "model.pt",
    "history.csv",
    "split.csv",
    "predictions.csv",
    "train_summary.json",
    "model_card.json",
)


def kk_job_outputs(model):
    """What the job training ``model`` for seed ``{seed}`` writes: every file of each of its
    runs (one per input), each under that run's own digest (layout.run_dir)."""
    return [
        f"{layout.run_dir(config, 'koike', v, '{seed}')}/{name}"
        for v in koike_paper.model_variants(config, model)
        for name in KK_RUN_FILES
    ]


def kk_job_runs(model):
    """{variant: its ``train`` slice, ``run_dir`` and resumable-state ``checkpoint_dir``} for
    each run of the job training ``model`` for seed ``{seed}``."""

    def runs(w):
        return {
            v: {
                "train": layout.train_slice(config, "koike", v),
                "run_dir": layout.run_dir(config, "koike", v, w.seed),
                "checkpoint_dir": layout.checkpoint_dir(config, "koike", v, w.seed),
            }
            for v in koike_paper.model_variants(config, model)
        }

    return runs
