"""Artifact paths carry exactly the parameters behind them."""

import copy

from auscult import layout
from auscult.params import load_params


def test_budgets_never_collide(repo_root, paper):
    demo = load_params(repo_root / "params.yaml", [repo_root / "config/demo.yaml"])
    quick = load_params(repo_root / "params.yaml", [repo_root / "config/quick.yaml"])
    for v in paper["audiofuse"]["variants"]:
        paths = {layout.run_dir(c, "audiofuse", v, 42) for c in (paper, demo, quick)}
        assert len(paths) == 3
    # quick uses the real data: same raw data and features as the paper budget
    assert layout.raw_dir(quick, "physionet2016") == layout.raw_dir(paper, "physionet2016")
    assert layout.features_dir(quick, "pascal", "audiofuse") == layout.features_dir(paper, "pascal", "audiofuse")
    assert layout.raw_dir(demo, "physionet2016") != layout.raw_dir(paper, "physionet2016")


def test_one_variant_change_touches_only_that_variant(paper):
    changed = copy.deepcopy(paper)
    changed["audiofuse"]["variants"]["cnn_only"]["head"] = {"dropout": 0.3}
    for v in paper["audiofuse"]["variants"]:
        same = layout.run_dir(paper, "audiofuse", v, 1) == layout.run_dir(changed, "audiofuse", v, 1)
        assert same == (v != "cnn_only"), v
    assert layout.features_dir(paper, "physionet2016", "audiofuse") == layout.features_dir(
        changed, "physionet2016", "audiofuse")


def test_unused_branch_settings_do_not_retrain(paper):
    changed = copy.deepcopy(paper)
    changed["audiofuse"]["model"]["wave_cnn"]["stride"] = 4
    assert layout.run_dir(paper, "audiofuse", "vit_only", 1) == layout.run_dir(changed, "audiofuse", "vit_only", 1)
    assert layout.run_dir(paper, "audiofuse", "cnn_only", 1) != layout.run_dir(changed, "audiofuse", "cnn_only", 1)
    assert layout.run_dir(paper, "audiofuse", "audiofuse", 1) != layout.run_dir(changed, "audiofuse", "audiofuse", 1)


def test_upstream_changes_propagate(paper):
    changed = copy.deepcopy(paper)
    changed["features"]["audiofuse"]["logmel"]["hop_length"] = 256
    assert layout.raw_dir(paper, "physionet2016") == layout.raw_dir(changed, "physionet2016")
    assert layout.features_dir(paper, "physionet2016", "audiofuse") != layout.features_dir(
        changed, "physionet2016", "audiofuse")
    assert layout.run_dir(paper, "audiofuse", "audiofuse", 1) != layout.run_dir(changed, "audiofuse", "audiofuse", 1)
    assert layout.result_dir(paper, "audiofuse", "audiofuse", 1) != layout.result_dir(changed, "audiofuse", "audiofuse", 1)


def test_evaluation_change_keeps_checkpoints(paper):
    changed = copy.deepcopy(paper)
    changed["audiofuse"]["evaluation"]["threshold_rule"] = "max_mcc"
    assert layout.run_dir(paper, "audiofuse", "audiofuse", 1) == layout.run_dir(changed, "audiofuse", "audiofuse", 1)
    assert layout.result_dir(paper, "audiofuse", "audiofuse", 1) != layout.result_dir(changed, "audiofuse", "audiofuse", 1)


def test_seed_is_in_the_path_not_the_digest(paper):
    a, b = layout.run_dir(paper, "audiofuse", "audiofuse", 1), layout.run_dir(paper, "audiofuse", "audiofuse", 2)
    assert a.rsplit("/", 1)[0] == b.rsplit("/", 1)[0] and a != b


def test_a_variants_training_override_retrains_only_that_variant():
    import copy

    from auscult import layout
    from auscult.params import load_params

    base = load_params("params.yaml", ["config/demo.yaml"])
    changed = copy.deepcopy(base)
    changed["audiofuse"]["variants"]["vit_only"] = {**changed["audiofuse"]["variants"]["vit_only"],
                                                    "training": {"max_epochs": 9}}
    assert layout.train_slice(changed, "audiofuse", "vit_only")["training"]["max_epochs"] == 9
    assert "training" not in layout.variant_model_config(changed, "audiofuse", "vit_only")
    assert layout.run_dir(base, "audiofuse", "vit_only", 1) != layout.run_dir(changed, "audiofuse", "vit_only", 1)
    for v in ("cnn_only", "audiofuse"):
        assert layout.run_dir(base, "audiofuse", v, 1) == layout.run_dir(changed, "audiofuse", v, 1)


def test_a_variants_own_seeds_change_its_runs_not_its_digest(paper):
    changed = copy.deepcopy(paper)
    changed["audiofuse"]["variants"]["audiofuse_4x8"] = {**changed["audiofuse"]["variants"]["audiofuse_4x8"],
                                                         "seeds": [7]}
    assert layout.seeds(changed, "audiofuse", "audiofuse_4x8") == [7]
    assert layout.seeds(changed, "audiofuse", "audiofuse") == list(paper["audiofuse"]["seeds"])
    assert "seeds" not in layout.variant_model_config(changed, "audiofuse", "audiofuse_4x8")
    # the seed is in the path, not the digest: the same run folder for a seed both configs run
    assert layout.run_dir(changed, "audiofuse", "audiofuse_4x8", 7) == layout.run_dir(paper, "audiofuse",
                                                                                      "audiofuse_4x8", 7)


def test_a_koike_models_train_cap_retrains_only_that_model(paper):
    changed = copy.deepcopy(paper)
    changed["koike"]["models"]["vgg16"]["max_train_records"] = 100
    assert layout.train_slice(changed, "koike", "vgg16_logmel")["max_train_records"] == 100
    assert layout.train_slice(changed, "koike", "vgg16_logmel")["max_eval_records"] == paper["koike"]["max_eval_records"]
    assert layout.run_dir(paper, "koike", "vgg16_logmel", 1) != layout.run_dir(changed, "koike", "vgg16_logmel", 1)
    assert layout.run_dir(paper, "koike", "resnet18_logmel", 1) == layout.run_dir(changed, "koike", "resnet18_logmel", 1)
