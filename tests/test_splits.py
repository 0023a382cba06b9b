"""Leakage checks: no recording (and no known patient) on both sides of any split."""

import pandas as pd
import pytest

from auscult import splits
from auscult.training.audiofuse import protocol_splits


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


@pytest.mark.mirror
def test_physionet_protocol_never_trains_on_test(mirror_root):
    from auscult.datasets import physionet2016

    manifest = physionet2016.build_manifest(mirror_root / "physionet2016", hash_audio=False)
    parts = protocol_splits(manifest, {"val_fraction": 0.15, "seed": 42}, None)
    assert len(parts["test"]) == 301
    assert len(parts["train"]) + len(parts["val"]) == 2939
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        splits.assert_disjoint(parts[a], parts[b], what=f"{a}/{b}")
