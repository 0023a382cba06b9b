"""Every workflow script runs its work inside the one job wrapper, `runlog.job`, so none can
forget the end of a job (its benchmark record, the flushed log): no script calls the parts
itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*REPO.glob("workflow/scripts/*.py"), *REPO.glob("src/auscult/papers/*/scripts/*.py"),
                  *REPO.glob("tests/toy_paper/*/scripts/*.py")])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_script_runs_inside_the_job_wrapper(script):
    text = script.read_text()
    assert re.search(r"^with runlog\.job\(smk(, reap=True)?\)( as log)?:$", text, re.M), script
    assert not re.search(r"runlog\.(end_job|start_job|setup)\(", text), script


def test_the_wrapper_writes_the_record_only_when_the_body_finishes(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from auscult import runlog

    ended = []
    monkeypatch.setattr(runlog, "end_job", lambda smk: ended.append(smk))
    smk = SimpleNamespace(log=SimpleNamespace(), output=[str(tmp_path / "out.txt")])
    monkeypatch.setattr(runlog, "job_log", lambda smk: str(tmp_path / "job.log"))
    with runlog.job(smk) as log:
        log.info("working")
    assert ended == [smk] and "working" in (tmp_path / "job.log").read_text()
    with pytest.raises(RuntimeError), runlog.job(smk):
        raise RuntimeError("the job failed")
    assert ended == [smk]  # no record for the failed body
    import logging

    logging.getLogger().handlers.clear()
