"""Bad input never passes silently: per-recording checks and the ``bad_audio`` policy.

Every recording a manifest is built from is decoded once (:func:`auscult.audio.scan_audio`)
and refused when it is unreadable, holds NaN/Inf samples, is all zeros, or is shorter than
``min_seconds``; audio without a label row and label rows without audio are refused too.
For ``source: canonical`` each recording is also compared with the checksums pinned in the
package (:mod:`auscult.datasets.pinned`).

``datasets.<ds>.bad_audio`` decides what a refusal does:

- ``error``: the build goes on checking every recording and label row, then stops with all
  the problems at once (:meth:`Checks.finish`): one problem is a :class:`BadRecordError`, one
  line naming the file; several are a :class:`DatasetProblems`, ``N problems in dataset X:``
  and one line per problem, so one fix-and-re-run cycle is enough;
- ``skip``: the record is dropped, logged (WARNING) and counted, and written to
  ``<manifest stem>.skipped.csv`` next to the manifest (:func:`skipped_records`).

Recordings that the pinned list names but that are absent from the copy altogether (no
audio *and* no label row: removed on purpose) are not errors; they are logged and listed
in the skipped file as ``absent``, so every table built on the manifest can say so.

A malformed label row (an unknown label, a record listed twice) is a problem under either
policy (there is no record to drop): it is collected with the others (:meth:`Checks.problem`)
and stops the build at the end.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .manifest import ManifestError
from .pinned import Pins

log = logging.getLogger("auscult.datasets")

BAD_AUDIO = ("error", "skip")
SKIPPED_COLUMNS = ["record_id", "path", "kind", "problem"]


class BadRecordError(ManifestError):
    """One recording (or label row) cannot be used; ``str()`` is ``<file>: <problem>``."""

    def __init__(self, path: str | os.PathLike, problem: str, record_id: str = "", kind: str = ""):
        self.path, self.problem, self.record_id, self.kind = os.fspath(path), problem, record_id, kind
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        return (type(self), (self.path, self.problem, self.record_id, self.kind))


class DatasetProblems(ManifestError):
    """Several problems found in one manifest build: ``N problems in dataset X:`` and then one
    indented line per problem (``<file>: <problem>``)."""

    def __init__(self, dataset: str, problems: list[str]):
        self.dataset, self.problems = dataset, list(problems)
        lines = "".join(f"\n  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problems in dataset {dataset}:{lines}")

    def __reduce__(self):
        return (type(self), (self.dataset, self.problems))


@dataclass
class Checks:
    """What :func:`build_manifest` checks, and the records it dropped."""

    bad_audio: str = "error"
    min_seconds: float = 0.0
    pins: Pins | None = None
    skipped: list[dict] = field(default_factory=list)
    problems: list[ManifestError] = field(default_factory=list)

    def __post_init__(self):
        if self.bad_audio not in BAD_AUDIO:
            raise ValueError(f"bad_audio must be one of {list(BAD_AUDIO)}, got {self.bad_audio!r}")

    def reject(self, path, problem: str, *, record_id: str = "", kind: str = "bad_audio") -> None:
        """Collect as a problem (``error``: :meth:`finish` stops the build) or drop and record
        (``skip``) one bad record."""
        if self.bad_audio == "error":
            self.problems.append(BadRecordError(path, problem, record_id, kind))
            return
        log.warning("skipped %s: %s", path, problem)
        self.skipped.append({"record_id": record_id, "path": os.fspath(path), "kind": kind, "problem": problem})

    def problem(self, error: ManifestError) -> None:
        """A problem no policy can skip (a malformed label row): stops the build in :meth:`finish`."""
        self.problems.append(error)

    def finish(self, dataset: str) -> None:
        """Stop with every problem collected so far (one: itself; several: :class:`DatasetProblems`)."""
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise DatasetProblems(dataset, [str(p) for p in self.problems])

    def absent(self, record_id: str, where: str) -> None:
        """A pinned record this copy does not hold at all (neither audio nor label row)."""
        self.skipped.append({"record_id": record_id, "path": where, "kind": "absent",
                             "problem": "pinned recording not in this copy (no audio, no label row)"})

    def report_absent(self, dataset: str, present: set[str]) -> None:
        """Record pinned recordings missing from ``present`` and log how many."""
        if self.pins is None or not self.pins.pcm:
            return
        pinned = set(self.pins.pcm) if dataset != "icbhi2017" else set(self.pins.split)
        missing = sorted(pinned - present)
        if missing:
            log.warning("%s: %d of %d pinned recordings are not in this copy, e.g. %s",
                        dataset, len(missing), len(pinned), missing[:5])
        already = {r["record_id"] for r in self.skipped}
        for rec in missing:
            if rec not in already:
                self.absent(rec, f"{dataset} (pinned list)")

    def verify_audio(self, root: Path, audio: Path, *, record_id: str, label: str | None,
                     hash_audio: bool, where: str = "") -> dict | None:
        """Manifest audio columns of one recording, or None if it was skipped. ``where``
        (the label row) is appended to the problem."""
        at = f" (label row {where})" if where else ""
        from auscult.audio import AudioError, sample_problem, scan_audio, sha256_file

        try:
            scan = scan_audio(audio)
        except AudioError as e:
            self.reject(audio, e.problem + at, record_id=record_id)
            return None
        problem = sample_problem(scan, self.min_seconds)
        if problem is None and self.pins is not None:
            problem = self._pin_problem(audio, scan.pcm_sha256, record_id, label)
            wav = self.pins.wav.get(audio.relative_to(root).as_posix())
            if problem is None and wav is not None and sha256_file(audio) != wav:
                problem = ("pinned checksum mismatch: the .wav file differs from the original "
                           "(ORIGINAL_WAV_SHA256)")
        if problem is not None:
            self.reject(audio, problem + at, record_id=record_id,
                        kind="pinned" if problem.startswith("pinned") else "bad_audio")
            return None
        info = scan.info
        return {
            "audio_path": audio.relative_to(root).as_posix(),
            "sample_rate": info.sample_rate,
            "n_frames": info.n_frames,
            "duration_s": info.duration_s,
            "bit_depth": info.bit_depth,
            "sha256": sha256_file(audio) if hash_audio else "",
        }

    def _pin_problem(self, audio: Path, pcm: str, record_id: str, label: str | None) -> str | None:
        pins = self.pins
        if record_id not in pins.pcm and audio.stem in pins.pcm:
            record_id = audio.stem  # ICBHI: pinned under the file's (old) name
        if record_id in pins.pcm:
            want_label, want = pins.pcm[record_id]
            if label is not None and want_label and label != want_label:
                return f"pinned label of {record_id} is {want_label!r}, this copy says {label!r}"
            if pcm != want:
                return (f"pinned checksum mismatch: the decoded samples differ from the canonical "
                        f"recording {record_id} (pcm sha256 {pcm[:16]}…, pinned {want[:16]}…)")
            return None
        if pins.dataset == "icbhi2017" and record_id in pins.split:
            return None  # one of the 910 recordings without a pinned checksum: format only
        return f"pinned list of {pins.dataset} has no recording {record_id!r} (not canonical data)"


def skipped_path(manifest_path: str | os.PathLike) -> Path:
    """``data/manifests/<ds>/<d>.csv`` -> ``data/manifests/<ds>/<d>.skipped.csv``."""
    p = Path(manifest_path)
    return p.with_name(p.name.removesuffix(".csv") + ".skipped.csv")


def skipped_records(manifest_path: str | os.PathLike) -> pd.DataFrame:
    """The records dropped while building the manifest at ``manifest_path`` (columns
    record_id, path, kind, problem; ``kind`` is bad_audio, pinned, unlabelled, no_audio or
    absent). An empty frame when none were dropped or no file was written."""
    p = skipped_path(manifest_path)
    if not p.is_file():
        return pd.DataFrame(columns=SKIPPED_COLUMNS)
    return pd.read_csv(p, dtype=str, keep_default_na=False)


def skipped_frame(checks: Checks) -> pd.DataFrame:
    return pd.DataFrame(checks.skipped, columns=SKIPPED_COLUMNS)


def checks_for(dataset: str, params: dict) -> Checks:
    """The :class:`Checks` a ``datasets.<name>`` parameter slice asks for."""
    from .pinned import load_pins

    canonical = params.get("source") == "canonical" and params.get("kind", "canonical") != "folder"
    pins = load_pins(dataset) if canonical else None
    return Checks(bad_audio=params.get("bad_audio", "error"),
                  min_seconds=float(params.get("min_seconds", 0.0)), pins=pins)
