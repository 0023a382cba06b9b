"""Atomic, durable file writes: a reader never sees a half-written output.

Every artifact is written to a temporary sibling, flushed to disk (``fsync``) and moved into
place with ``os.replace`` (atomic on POSIX within one filesystem), after which the folder is
flushed too, so a power cut cannot leave a renamed but empty file. An interrupted job leaves
at most a ``.tmp-*`` entry behind, never a truncated file under the final name.

Temporary names carry the writer's host and pid (``.tmp-<name>-h<host>-p<pid>-<random>``;
``<host>`` is :func:`host_id`). :func:`remove_stale_tmp` (called when a job starts, and by
:func:`atomic_dir`) deletes this host's entries whose writer is gone. A pid says nothing
about a process on another machine sharing the folder (NFS, a cluster's shared disk), so
entries of other hosts, and entries in the older pid-only naming, are deleted only once
nothing in them has changed for :data:`FOREIGN_TMP_MAX_AGE_S`.

:func:`atomic_dir` replaces an existing folder in three steps: the old folder is renamed
aside (``...-aside~<hex>``), the new one renamed into place, then the old one deleted. A
crash between the first two steps leaves the old, complete folder aside; the next
:func:`remove_stale_tmp` renames it back.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("auscult.atomic")

# A job on another host may keep writing into its temporary folder for hours (a feature
# cache); a day without any change means its writer is gone.
FOREIGN_TMP_MAX_AGE_S = 24 * 3600.0
_ASIDE = "aside~"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) entries; published artifacts get the normal
# permissions a plain open()/mkdir() would have given them.
_UMASK = _umask()


@functools.lru_cache(maxsize=1)
def _machine_id() -> str:
    parts = [socket.gethostname()]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(os.readlink(source) if source.endswith("/pid") else Path(source).read_text().strip())
        except OSError:
            parts.append("")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def host_id() -> str:
    """8 hex digits naming the machine whose pids a writer's pid belongs to: hash of the
    hostname, the kernel's boot id and the pid namespace (two containers on one host
    have different pid namespaces; a reboot changes the boot id)."""
    return _machine_id()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it to ``path``.

    ``suffix`` keeps the extension for writers that look at it (``np.save`` adds ``.npy``
    unless the name already ends with it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(path), suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_UMASK)
            _fsync(tmp_path)
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(path)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix(path), dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        _fsync_tree(tmp)
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, path: Path) -> None:
    """Old folder aside, new one into place, old one deleted (see the module docstring)."""
    aside = None
    if os.path.lexists(path):
        aside = path.parent / f"{tmp_prefix(path)}{_ASIDE}{secrets.token_hex(4)}"
        os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        if aside is not None:
            os.replace(aside, path)
        raise
    _fsync_dir(path.parent)
    if aside is not None:
        _remove(aside)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            p = Path(dirpath, name)
            if p.is_file() and not p.is_symlink():
                _fsync(p)
        _fsync_dir(Path(dirpath))


def tmp_prefix(path: Path, pid: int | None = None) -> str:
    """The name prefix of ``path``'s temporary siblings written by ``pid`` (default: this
    process) on this host."""
    return f".tmp-{Path(path).name}-h{host_id()}-p{os.getpid() if pid is None else pid}-"


# .tmp-<name>-h<host>-p<pid>-<tag>; <host> is absent in the older naming. <tag> (mkstemp's
# random part and suffix, or aside~<hex>) never contains '-'.
_TMP_NAME = re.compile(r"^\.tmp-(?P<name>.+?)-(?:h(?P<host>[0-9a-f]{8})-)?p(?P<pid>\d+)-(?P<tag>[^-]*)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process stays a zombie until its parent reaps it
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _changed_since(entry: Path, cutoff: float) -> bool:
    """Whether ``entry`` or anything under it was modified at or after ``cutoff``."""
    try:
        if entry.lstat().st_mtime >= cutoff:
            return True
    except OSError:
        return False
    if entry.is_symlink() or not entry.is_dir():
        return False
    for dirpath, dirnames, filenames in os.walk(entry):
        for name in dirnames + filenames:
            with contextlib.suppress(OSError):
                if os.lstat(os.path.join(dirpath, name)).st_mtime >= cutoff:
                    return True
    return False


def _is_stale(entry: Path, m: re.Match | None, now: float) -> bool:
    if m and m["host"] == host_id():
        return not _alive(int(m["pid"]))
    # another host's entry, or one in an older naming: its pid cannot be checked here
    return not _changed_since(entry, now - FOREIGN_TMP_MAX_AGE_S)


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def remove_stale_tmp(path: str | os.PathLike) -> list[Path]:
    """Delete the ``.tmp-*`` siblings of ``path`` whose writer is gone; return them.

    Whose writer is gone: this host's entries whose pid no longer runs, whatever output
    they belonged to; other hosts' entries and entries in an older naming once unchanged
    for :data:`FOREIGN_TMP_MAX_AGE_S`. A stale ``aside`` folder (an old output that
    :func:`atomic_dir` had moved aside when its writer died) whose output is missing is
    renamed back to it instead.
    """
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    now = time.time()
    stale = []
    for entry in sorted(path.parent.iterdir()):
        if entry.name.startswith(".tmp-"):
            m = _TMP_NAME.match(entry.name)
            if _is_stale(entry, m, now):
                stale.append((entry, m))
    stale.sort(key=lambda em: not (em[1] and em[1]["tag"].startswith(_ASIDE)))  # asides first
    for entry, m in stale:
        if m and m["tag"].startswith(_ASIDE) and _restore(entry, entry.parent / m["name"]):
            continue
        _remove(entry)
        removed.append(entry)
    return removed


def _restore(aside: Path, output: Path) -> bool:
    if os.path.lexists(output):
        return False
    os.replace(aside, output)
    _fsync_dir(output.parent)
    log.warning("%s: restored from %s (its writer died while replacing it)", output, aside.name)
    return True


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_csv(path: str | os.PathLike, df, **kwargs) -> None:
    """Write a pandas DataFrame as CSV atomically (index off unless asked)."""
    kwargs.setdefault("index", False)
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, **kwargs)


def _json_default(o: Any) -> Any:
    # numpy scalars and paths show up in metrics; make them plain JSON.
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
