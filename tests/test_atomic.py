"""Atomic writes: a failed writer leaves nothing under the final name; permissions are normal;
renames are fsynced; temporary entries of other hosts sharing the folder are left alone."""

import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auscult import atomic
from auscult.atomic import (
    FOREIGN_TMP_MAX_AGE_S,
    atomic_dir,
    atomic_path,
    remove_stale_tmp,
    tmp_prefix,
    write_json,
)


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_failed_dir_keeps_previous_version(tmp_path):
    target = tmp_path / "d"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("2")
        raise RuntimeError("killed")
    assert (target / "a").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["d"]


def test_outputs_get_normal_permissions(tmp_path):
    write_json(tmp_path / "m.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o666 & ~mask
    with atomic_dir(tmp_path / "d"):
        pass
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~mask


# --------------------------------------------------------------------------- hosts and pids


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(proc.stdout)


def _age(entry, seconds: float) -> None:
    """Make ``entry`` and everything under it look unchanged for ``seconds``."""
    when = time.time() - seconds
    for p in [entry, *entry.rglob("*")]:
        os.utime(p, (when, when), follow_symlinks=False)


def test_temporary_names_carry_host_and_pid(tmp_path):
    with atomic_path(tmp_path / "a.csv", suffix=".csv") as tmp:
        assert tmp.name.startswith(f".tmp-a.csv-h{atomic.host_id()}-p{os.getpid()}-")
        assert atomic._TMP_NAME.match(tmp.name)["host"] == atomic.host_id()
    assert re.fullmatch(r"[0-9a-f]{8}", atomic.host_id())


def test_only_this_hosts_dead_writers_are_reaped(tmp_path):
    dead = _dead_pid()
    out = tmp_path / "feats"
    mine = tmp_path / f"{tmp_prefix(out, dead)}abc"
    (mine / "shards").mkdir(parents=True)
    other_output = tmp_path / f"{tmp_prefix(tmp_path / 'x', dead)}zz"  # any output of a dead writer
    other_output.mkdir()
    alive = tmp_path / f"{tmp_prefix(out)}live"
    alive.mkdir()
    foreign = tmp_path / f".tmp-feats-h{'0' * 8}-p{dead}-abc"  # another host: its pid means nothing here
    (foreign / "shards").mkdir(parents=True)
    old_style = tmp_path / f".tmp-feats-p{dead}-abc"  # pid-only naming: treated as another host's
    old_style.mkdir()
    assert set(remove_stale_tmp(out)) == {mine, other_output}
    assert alive.exists() and foreign.exists() and old_style.exists()

    _age(foreign, FOREIGN_TMP_MAX_AGE_S - 600)  # a long job on the other host: still kept
    assert remove_stale_tmp(out) == [] and foreign.exists()
    _age(foreign, FOREIGN_TMP_MAX_AGE_S + 600)
    (foreign / "shards" / "new.npy").write_bytes(b"x")  # ... but it just wrote a file
    os.utime(foreign / "shards", (time.time() - 2 * FOREIGN_TMP_MAX_AGE_S,) * 2)
    assert remove_stale_tmp(out) == [] and foreign.exists()
    _age(foreign, FOREIGN_TMP_MAX_AGE_S + 600)
    _age(old_style, FOREIGN_TMP_MAX_AGE_S + 600)
    assert set(remove_stale_tmp(out)) == {foreign, old_style}


def test_two_hosts_sharing_one_folder(tmp_path, monkeypatch):
    """Host A writes an output while host B's job on the same folder starts, reaps and
    publishes: nothing of A's is touched and both publish complete folders."""
    out = tmp_path / "cache"
    monkeypatch.setattr(atomic, "host_id", lambda: "aaaaaaaa")
    with atomic_dir(out) as a_tmp:
        (a_tmp / "part1").write_text("A1")
        a_file = tmp_path / "a.json"
        with atomic_path(a_file) as a_file_tmp:
            a_file_tmp.write_text("{}")
            # host B: same pid numbers mean other processes there; A's pid looks dead to B
            monkeypatch.setattr(atomic, "host_id", lambda: "bbbbbbbb")
            monkeypatch.setattr(atomic, "_alive", lambda pid: False)
            assert remove_stale_tmp(out) == []
            with atomic_dir(out) as b_tmp:
                (b_tmp / "part1").write_text("B1")
                (b_tmp / "part2").write_text("B2")
            assert sorted(p.name for p in out.iterdir()) == ["part1", "part2"]
            assert (a_tmp / "part1").read_text() == "A1" and a_file_tmp.exists()
            monkeypatch.setattr(atomic, "host_id", lambda: "aaaaaaaa")
        (a_tmp / "part2").write_text("A2")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"part1": "A1", "part2": "A2"}
    assert a_file.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="needs root and unshare(1) for a second UTS namespace")
def test_a_real_other_hostname_is_a_foreign_host(tmp_path):
    """A writer under another hostname (its own UTS namespace) dies mid-write: this host
    leaves its temporary folder alone even though the pid is dead here."""
    code = ("import os, sys; from auscult.atomic import atomic_dir\n"
            "cm = atomic_dir(sys.argv[1]); tmp = cm.__enter__(); (tmp / 'half').write_text('x')\n"
            "os._exit(3)\n")
    script = f"hostname other-host-{os.getpid()} && exec {sys.executable} -c \"$0\" \"$1\""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    probe = subprocess.run(["unshare", "--uts", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare --uts failed: {probe.stderr.decode().strip()}")
    proc = subprocess.run(["unshare", "--uts", "sh", "-c", script, code, str(tmp_path / "out")],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    (left,) = tmp_path.iterdir()
    assert atomic._TMP_NAME.match(left.name)["host"] != atomic.host_id()
    assert remove_stale_tmp(tmp_path / "out") == [] and (left / "half").exists()


# --------------------------------------------------------------------------- durability


def test_renames_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_json(tmp_path / "m.json", {"a": 1})
    assert synced[0].startswith(str(tmp_path / ".tmp-m.json-")) and synced[-1] == str(tmp_path)
    synced.clear()
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "f").write_text("1")
    assert str(tmp / "sub" / "f") in synced and str(tmp) in synced and synced[-1] == str(tmp_path)


def test_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "d"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("old")
    real = os.replace

    def failing(src, dst):
        if Path(dst) == target and "aside~" not in str(src):  # the new folder cannot go in
            raise OSError("disk gone")
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="disk gone"), atomic_dir(target) as tmp:
        (tmp / "a").write_text("new")
    monkeypatch.undo()
    assert (target / "a").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["d"]


CRASH = """
import os, sys
from auscult import atomic
real, step = os.replace, sys.argv[2]
def crash(src, dst):
    real(src, dst)
    if (step == "aside" and "aside~" in str(dst)) or (step == "in" and str(dst) == sys.argv[1]):
        os._exit(9)
os.replace = crash
with atomic.atomic_dir(sys.argv[1]) as tmp:
    (tmp / "a").write_text("new")
"""


@pytest.mark.parametrize("step", ["aside", "in"])
def test_a_crash_during_the_swap_never_loses_a_finished_copy(tmp_path, step):
    target = tmp_path / "d"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("old")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", CRASH, str(target), step], env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 9, proc.stderr
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-"))
    if step == "aside":  # old folder aside, new one complete but not in place
        assert not target.exists() and len(left) == 2
        remove_stale_tmp(target)
        assert (target / "a").read_text() == "old"
    else:  # new one in place, old one not yet deleted
        assert (target / "a").read_text() == "new" and len(left) == 1
        remove_stale_tmp(target)
        assert (target / "a").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]
