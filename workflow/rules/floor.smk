# Reference floor (not from any paper): a classical model (auscult.training.floor) on the
# `features.floor_stats` vectors, one job per seed through each paper's own protocol: one rule
# for every paper whose module names a ``FLOOR`` function, writing what its ``FLOOR_OUTPUTS``
# list into ``floor_dir`` (AudioFuse: results/audiofuse/floor/<d>/seed<k>/, as evaluation;
# Koike: runs/koike/floor/<recipe>/<d>/seed<k>/, as training). DVC stage `floor_<paper>`.


for _p in layout.floor_capable():
    _dir = layout.floor_template(config, _p)

    rule:
        name:
            f"floor_{_p}_run"
        input:
            features=[
                cross_stage(layout.features_dir(config, ds, config["floor"]["features"]))
                for ds in layout.floor_datasets(config, _p)
            ],
            code=rule_code(f"floor_{_p}_run"),
        output:
            [f"{_dir}/{name}" for name in registry.get(_p).FLOOR_OUTPUTS],
        log:
            layout.log_path(_dir),
            benchmark=layout.benchmark_path(_dir),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            paper=_p,
            floor=layout.floor_slice(config, _p),
        script:
            "../scripts/floor.py"

    rule:
        name:
            f"floor_{_p}"
        input:
            layout.floor_seed_files(config, _p, registry.get(_p).FLOOR_OUTPUTS),
