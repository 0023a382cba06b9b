"""Leakage-safe splits: validation carved from training data, never from the test set.

Stratified by label; grouped by patient wherever a patient id is known, so no patient
contributes recordings to both sides. Deterministic from the seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    if not 0 < fraction < 1:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    df = df.reset_index(drop=True)
    groups = _groups(df, group)
    if groups.nunique() < len(df):
        n_splits = max(2, round(1 / fraction))
        sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        rest_idx, held_idx = next(sgkf.split(df, df[label], groups))
    else:
        rest_idx, held_idx = train_test_split(
            np.arange(len(df)), test_size=fraction, stratify=df[label], random_state=seed
        )
    return df.iloc[np.sort(rest_idx)].reset_index(drop=True), df.iloc[np.sort(held_idx)].reset_index(drop=True)


def subsample(df: pd.DataFrame, n: int | None, seed: int, *, label: str = "label") -> pd.DataFrame:
    """A stratified subsample of ``n`` rows (all rows when n is None or >= len(df))."""
    from sklearn.model_selection import train_test_split

    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    keep, _ = train_test_split(np.arange(len(df)), train_size=n, stratify=df[label], random_state=seed)
    return df.iloc[np.sort(keep)].reset_index(drop=True)


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
