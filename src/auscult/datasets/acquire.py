"""Getting a dataset onto disk: from the offline mirror, or from its canonical URLs.

Either way the result is a folder laid out like the mirror (``<mirror>/<dataset>/``), with
a ``SHA256SUMS`` file that has been verified and an ``ACQUIRED.json`` record of where the
files came from. The folder is assembled in a temporary sibling and renamed into place at
the end, so a folder with ``ACQUIRED.json`` is always complete. Partial downloads are kept
outside it (``.<dest>-downloads/``) and resumed by the next attempt.

Downloads: an https URL may not redirect to http; a source may give its expected size
(``bytes``) and a cap (``max_bytes``, default :data:`MAX_DOWNLOAD_BYTES`); a published
sha256 is checked before extraction; extraction refuses unsafe paths, more than
:data:`MAX_MEMBERS` members, more than :data:`MAX_EXTRACT_BYTES` and members compressed
more than :data:`MAX_EXTRACT_RATIO` times. The download cache heals: an archive that
fails to extract or verify is deleted (the error names it) so the next run fetches it
again, and a verified archive's sha256 is recorded next to it (``<archive>.sha256``) and
checked before it is used again.

Copying from a mirror or folder: a symbolic link that resolves outside the folder is
refused by name unless ``$AUSCULT_FOLLOW_SYMLINKS=1`` (a runtime setting).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from auscult.atomic import atomic_dir, write_json, write_text
from auscult.audio import sha256_file
from auscult.httpsafe import InsecureRedirectError, urlopen

__all__ = [
    "ChecksumError",
    "DownloadError",
    "LinkError",
    "MissingFileError",
    "SumsFileError",
    "acquire",
    "download",
    "mirror_root",
    "source_files",
    "verify_sha256sums",
    "write_sha256sums",
]

MIRROR_ENV = "AUSCULT_DATA_MIRROR"
FOLLOW_SYMLINKS_ENV = "AUSCULT_FOLLOW_SYMLINKS"
ACQUIRED_FILE = "ACQUIRED.json"
# Caps against a wrong URL or a zip bomb; the canonical archives are far below them.
MAX_DOWNLOAD_BYTES = 8 << 30
MAX_EXTRACT_BYTES = 32 << 30
MAX_EXTRACT_RATIO = 200  # uncompressed / compressed size of one member (audio: about 1-3)
MAX_MEMBERS = 200_000
_CHUNK = 1 << 16
_USER_AGENT = "auscult-acquire/0.1"
log = logging.getLogger("auscult.datasets")


class ChecksumError(ValueError):
    """A file's sha256 differs from the expected one."""

    def __init__(self, path: str | os.PathLike, expected: str, actual: str, hint: str = ""):
        self.path, self.expected, self.actual, self.hint = os.fspath(path), expected, actual, hint
        super().__init__(f"{self.path}: sha256 mismatch: expected {expected}, got {actual}{hint}")

    def __reduce__(self):
        return (type(self), (self.path, self.expected, self.actual, self.hint))


class MissingFileError(ValueError):
    """A file listed in a checksum file (or asked for) is absent."""


class SumsFileError(ValueError):
    """A checksum file is malformed (names the file and line)."""


class DownloadError(OSError):
    """A download failed; the message names the URL and the problem."""


class LinkError(ValueError):
    """A symbolic link in a mirror or folder dataset resolves outside that folder."""


class _Interrupted(Exception):
    """The connection ended before the announced number of bytes arrived (retryable)."""


# --------------------------------------------------------------------------- download


def _make_progress(total: int | None, initial: int, desc: str, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is an optional (workflow) dependency
        return None
    # disable=None: tqdm turns itself off when stderr is not a terminal (CI, Snakemake logs).
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=None if enabled else True,
        file=sys.stderr,
    )


def _fetch_once(url: str, part: Path, *, timeout: float, progress: bool, max_bytes: int,
                expected_bytes: int | None) -> None:
    """One HTTP(S)/file attempt: append to ``part`` from its current size to the end."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    with urlopen(request, timeout=timeout) as response:
        status = getattr(response, "status", None)
        length = response.headers.get("Content-Length")
        remaining = int(length) if length is not None else None
        if offset and status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                raise DownloadError(
                    f"{url}: asked to resume at byte {offset}, server answered "
                    f"Content-Range {response.headers.get('Content-Range')!r}"
                )
            mode = "ab"
        else:
            # 200 (or a file:// URL): the server ignored the Range request; start over.
            offset, mode = 0, "wb"
        total = offset + remaining if remaining is not None else None
        _check_size(url, total, expected_bytes, max_bytes, "announces")
        bar = _make_progress(total, offset, part.name.removesuffix(".part"), progress)
        received = 0
        try:
            with open(part, mode) as out:
                while block := response.read(_CHUNK):
                    out.write(block)
                    received += len(block)
                    if offset + received > max_bytes:
                        raise DownloadError(f"{url}: more than {max_bytes} bytes (max_bytes), stopped")
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
        # http.client returns b'' on a connection closed early instead of raising.
        if remaining is not None and received < remaining:
            raise _Interrupted(f"connection closed after {received} of {remaining} bytes")


def _check_size(url: str, size: int | None, expected: int | None, max_bytes: int, verb: str) -> None:
    if size is None:
        return
    if size > max_bytes:
        raise DownloadError(f"{url}: {verb} {size} bytes, more than the cap of {max_bytes} (max_bytes)")
    if expected is not None and size != expected:
        raise DownloadError(f"{url}: {verb} {size} bytes, expected {expected}")


def _content_range_start(value: str | None) -> int | None:
    # 'bytes 100-999/1000' -> 100
    try:
        return int(value.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _complete_size(value: str | None) -> int | None:
    # 416 answers carry 'bytes */1000' -> 1000
    try:
        return int(value.split("/")[1])
    except (AttributeError, IndexError, ValueError):
        return None


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
    backoff: float = 1.0,
    expected_bytes: int | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Download ``url`` to ``dest`` (resuming a partial download) and return ``dest``.

    Bytes go to ``dest + '.part'``; an existing ``.part`` is resumed with an HTTP Range
    request (a server answering 200 instead of 206 restarts it). Connection errors,
    early closes and 5xx answers are retried ``retries`` more times, waiting ``backoff``,
    2 x ``backoff``, ... seconds (at most 30). With ``sha256`` the finished file is checked:
    on a mismatch it is deleted and :class:`ChecksumError` raised. Only a complete,
    verified file is moved (``os.replace``) to ``dest``. If ``dest`` already exists and
    matches ``sha256`` (or no sha256 is given) nothing is downloaded.
    ``file://`` URLs are accepted (copied, no resume). A size other than ``expected_bytes``,
    more than ``max_bytes``, or an https URL redirected to http stops with
    :class:`DownloadError` (not retried; the ``.part`` is deleted).
    """
    dest = Path(dest)
    if _existing_download_is_good(dest, sha256=sha256, expected_bytes=expected_bytes):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"{url}: unsupported URL scheme {scheme!r}")

    attempt = 0
    while (error := _attempt(url, part, scheme, timeout=timeout, progress=progress,
                             max_bytes=max_bytes, expected_bytes=expected_bytes)) is not None:
        if attempt >= retries:
            kept = f"; partial download kept in {part}" if part.exists() else ""
            raise DownloadError(f"{url}: failed after {attempt + 1} attempt(s): {error}{kept}")
        time.sleep(min(backoff * 2**attempt, 30.0))
        attempt += 1

    _verify_and_move(url, part, dest, sha256=sha256, expected_bytes=expected_bytes, max_bytes=max_bytes)
    return dest


def _existing_download_is_good(dest: Path, *, sha256: str | None, expected_bytes: int | None) -> bool:
    """Whether ``dest`` is already there with the expected size and sha256. A stale or
    corrupt one is deleted, with a warning."""
    if not dest.exists():
        return False
    if expected_bytes is not None and dest.stat().st_size != expected_bytes:
        problem = f"{dest.stat().st_size} bytes, expected {expected_bytes}"
    elif sha256 is not None and sha256_file(dest) != sha256.lower():
        problem = "differs from its published sha256"
    else:
        return True
    log.warning("%s: %s (a stale or corrupt earlier download); deleted, downloading it again",
                dest, problem)
    dest.unlink()
    return False


def _attempt(url: str, part: Path, scheme: str, *, timeout: float, progress: bool, max_bytes: int,
             expected_bytes: int | None) -> str | None:
    """One download attempt: None when ``part`` holds the whole file, else the error to retry
    on. Errors that retrying cannot mend raise :class:`DownloadError`."""
    try:
        _fetch_once(url, part, timeout=timeout, progress=progress, max_bytes=max_bytes,
                    expected_bytes=expected_bytes)
        return None
    except (DownloadError, InsecureRedirectError) as e:
        part.unlink(missing_ok=True)
        raise DownloadError(str(e)) from None
    except urllib.error.HTTPError as e:
        if e.code == 416 and part.exists():
            if _complete_size(e.headers.get("Content-Range")) == part.stat().st_size:
                return None  # the .part already holds the whole file
            # Range not satisfiable: the .part is no prefix of this file; start over.
            part.unlink()
            return f"HTTP 416 on resume ({e.reason})"
        if e.code < 500:
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        return f"HTTP {e.code} {e.reason}"
    except urllib.error.URLError as e:
        if scheme == "file":
            raise DownloadError(f"{url}: {e.reason}") from None
        return f"{e.reason}"
    except (_Interrupted, ConnectionError, TimeoutError) as e:
        return f"{type(e).__name__}: {e}"
    except http.client.HTTPException as e:
        return f"{type(e).__name__}: {e}"


def _verify_and_move(url: str, part: Path, dest: Path, *, sha256: str | None,
                     expected_bytes: int | None, max_bytes: int) -> None:
    """Check the finished ``part``'s size and sha256 (deleting it on a mismatch), then move
    it to ``dest``."""
    try:
        _check_size(url, part.stat().st_size, expected_bytes, max_bytes, "sent")
    except DownloadError:
        part.unlink()
        raise
    if sha256 is not None:
        actual = sha256_file(part)
        if actual != sha256.lower():
            part.unlink()
            raise ChecksumError(f"{dest} (from {url})", sha256.lower(), actual)
    os.replace(part, dest)


# --------------------------------------------------------------------------- checksums


def _normalise_rel(path: str) -> str:
    rel = path.strip()
    while rel.startswith("./"):
        rel = rel[2:]
    return rel


def read_sha256sums(sums_path: Path) -> dict[str, str]:
    """Parse a ``sha256sum``-style file into {relative posix path: sha256}."""
    if not sums_path.is_file():
        raise MissingFileError(f"{sums_path}: checksum file not found")
    sums: dict[str, str] = {}
    with open(sums_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            digest, sep, name = line.partition(" ")
            name = name[1:] if name[:1] in (" ", "*") else name  # text or binary marker
            rel = _normalise_rel(name)
            digest = digest.lower()
            if (
                not sep
                or len(digest) != 64
                or any(c not in "0123456789abcdef" for c in digest)
                or not rel
            ):
                raise SumsFileError(f"{sums_path}:{line_no}: not '<sha256>  <path>': {line!r}")
            pure = PurePosixPath(rel)
            if pure.is_absolute() or ".." in pure.parts:
                raise SumsFileError(f"{sums_path}:{line_no}: path escapes the folder: {rel!r}")
            if rel in sums:
                raise SumsFileError(f"{sums_path}:{line_no}: {rel!r} listed twice")
            sums[rel] = digest
    if not sums:
        raise SumsFileError(f"{sums_path}: lists no files (an empty checksum file verifies nothing)")
    return sums


def verify_sha256sums(
    root: Path, sums_file: str = "SHA256SUMS", *, only: Iterable[str] | None = None
) -> int:
    """Check files under ``root`` against ``root/sums_file``; return how many were checked.

    ``only`` restricts the check to these relative paths (each must be listed). Raises
    :class:`MissingFileError` for a listed file that is absent and :class:`ChecksumError`
    for the first file whose content differs.
    """
    root = Path(root)
    sums_path = root / sums_file
    sums = read_sha256sums(sums_path)
    if only is None:
        names = sorted(sums)
    else:
        names = [_normalise_rel(str(n)) for n in only]
        unlisted = [n for n in names if n not in sums]
        if unlisted:
            raise MissingFileError(f"{sums_path}: does not list {unlisted[:5]}")
    if only is None:
        # A partial SHA256SUMS would let the files it omits in unchecked.
        unlisted = [p.relative_to(root).as_posix() for p in _files(root)]
        unlisted = [n for n in unlisted if n not in sums and n not in (sums_file, ACQUIRED_FILE)]
        if unlisted:
            raise SumsFileError(f"{sums_path}: does not list {len(unlisted)} file(s) of the folder, "
                                f"e.g. {unlisted[:3]} (a partial checksum file is refused)")
    for name in names:
        path = root / name
        if not path.is_file():
            raise MissingFileError(f"{path}: listed in {sums_path} but missing")
        actual = sha256_file(path)
        if actual != sums[name]:
            raise ChecksumError(path, sums[name], actual)
    return len(names)


def write_sha256sums(root: Path, sums_file: str = "SHA256SUMS") -> Path:
    """Write ``root/sums_file`` listing every other file under ``root`` (sorted, './' paths)."""
    root = Path(root)
    lines = [
        f"{sha256_file(p)}  ./{p.relative_to(root).as_posix()}\n"
        for p in _files(root)
        if p.relative_to(root).as_posix() not in (sums_file, ACQUIRED_FILE)
    ]
    out = root / sums_file
    write_text(out, "".join(lines))
    return out


def _files(root: Path) -> list[Path]:
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.as_posix())


def follow_symlinks() -> bool:
    """``$AUSCULT_FOLLOW_SYMLINKS=1``: copy what a link out of a source folder points to."""
    return os.environ.get(FOLLOW_SYMLINKS_ENV, "").strip().lower() in ("1", "true", "yes")


def source_files(src: Path) -> list[Path]:
    """The files of a user's folder (a mirror's dataset folder, a folder dataset) to copy.

    Links inside the folder are followed (a linked folder once: a link to one of its own
    parents is a loop and skipped). A link that resolves outside ``src`` raises
    :class:`LinkError` naming the link, never what it points to, unless
    :func:`follow_symlinks`.
    """
    src = Path(src)
    root, follow = src.resolve(), follow_symlinks()
    out = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        here = Path(dirpath)
        real_here = here.resolve()
        for name in list(dirnames):
            target = _checked_link(here / name, src, root, follow)
            if target is not None and (target == real_here or target in real_here.parents):
                dirnames.remove(name)
        for name in filenames:
            _checked_link(here / name, src, root, follow)
            if (here / name).is_file():
                out.append(here / name)
    return sorted(out, key=lambda p: p.as_posix())


def _checked_link(path: Path, src: Path, root: Path, follow: bool) -> Path | None:
    """What the link ``path`` resolves to (None for no link); refuses one leaving ``root``."""
    if not path.is_symlink():
        return None
    target = path.resolve()
    if not follow and target != root and root not in target.parents:
        raise LinkError(f"{path}: symbolic link out of {src}; refused (set {FOLLOW_SYMLINKS_ENV}=1 "
                        "to copy what it points to)")
    return target


# --------------------------------------------------------------------------- acquire


def mirror_root() -> Path | None:
    """The offline mirror named by ``$AUSCULT_DATA_MIRROR``, or None when it is unset."""
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    root = Path(value)
    if not root.is_dir():
        raise NotADirectoryError(f"{MIRROR_ENV}={value}: not a directory")
    return root


def _copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` (a reflink where the filesystem offers one).

    Never a hard link: the pipeline owns its copy, so a later edit of the mirror can neither
    leak into it nor go unchecked (the copy is verified against SHA256SUMS after copying).
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl

        with open(src, "rb") as fi, open(dst, "wb") as fo:
            fcntl.ioctl(fo.fileno(), 0x40049409, fi.fileno())  # FICLONE
        shutil.copystat(src, dst)
        return
    except (OSError, ImportError, AttributeError):
        dst.unlink(missing_ok=True)
    shutil.copy2(src, dst)


# What a corrupt or hostile zip raises while it is read (not the disk's errors: a full disk
# says nothing about the archive).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError,
               RuntimeError, ValueError)


def _extract(archive: Path, target: Path, strip_prefix: str = "") -> int:
    """Extract a zip into ``target``, dropping ``strip_prefix``; refuse unsafe paths and
    archives over the caps; any error reading the archive is a :class:`DownloadError`."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            _check_members(archive, members)
            return _extract_members(archive, zf, members, target, strip_prefix)
    except _ZIP_ERRORS as e:
        raise DownloadError(f"{archive}: not a valid zip archive ({type(e).__name__}: {e})") from None


def _check_members(archive: Path, members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_MEMBERS:
        raise DownloadError(f"{archive}: {len(members)} members, more than {MAX_MEMBERS} (MAX_MEMBERS)")
    total = sum(m.file_size for m in members)
    if total > MAX_EXTRACT_BYTES:
        raise DownloadError(f"{archive}: would extract {total} bytes, more than {MAX_EXTRACT_BYTES} "
                            "(MAX_EXTRACT_BYTES)")
    for m in members:
        if m.file_size > (1 << 20) and m.file_size > MAX_EXTRACT_RATIO * max(m.compress_size, 1):
            raise DownloadError(f"{archive}: member {m.filename!r} expands {m.compress_size} -> {m.file_size} "
                                f"bytes, more than {MAX_EXTRACT_RATIO} times (a zip bomb?)")


def _extract_members(archive: Path, zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], target: Path,
                     strip_prefix: str) -> int:
    n = 0
    for member in members:
        name = member.filename
        if strip_prefix:
            if not name.startswith(strip_prefix):
                continue  # e.g. a stray top-level README next to the data folder
            name = name[len(strip_prefix) :]
        pure = PurePosixPath(name)
        if not name or pure.is_absolute() or ".." in pure.parts:
            if name:
                raise DownloadError(f"{archive}: unsafe member path {member.filename!r}")
            continue
        if pure.parts[0] in ("__MACOSX",):
            continue
        out = target.joinpath(*pure.parts)
        if member.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(member) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        n += 1
    return n


def acquire(
    dataset: str,
    dest: Path,
    *,
    mirror: Path | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Put ``dataset`` into ``dest`` and return ``dest``.

    With a mirror (``mirror`` or ``$AUSCULT_DATA_MIRROR``) the files of
    ``mirror/<dataset>/`` are copied (never hard-linked) and the copies checked against its
    ``SHA256SUMS``, which must list every file. Without one, the archives in the dataset module's ``SOURCES`` are
    downloaded (resumably) to ``<dest.parent>/.<dest.name>-downloads/`` and extracted, and
    a ``SHA256SUMS`` of the result is written. A ``dest`` that already holds an
    ``ACQUIRED.json`` for this dataset is left alone unless ``force``.
    """
    from .registry import get_dataset  # late import: the registry imports the adapters

    module = get_dataset(dataset)
    dest = Path(dest)
    marker = dest / ACQUIRED_FILE
    if marker.is_file() and not force:
        try:
            if json.loads(marker.read_text()).get("dataset") == dataset:
                return dest
        except (OSError, ValueError):
            pass  # unreadable marker: acquire again
    if mirror is None:
        mirror = mirror_root()

    with atomic_dir(dest) as tmp:
        if mirror is not None:
            src = Path(mirror) / dataset
            if not src.is_dir():
                raise MissingFileError(f"{src}: the mirror has no folder for {dataset!r}")
            for path in source_files(src):
                _copy(path, tmp / path.relative_to(src))
            source, origin = "mirror", str(src)
        else:
            downloads = dest.parent / f".{dest.name}-downloads"
            archives = [_fetch_source(spec, downloads, tmp, progress) for spec in module.SOURCES]
            _verify_download(dataset, module, tmp, downloads, archives)
            if not (tmp / "SHA256SUMS").is_file():
                write_sha256sums(tmp)
            source, origin = "url", [spec["url"] for spec in module.SOURCES]
        try:
            n_checked = verify_sha256sums(tmp)
        except (ChecksumError, MissingFileError, SumsFileError) as e:
            if mirror is None:
                _discard_unverified(downloads, archives, e)
                raise
            raise type(e)(*_mirror_args(e, tmp, Path(mirror) / dataset)) from None
        record = {
            "dataset": dataset,
            "source": source,
            "origin": origin,
            "n_files": n_checked,
            "sha256sums_sha256": hashlib.sha256((tmp / "SHA256SUMS").read_bytes()).hexdigest(),
        }
        if source == "url":
            record["archives"] = archives
            for a in archives:  # verified now: their sha256 is what later runs check
                _record_verified(downloads / a["file"], a["sha256"])
        write_json(tmp / ACQUIRED_FILE, record)
    return dest


def _fetch_source(spec: dict, downloads: Path, tmp: Path, progress: bool) -> dict:
    """Download (or reuse) one archive of ``SOURCES`` and extract it into ``tmp``; return its
    record. An archive that cannot be extracted is deleted (the next run fetches it again)."""
    archive = downloads / spec["archive_name"]
    _check_cached(archive)
    download(spec["url"], archive, sha256=spec.get("sha256"), progress=progress,
             expected_bytes=spec.get("bytes"), max_bytes=spec.get("max_bytes", MAX_DOWNLOAD_BYTES))
    record = {"url": spec["url"], "file": archive.name, "bytes": archive.stat().st_size,
              "sha256": sha256_file(archive),
              "verified_by": "published sha256" if spec.get("sha256") else "pinned recordings"}
    try:
        if spec.get("extract", True):
            _extract(archive, tmp / spec.get("extract_to", "."), spec.get("strip_prefix", ""))
        else:  # a plain file (e.g. ICBHI's split list), not an archive
            _copy(archive, tmp / spec.get("extract_to", ".") / spec["archive_name"])
    except DownloadError as e:
        _discard(archive)
        raise DownloadError(f"{e} [{archive} deleted: the next run downloads it again]") from None
    return record


def _sidecar(archive: Path) -> Path:
    return archive.with_name(archive.name + ".sha256")


def _discard(archive: Path) -> None:
    archive.unlink(missing_ok=True)
    _sidecar(archive).unlink(missing_ok=True)


def _record_verified(archive: Path, digest: str) -> None:
    if not _sidecar(archive).is_file():
        write_text(_sidecar(archive), f"{digest}  {archive.name}\n")


def _check_cached(archive: Path) -> None:
    """Delete a cached ``archive`` that no longer matches the sha256 recorded when it was
    first verified (or whose record is unreadable), so that it is downloaded again."""
    side = _sidecar(archive)
    if not side.is_file():
        return
    if not archive.is_file():
        side.unlink()
        return
    recorded = (side.read_text(errors="replace").split() or [""])[0].lower()
    if sha256_file(archive) != recorded:
        log.warning("%s: cached archive differs from the sha256 recorded in %s when it was verified; "
                    "deleted, downloading it again", archive, side.name)
        _discard(archive)


def _discard_unverified(downloads: Path, archives: list[dict], e: Exception) -> None:
    for a in archives:
        if a["verified_by"] != "published sha256":
            _discard(downloads / a["file"])
            log.error("%s: deleted (its content failed verification: %s); the next run downloads it again",
                      downloads / a["file"], type(e).__name__)


def _verify_download(dataset: str, module, tmp: Path, downloads: Path, archives: list[dict]) -> None:
    """Archives without a published sha256 (all three canonical datasets) count as verified
    only once their extracted recordings match the checksums pinned in the package. On a
    mismatch every such archive is deleted (a truncated or changed download is never kept)
    and the error names the first bad file."""
    from .checks import Checks
    from .pinned import load_pins

    unverified = [a for a in archives if a["verified_by"] == "pinned recordings"]
    pins = load_pins(dataset)
    if not unverified or pins is None:
        return
    try:
        module.build_manifest(tmp, hash_audio=False, checks=Checks(bad_audio="error", pins=pins))
    except ValueError as e:
        for a in unverified:
            _discard(downloads / a["file"])
        names = ", ".join(a["url"] for a in unverified)
        raise DownloadError(f"{e} [downloaded from {names}: deleted, the next run fetches it again]") from None


_SUMS_HINT = ("; if the mirror was changed on purpose, regenerate its SHA256SUMS (README: "
              "When your data is broken)")


_WITHHELD = "(not shown: a symbolic link's target)"


def _mirror_args(e: ValueError, tmp: Path, src: Path) -> tuple:
    """The arguments of ``e`` naming the mirror's files (not the temporary copy), with a hint.

    The sha256 of a file reached through a symbolic link is not shown: the user named the
    folder, not what a link in it points to."""
    if isinstance(e, ChecksumError):
        path = str(e.path).replace(str(tmp), str(src))
        if Path(path).is_symlink():
            return (path, _WITHHELD, _WITHHELD, _SUMS_HINT)
        return (path, e.expected, e.actual, _SUMS_HINT)
    return (str(e).replace(str(tmp), str(src)) + _SUMS_HINT,)
