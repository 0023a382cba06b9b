"""runlog.end_job: a finished job exits 0 at once, with its log and streams flushed; every
workflow script ends with it (and only there)."""

from pathlib import Path

from scratch import run_python as _run

ROOT = Path(__file__).parents[1]


def test_end_job_flushes_the_log_and_streams_and_exits_0(tmp_path):
    log = tmp_path / "job.log"
    out = _run(
        "import atexit, sys\n"
        "from auscult import runlog\n"
        f"log = runlog.setup({str(log)!r})\n"
        "atexit.register(lambda: print('teardown ran'))\n"
        "log.info('finished the job')\n"
        "sys.stdout.write('buffered on stdout')\n"
        "runlog.end_job()\n"
        "print('after end_job')\n"
    )
    assert out.returncode == 0, out.stderr
    assert "finished the job" in log.read_text() and "finished the job" in out.stderr
    assert out.stdout == "buffered on stdout"  # flushed; nothing after end_job, no teardown
    assert "teardown ran" not in out.stdout


def test_a_job_that_fails_before_end_job_still_exits_1(tmp_path):
    out = _run(f"from auscult import runlog\nrunlog.setup({str(tmp_path / 'j.log')!r})\n1/0\nrunlog.end_job()\n")
    assert out.returncode == 1 and "ZeroDivisionError" in out.stderr


def test_every_workflow_script_ends_with_end_job():
    scripts = sorted((ROOT / "workflow" / "scripts").glob("*.py"))
    assert scripts
    for script in scripts:
        lines = [ln for ln in script.read_text().splitlines() if ln.strip()]
        assert lines[-1] == "runlog.end_job()", f"{script.name} must end with runlog.end_job()"
        assert sum("end_job" in ln for ln in lines) == 1, f"{script.name}: end_job only as the last line"
