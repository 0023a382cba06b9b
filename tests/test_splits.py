"""Leakage checks: no recording (and no known patient) on both sides of any split."""

import math

import numpy as np
import pandas as pd
import pytest
from scratch import run_python

from auscult import splits
from auscult.papers.audiofuse.train import protocol_splits


def _frame(n=200, patients=False):
    df = pd.DataFrame({"record_id": [f"r{i:03d}" for i in range(n)], "label": [int(i % 4 == 0) for i in range(n)]})
    df["patient_id"] = [f"p{i // 3}" for i in range(n)] if patients else ""
    return df


def test_carve_is_stratified_disjoint_and_deterministic():
    df = _frame()
    rest, held = splits.carve(df, 0.15, seed=1)
    assert len(held) == 30 and len(rest) == 170
    assert held["label"].mean() == pytest.approx(df["label"].mean(), abs=0.02)
    splits.assert_disjoint(rest, held)
    again = splits.carve(df, 0.15, seed=1)[1]
    assert list(again["record_id"]) == list(held["record_id"])
    assert list(splits.carve(df, 0.15, seed=2)[1]["record_id"]) != list(held["record_id"])


def test_grouped_carve_keeps_patients_apart():
    df = _frame(patients=True)
    rest, held = splits.carve(df, 0.2, seed=0)
    splits.assert_disjoint(rest, held)  # checks patients too
    ungrouped_rest, ungrouped_held = splits.carve(df, 0.2, seed=0, group=None)
    with pytest.raises(AssertionError, match="patient"):
        splits.assert_disjoint(ungrouped_rest, ungrouped_held)


def test_assert_disjoint_catches_shared_recordings():
    df = _frame(10)
    with pytest.raises(AssertionError, match="recording"):
        splits.assert_disjoint(df.iloc[:6], df.iloc[4:])


def test_subsample_is_stratified():
    df = _frame()
    sub = splits.subsample(df, 40, seed=0)
    assert len(sub) == 40 and sub["label"].sum() == 10
    assert len(splits.subsample(df, None, seed=0)) == len(df)


def test_an_evaluation_cap_subsamples_val_and_test_and_never_changes_train():
    df = _frame(160).assign(official_split=["test"] * 30 + ["train"] * 130)
    whole = splits.official_test_splits(df, {"val_fraction": 0.2, "seed": 3}, None)
    capped = splits.official_test_splits(df, {"val_fraction": 0.2, "seed": 3}, None, max_eval_records=12)
    assert capped["train"].equals(whole["train"])
    for part in ("val", "test"):
        assert len(capped[part]) == 12
        assert set(capped[part]["record_id"]) <= set(whole[part]["record_id"])
        assert 0 < capped[part]["label"].sum() < 12  # stratified: both classes kept


@pytest.mark.mirror
def test_physionet_protocol_never_trains_on_test(mirror_root):
    from auscult.datasets import physionet2016

    manifest = physionet2016.build_manifest(mirror_root / "physionet2016", hash_audio=False)
    parts = protocol_splits(manifest, {"val_fraction": 0.15, "seed": 42}, None)
    assert len(parts["test"]) == 301
    assert len(parts["train"]) + len(parts["val"]) == 2939
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        splits.assert_disjoint(parts[a], parts[b], what=f"{a}/{b}")


@pytest.mark.parametrize("case", range(300))
def test_stratified_split_equals_sklearns_train_test_split(case):
    """splits.stratified_shuffle_split replaces sklearn's train_test_split(stratify=...) so that
    training jobs need not import sklearn: the same indices, case by case."""
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(case)
    n = int(rng.integers(6, 400))
    n_classes = int(rng.integers(2, 5)) if case % 3 else 2
    y = rng.choice(n_classes, size=n, p=rng.dirichlet(np.ones(n_classes)))
    y[:2 * n_classes] = np.repeat(np.arange(n_classes), 2)  # >= 2 rows per class
    if case % 5 == 0:
        y = np.array(["abnormal", "normal", "x", "y"])[y]  # string labels too
    seed = int(rng.integers(0, 2**31 - 1))
    idx = np.arange(n)
    if case % 2:  # carve: a held-out fraction
        fraction = float(rng.uniform(0.05, 0.6))
        n_held = math.ceil(fraction * n)
        if min(n - n_held, n_held) < n_classes:
            return
        want = train_test_split(idx, test_size=fraction, stratify=y, random_state=seed)
        got = splits.stratified_shuffle_split(pd.Series(y), n - n_held, n_held, seed)
    else:  # subsample: a train size in rows
        n_keep = int(rng.integers(n_classes, n - n_classes + 1))
        want = train_test_split(idx, train_size=n_keep, stratify=y, random_state=seed)
        got = splits.stratified_shuffle_split(pd.Series(y), n_keep, n - n_keep, seed)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("case", range(200))
def test_grouped_fold_equals_sklearns_stratified_group_kfold(case):
    """splits.stratified_group_fold (carve's grouped path) gives the first split of sklearn's
    StratifiedGroupKFold(shuffle=True), case by case: groups of several rows, labels mostly
    but not always constant within a group, string groups and labels."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(10_000 + case)
    n_groups = int(rng.integers(4, 120))
    n_classes = int(rng.integers(2, 4)) if case % 4 else 2
    sizes = rng.integers(1, 6, size=n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    y = rng.choice(n_classes, size=n_groups)[groups]
    flip = rng.random(len(y)) < 0.15
    y[flip] = rng.choice(n_classes, size=int(flip.sum()))
    y[:n_classes] = np.arange(n_classes)
    if case % 5 == 0:
        y = np.array(["abnormal", "normal", "x"])[y]
        groups = np.array([f"p{g:03d}" for g in groups])
    n_splits = int(rng.integers(2, min(8, n_groups) + 1))
    seed = int(rng.integers(0, 2**31 - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only ..."
        want = next(StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
                    .split(np.zeros(len(y)), y, groups))
    got = splits.stratified_group_fold(pd.Series(y), pd.Series(groups), n_splits, seed)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)


def test_training_splits_do_not_import_sklearn():
    code = ("import sys, numpy as np, pandas as pd; from auscult import splits; "
            "df = pd.DataFrame({'record_id': [f'r{i}' for i in range(40)], 'label': [0, 1] * 20}); "
            "splits.subsample(splits.carve(df, 0.25, 1)[0], 10, 1); "
            "splits.carve(df.assign(patient_id=[f'p{i // 2}' for i in range(40)]), 0.25, 1); "
            "print('sklearn' in sys.modules)")
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
