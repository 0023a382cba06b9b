"""docs/sharing.md: `dvc push` to a local-folder remote and `dvc pull` on a second machine (a
git clone in another folder) give back the same files, for a `dvc add`-ed file and a
`dvc.yaml` stage's output, and the clone's `dvc status` is then clean (nothing to re-run)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
DVC = BIN / "dvc"

pytestmark = pytest.mark.skipif(not DVC.exists(), reason="dvc is not installed beside this Python")

STAGE = """\
stages:
  square:
    cmd: python square.py
    deps:
      - square.py
      - data/raw.bin
    outs:
      - out/squares.txt
"""
SCRIPT = """\
from pathlib import Path

raw = Path("data/raw.bin").read_bytes()
Path("out").mkdir(exist_ok=True)
Path("out/squares.txt").write_text("".join(f"{b * b}\\n" for b in raw))
"""


def env() -> dict:
    e = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1",
             GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t",
             GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    e.pop("AUSCULT_DATA_MIRROR", None)
    return e


def run(cwd: Path, *cmd: str) -> str:
    proc = subprocess.run([str(DVC) if cmd[0] == "dvc" else cmd[0], *cmd[1:]], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_to_a_folder_remote_and_pull_into_a_clone(tmp_path):
    author, remote, reviewer = tmp_path / "author", tmp_path / "remote", tmp_path / "reviewer"
    author.mkdir()
    run(author, "git", "init", "-q", "-b", "main")
    run(author, "dvc", "init", "-q")
    (author / "data").mkdir()
    (author / "data" / "raw.bin").write_bytes(bytes(range(256)) * 64)
    run(author, "dvc", "add", "-q", "data/raw.bin")
    (author / "dvc.yaml").write_text(STAGE)
    (author / "square.py").write_text(SCRIPT)
    run(author, "dvc", "repro", "-q")
    run(author, "dvc", "remote", "add", "-d", "store", str(remote))
    run(author, "git", "add", "-A")
    run(author, "git", "commit", "-q", "-m", "data, stage and lock")
    tracked = run(author, "git", "ls-files").split()
    # git holds the pointers, the lock and the remote's address, never the data
    assert {"data/raw.bin.dvc", "dvc.yaml", "dvc.lock", ".dvc/config"} <= set(tracked)
    assert "data/raw.bin" not in tracked and "out/squares.txt" not in tracked
    run(author, "dvc", "push", "-q")
    assert any(p.is_file() for p in remote.rglob("*")), "the remote holds the pushed objects"

    run(tmp_path, "git", "clone", "-q", str(author), str(reviewer))
    assert not (reviewer / "data" / "raw.bin").exists() and not (reviewer / "out" / "squares.txt").exists()
    run(reviewer, "dvc", "pull", "-q")
    for rel in ("data/raw.bin", "out/squares.txt"):
        assert sha(reviewer / rel) == sha(author / rel), rel
    # the pulled outputs match the committed dvc.lock: nothing to re-run on the second machine
    assert "up to date" in run(reviewer, "dvc", "status")
