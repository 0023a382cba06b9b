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


def kk_job_params(model, what):
    """{input: ...} for the job of ``model``: its runs' ``train`` slices, resumable-state
    folders (``checkpoint_dir``) or run folders (``run_dir``) for the job's seed."""

    def by_input(w):
        out = {}
        for v in koike_paper.model_variants(config, model):
            inp = koike_paper.variant_table(config["koike"])[v][1]
            if what == "train":
                out[inp] = layout.train_slice(config, "koike", v)
            elif what == "checkpoint_dir":
                out[inp] = layout.checkpoint_dir(config, "koike", v, w.seed)
            else:
                out[inp] = layout.run_dir(config, "koike", v, w.seed)
        return out

    return by_input
