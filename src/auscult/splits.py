"""Leakage-safe splits: validation carved from training data, never from the test set.

Stratified by label; grouped by patient wherever a patient id is known, so no patient
contributes recordings to both sides. Deterministic from the seed.

:func:`icbhi_protocol_splits` is the ICBHI 2017 protocol (AST+SAM), here so that training
and evaluation both import it from below them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from auscult import configcheck


def carve(
    df: pd.DataFrame,
    fraction: float,
    seed: int,
    *,
    label: str = "label",
    group: str | None = "patient_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into (rest, held_out) with about ``fraction`` of rows held out.

    ``group`` names the patient column (None: plain stratified split by recording).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    df = df.reset_index(drop=True)
    groups = _groups(df, group)
    if groups.nunique() < len(df):
        rest_idx, held_idx = stratified_group_fold(df[label], groups, max(2, round(1 / fraction)), seed)
    else:
        n_held = math.ceil(fraction * len(df))
        rest_idx, held_idx = stratified_shuffle_split(df[label], len(df) - n_held, n_held, seed)
    return df.iloc[np.sort(rest_idx)].reset_index(drop=True), df.iloc[np.sort(held_idx)].reset_index(drop=True)


def subsample(df: pd.DataFrame, n: int | None, seed: int, *, label: str = "label") -> pd.DataFrame:
    """A stratified subsample of ``n`` rows (all rows when n is None or >= len(df))."""
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    keep, _ = stratified_shuffle_split(df[label], n, len(df) - n, seed)
    return df.iloc[np.sort(keep)].reset_index(drop=True)


def stratified_shuffle_split(
    y, n_train: int, n_test: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row positions of one stratified shuffle split of labels ``y``.

    The same indices as scikit-learn's ``train_test_split(..., stratify=y,
    random_state=seed)`` with these sizes (``StratifiedShuffleSplit``'s algorithm: per-class
    counts by largest remainder, ties broken by the seeded RNG, then a seeded permutation per
    class), asserted against scikit-learn in tests/test_splits.py. It is written out here so
    that training jobs, which split their data themselves, do not import scikit-learn: that
    import (scipy.stats with it) is 1.3 s of every job's start-up on a 2-core machine.
    """
    classes, y_index, counts = np.unique(np.asarray(y), return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise ValueError(f"a stratified split needs >= 2 rows of every class; classes with fewer: "
                         f"{classes[counts < 2].tolist()}")
    if min(n_train, n_test) < len(classes):
        raise ValueError(f"split sizes {n_train} / {n_test} are smaller than the number of classes "
                         f"({len(classes)})")
    rng = np.random.RandomState(seed)
    by_class = np.split(np.argsort(y_index.reshape(-1), kind="stable"), np.cumsum(counts)[:-1])
    n_i = _apportion(counts, n_train, rng)
    t_i = _apportion(counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for rows, k, t in zip(by_class, n_i, t_i, strict=True):
        shuffled = rows.take(rng.permutation(len(rows)), mode="clip")
        train.extend(shuffled[:k])
        test.extend(shuffled[k : k + t])
    return rng.permutation(train), rng.permutation(test)


def stratified_group_fold(y, groups, n_splits: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held_out) row positions: the first fold of a shuffled, stratified group k-fold.

    The same indices as the first split of scikit-learn's ``StratifiedGroupKFold(n_splits,
    shuffle=True, random_state=seed)`` (its greedy algorithm: groups in a seeded order, the
    most unevenly labelled first, each to the fold that keeps the class shares of the folds
    closest), asserted against scikit-learn in tests/test_splits.py; written out for the same
    reason as :func:`stratified_shuffle_split`.
    """
    _, y_inv, y_cnt = np.unique(np.asarray(y), return_inverse=True, return_counts=True)
    y_inv = y_inv.reshape(-1)
    if np.all(n_splits > y_cnt):
        raise ValueError(f"n_splits={n_splits} cannot be greater than the number of members in each class")
    _, g_inv, g_cnt = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    g_inv = g_inv.reshape(-1)
    if n_splits > len(g_cnt):
        raise ValueError(f"cannot have n_splits={n_splits} greater than the number of groups: {len(g_cnt)}")
    counts = np.zeros((len(g_cnt), len(y_cnt)))
    np.add.at(counts, (g_inv, y_inv), 1)
    perm = np.arange(len(g_cnt))
    np.random.RandomState(seed).shuffle(perm)
    counts = counts[perm]
    inv_perm = np.empty_like(perm)
    inv_perm[perm] = np.arange(perm.size)
    g_inv = inv_perm[g_inv]
    per_fold = np.zeros((n_splits, len(y_cnt)))
    fold_of = np.empty(len(g_cnt), dtype=int)
    for g in np.argsort(-np.std(counts, axis=1), kind="stable"):
        best, best_eval, best_size = 0, np.inf, np.inf
        for i in range(n_splits):
            per_fold[i] += counts[g]
            fold_eval = np.mean(np.std(per_fold / y_cnt.reshape(1, -1), axis=0))
            per_fold[i] -= counts[g]
            size = np.sum(per_fold[i])
            if fold_eval < best_eval or (np.isclose(fold_eval, best_eval) and size < best_size):
                best, best_eval, best_size = i, fold_eval, size
        per_fold[best] += counts[g]
        fold_of[g] = best
    held = fold_of[g_inv] == 0
    return np.flatnonzero(~held), np.flatnonzero(held)


def _apportion(counts: np.ndarray, n: int, rng: np.random.RandomState) -> np.ndarray:
    # n draws spread over classes in proportion to counts: floors first, then one more for
    # the largest remainders, ties drawn at random.
    share = counts / counts.sum() * n
    out = np.floor(share)
    missing = int(n - out.sum())
    remainder = share - out
    for value in np.unique(remainder)[::-1]:  # largest remainder first
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        take = min(len(tied), missing)
        out[rng.choice(tied, size=take, replace=False)] += 1
        missing -= take
    return out.astype(int)


def _groups(df: pd.DataFrame, group: str | None) -> pd.Series:
    # Recordings without a known patient are their own group; group=None disables grouping.
    if group is None or group not in df:
        return pd.Series(df.index.astype(str), index=df.index)
    g = df[group].fillna("").astype(str)
    return g.where(g != "", "rec:" + df.index.astype(str))


def assert_disjoint(
    a: pd.DataFrame, b: pd.DataFrame, *, what: str = "split", patients: bool = True
) -> None:
    """Raise if two parts share a recording, or (``patients``) a known patient."""
    shared = set(a["record_id"]) & set(b["record_id"])
    if shared:
        raise AssertionError(f"{what}: {len(shared)} recording(s) in both parts, e.g. {sorted(shared)[:3]}")
    if patients and "patient_id" in a and "patient_id" in b:
        pa = {p for p in a["patient_id"].astype(str) if p}
        pb = {p for p in b["patient_id"].astype(str) if p}
        if pa & pb:
            raise AssertionError(f"{what}: patient(s) in both parts, e.g. {sorted(pa & pb)[:3]}")


def official_parts(index: pd.DataFrame, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(official test rows, official training rows) of a feature index; a clear error when
    either is empty (``what``: the rows' name in it, e.g. 'cycles (ICBHI protocol)')."""
    test = index[index["official_split"] == "test"].reset_index(drop=True)
    pool = index[index["official_split"] == "train"].reset_index(drop=True)
    if test.empty or pool.empty:
        raise ValueError(f"feature index needs official_split 'train' and 'test' {what}")
    return test, pool


def official_test_splits(index: pd.DataFrame, split_cfg: Mapping, max_train_records: int | None,
                         what: str = "", max_eval_records: int | None = None) -> dict[str, pd.DataFrame]:
    """train / val / test record tables: test = the dataset's official test records, val carved
    from its official training records (``split_cfg``: ``val_fraction``, ``seed``), train the
    rest, capped at ``max_train_records``; the three checked disjoint. ``max_eval_records``
    (a rehearsal's cap) keeps a stratified subsample of val and of test; train is carved before
    it, so the cap never changes the training records."""
    test, pool = official_parts(index, f"rows{what}")
    rest, val = carve(pool, split_cfg["val_fraction"], split_cfg["seed"])
    train = subsample(rest, max_train_records, split_cfg["seed"])
    val = subsample(val, max_eval_records, split_cfg["seed"])
    test = subsample(test, max_eval_records, split_cfg["seed"])
    assert_disjoint(train, val, what="train/val")
    assert_disjoint(train, test, what="train/test")
    assert_disjoint(val, test, what="val/test")
    return {"train": train, "val": val, "test": test}


def icbhi_protocol_splits(index: pd.DataFrame, split_cfg: Mapping) -> dict[str, pd.DataFrame]:
    """train / val / test cycle tables: test = official test recordings; val carved from the
    official training recordings grouped by patient; optional stratified caps (demo/quick).
    ``split_cfg``: the params schema's ``$defs/icbhi_split``."""
    configcheck.check("icbhi split config", split_cfg, "icbhi_split")
    test, pool = official_parts(index, "cycles (ICBHI protocol)")
    seed = int(split_cfg["seed"])
    rest, val = carve(pool, float(split_cfg["val_fraction"]), seed, group="patient_id")
    parts = {
        "train": subsample(rest, split_cfg["max_train_cycles"], seed),
        "val": subsample(val, split_cfg["max_val_cycles"], seed),
        "test": subsample(test, split_cfg["max_test_cycles"], seed),
    }
    assert_disjoint(parts["train"], parts["val"], what="train/val")
    # The official split is by recording: patients 156 and 218 are in both halves.
    assert_disjoint(parts["train"], parts["test"], what="train/test", patients=False)
    assert_disjoint(parts["val"], parts["test"], what="val/test", patients=False)
    for name in ("train", "test"):
        shared = set(parts[name]["recording"]) & set(parts["val"]["recording"])
        if shared:
            raise AssertionError(f"{name}/val share recordings {sorted(shared)[:3]}")
    return parts
