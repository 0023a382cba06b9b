"""Runs (:class:`auscult.stats.paired.Runs`) from the ``predictions.csv`` files that runs write.

Two formats:

- AudioFuse evaluation (``results/audiofuse/<variant>/<digest>/seed<k>/predictions.csv``):
  ``protocol,dataset,record_id,label,score,threshold``, several protocols per file, each
  with its own validation-chosen threshold;
- a Koike run folder's ``predictions.csv``: ``record_id,part,label,score`` (``part`` is
  ``dev`` or ``test``), no threshold column: threshold metrics then use
  :data:`DEFAULT_THRESHOLD` (0.5, the protocol's, as ``auscult.papers.koike.tables.THRESHOLD``).

One path per seed: a ``predictions.csv`` or a folder holding one. Every seed of a model
must score the same recordings with the same labels; recordings are aligned by
``record_id`` (sorted). Problems are a :class:`ValueError` with a one-line message.

Standard library ``csv`` and numpy only (the stats package stays numpy + scipy).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auscult.stats.paired import Runs, check_paired

FILE_NAME = "predictions.csv"
DEFAULT_THRESHOLD = 0.5  # Koike runs: classes sampled equally in training, 0.5 is the protocol's cut
GROUP_COLUMNS = ("protocol", "part")  # AudioFuse files, Koike files
PREFERRED = {"protocol": "physionet_test", "part": "test"}
REQUIRED = ("record_id", "label", "score")


@dataclass(frozen=True)
class LoadedRuns:
    """A model's runs and how they were read."""

    runs: Runs
    paths: tuple[Path, ...]
    protocol: str | None  # the protocol (or part) the rows were taken from; None: the files have none
    threshold_from_file: bool  # False: no threshold column, DEFAULT_THRESHOLD used


@dataclass(frozen=True)
class _Table:
    path: Path
    columns: tuple[str, ...]
    rows: list[dict[str, str]]

    @property
    def group_column(self) -> str | None:
        return next((c for c in GROUP_COLUMNS if c in self.columns), None)

    def groups(self) -> list[str]:
        g = self.group_column
        return sorted({r[g] for r in self.rows}) if g else []


def predictions_file(path: str | Path) -> Path:
    """The ``predictions.csv`` named by ``path``: the file itself or the one in a run folder."""
    p = Path(path)
    if p.is_dir():
        f = p / FILE_NAME
        if not f.is_file():
            raise ValueError(f"{p}: no {FILE_NAME} in this folder")
        return f
    if not p.is_file():
        raise ValueError(f"{p}: no such file or folder")
    return p


def _read(path: Path) -> _Table:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = tuple(c.strip() for c in (reader.fieldnames or ()))
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ValueError(f"{path}: needs columns {','.join(REQUIRED)} (missing {', '.join(missing)}; "
                         f"has {', '.join(columns) or 'none'})")
    if not rows:
        raise ValueError(f"{path}: no rows")
    return _Table(path, columns, rows)


def choose_protocol(tables: Sequence[_Table], protocol: str | None) -> str | None:
    """The protocol (AudioFuse) or part (Koike) to take the rows from: the asked one; else
    ``physionet_test`` / ``test`` where present; else the only one; else an error."""
    if protocol is not None:
        return protocol
    present: dict[str, set[str]] = {}
    for t in tables:
        if t.group_column:
            present.setdefault(t.group_column, set()).update(t.groups())
    if not present:
        return None
    for column, preferred in PREFERRED.items():
        if preferred in present.get(column, ()):
            return preferred
    values = sorted(set().union(*present.values()))
    if len(values) == 1:
        return values[0]
    names = ", ".join(str(t.path) for t in tables[:2]) + (", ..." if len(tables) > 2 else "")
    raise ValueError(f"{names}: several protocols ({', '.join(values)}); choose one with --protocol")


def _seed(table: _Table, protocol: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """(record ids sorted, labels, scores, threshold or None) of one file's selected rows."""
    path, g = table.path, table.group_column
    rows = table.rows
    if protocol is not None:
        if g is None:
            raise ValueError(f"{path}: has no protocol or part column, so protocol {protocol!r} cannot be chosen")
        rows = [r for r in rows if r[g] == protocol]
        if not rows:
            raise ValueError(f"{path}: no rows with {g} {protocol!r} (has: {', '.join(table.groups())})")
    where = f" ({g} {protocol})" if protocol is not None else ""
    ids = [r["record_id"] for r in rows]
    seen: set[str] = set()
    for rid in ids:
        if rid in seen:
            raise ValueError(f"{path}: record {rid!r} appears more than once{where}")
        seen.add(rid)
    try:
        raw = np.array([float(r["label"]) for r in rows])
    except ValueError:
        raise ValueError(f"{path}: labels must be 0 or 1{where}") from None
    if not np.isin(raw, (0.0, 1.0)).all():
        raise ValueError(f"{path}: labels must be 0 or 1, got {sorted(set(raw.tolist()) - {0.0, 1.0})[:3]}{where}")
    labels = raw.astype(int)
    try:
        scores = np.array([float(r["score"]) for r in rows])
    except ValueError:
        raise ValueError(f"{path}: a score is not a number{where}") from None
    if not np.isfinite(scores).all():
        bad = [ids[i] for i in np.flatnonzero(~np.isfinite(scores))[:3]]
        raise ValueError(f"{path}: non-finite scores for records {bad}{where}")
    threshold = None
    if "threshold" in table.columns:
        values = {r["threshold"] for r in rows} - {""}
        if len(values) > 1:
            raise ValueError(f"{path}: several thresholds ({', '.join(sorted(values)[:3])}){where}: expected one "
                             "per file")
        if values:
            threshold = float(values.pop())
            if not math.isfinite(threshold):
                raise ValueError(f"{path}: threshold {threshold} is not finite{where}")
    order = np.argsort(np.array(ids, dtype=str), kind="stable")
    return np.array(ids, dtype=str)[order], labels[order], scores[order], threshold


def read_runs(paths: Sequence[str | Path], protocol: str | None = None) -> LoadedRuns:
    """One model's seeds (one path each), aligned by ``record_id``; see the module docstring."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise ValueError("no predictions given")
    files = [predictions_file(p) for p in paths]
    seen: dict[Path, Path] = {}
    for f in files:
        if f.resolve() in seen:
            raise ValueError(f"{f}: given twice for one model (each path is one seed)")
        seen[f.resolve()] = f
    tables = [_read(f) for f in files]
    chosen = choose_protocol(tables, protocol)
    seeds = [_seed(t, chosen) for t in tables]
    ids0, y0 = seeds[0][0], seeds[0][1]
    for f, (ids, y, _, _) in zip(files[1:], seeds[1:], strict=True):
        if ids.shape != ids0.shape or not np.array_equal(ids, ids0):
            have, want = set(ids.tolist()), set(ids0.tolist())
            extra, missing = sorted(have - want), sorted(want - have)
            raise ValueError(f"{f}: scores other recordings than {files[0]} ({len(extra)} extra, e.g. {extra[:3]}; "
                             f"{len(missing)} missing, e.g. {missing[:3]})")
        if not np.array_equal(y, y0):
            bad = ids[y != y0]
            raise ValueError(f"{f}: labels differ from {files[0]} for {bad.size} recordings, e.g. {bad[:3].tolist()}")
    if np.unique(y0).size < 2:
        raise ValueError(f"{files[0]}: needs both classes (0 and 1); all {y0.size} recordings are {int(y0[0])}")
    thresholds = [s[3] for s in seeds]
    from_file = all(t is not None for t in thresholds)
    if not from_file and any(t is not None for t in thresholds):
        missing = [str(f) for f, t in zip(files, thresholds, strict=True) if t is None]
        raise ValueError(f"{missing[0]}: has no threshold, while other seeds' files have one")
    thr = np.array([DEFAULT_THRESHOLD if t is None else t for t in thresholds])
    runs = Runs(ids0, y0, np.vstack([s[2] for s in seeds]), thr)
    return LoadedRuns(runs, tuple(files), chosen, from_file)


def check_same_records(a: LoadedRuns, b: LoadedRuns) -> None:
    """Models A and B scored the same recordings with the same labels (a one-line
    :class:`ValueError` naming their first files otherwise)."""
    where = f"A ({a.paths[0]}{', ...' if len(a.paths) > 1 else ''}) and B ({b.paths[0]}" \
            f"{', ...' if len(b.paths) > 1 else ''})"
    try:
        check_paired(a.runs, b.runs)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def load_runs(paths: Sequence[str | Path], protocol: str | None = None) -> Runs:
    """One model's :class:`Runs` from its seeds' ``predictions.csv`` files (or run folders)."""
    return read_runs(paths, protocol).runs
