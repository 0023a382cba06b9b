"""auscult.datasets.acquire: resumable downloads, checksums, mirror and URL acquisition.

Downloads are tested against a local HTTP server (Range support, can cut a response short
to simulate a dropped connection); the canonical URLs are never contacted.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import ssl
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from auscult.datasets import acquire as acquire_module
from auscult.datasets import pascal, physionet2016, synthetic
from auscult.datasets.acquire import (
    ChecksumError,
    DownloadError,
    LinkError,
    MissingFileError,
    SumsFileError,
    _extract,
    acquire,
    download,
    mirror_root,
    source_files,
    verify_sha256sums,
)

PAYLOAD = bytes(range(256)) * 4000  # 1 MB, position-dependent so a bad resume shows


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        state = self.server.state
        if self.path in state.get("redirects", {}):
            state["log"].append((self.path, None, 0))
            self.send_response(302)
            self.send_header("Location", state["redirects"][self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = state["files"].get(self.path)
        range_header = self.headers.get("Range")
        if data is None:
            state["log"].append((self.path, range_header, 0))
            self.send_error(404, "Not Found")
            return
        start = 0
        if range_header and not state["ignore_range"]:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                state["log"].append((self.path, range_header, 0))
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if not state.get("no_length"):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state["cuts"]:  # drop the connection after this many bytes (HTTP/1.0 closes)
            body = body[: state["cuts"].pop(0)]
        # Log before writing: the client may return as soon as the last byte arrives.
        state["log"].append((self.path, range_header, len(body)))
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = {"files": {}, "cuts": [], "ignore_range": False, "log": []}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- download


def test_download_with_checksum(server, tmp_path):
    server.state["files"]["/a.zip"] = PAYLOAD
    dest = download(f"{server.url}/a.zip", tmp_path / "a.zip", sha256=sha(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "a.zip.part").exists()


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.state["files"]["/a.zip"] = PAYLOAD
    server.state["cuts"] = [300_000]
    url, dest = f"{server.url}/a.zip", tmp_path / "a.zip"
    with pytest.raises(DownloadError, match="connection closed after 300000") as e:
        download(url, dest, retries=0, progress=False)
    assert url in str(e.value)
    part = tmp_path / "a.zip.part"
    assert not dest.exists() and part.stat().st_size == 300_000

    download(url, dest, sha256=sha(PAYLOAD), retries=0, progress=False)
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    # The second request asked only for the rest and got only the rest.
    assert server.state["log"][-1] == ("/a.zip", "bytes=300000-", len(PAYLOAD) - 300_000)


def test_retries_resume_within_one_call(server, tmp_path):
    server.state["files"]["/a.zip"] = PAYLOAD
    server.state["cuts"] = [100_000, 50_000]
    download(f"{server.url}/a.zip", tmp_path / "a.zip", retries=3, backoff=0, progress=False)
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD
    ranges = [r for _, r, _ in server.state["log"]]
    assert ranges == [None, "bytes=100000-", "bytes=150000-"]


def test_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    server.state["files"]["/a.zip"] = PAYLOAD
    (tmp_path / "a.zip.part").write_bytes(b"\xff" * 1000)  # not a prefix of the payload
    server.state["ignore_range"] = True
    download(f"{server.url}/a.zip", tmp_path / "a.zip", sha256=sha(PAYLOAD), progress=False)
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD


def test_complete_part_file_is_not_fetched_again(server, tmp_path):
    server.state["files"]["/a.zip"] = PAYLOAD
    (tmp_path / "a.zip.part").write_bytes(PAYLOAD)
    download(f"{server.url}/a.zip", tmp_path / "a.zip", sha256=sha(PAYLOAD), progress=False)
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD
    assert server.state["log"] == [("/a.zip", f"bytes={len(PAYLOAD)}-", 0)]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.state["files"]["/a.zip"] = PAYLOAD
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as e:
        download(f"{server.url}/a.zip", tmp_path / "a.zip", sha256=wrong, progress=False)
    message = str(e.value)
    assert "a.zip" in message and wrong in message and sha(PAYLOAD) in message
    assert list(tmp_path.iterdir()) == []


def test_404_names_the_url_and_is_not_retried(server, tmp_path):
    url = f"{server.url}/missing.zip"
    with pytest.raises(DownloadError, match="HTTP 404") as e:
        download(url, tmp_path / "m.zip", retries=3, backoff=0, progress=False)
    assert url in str(e.value)
    assert len(server.state["log"]) == 1
    assert not (tmp_path / "m.zip").exists()


def test_connection_refused_gives_download_error(tmp_path):
    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.zip"
    with pytest.raises(DownloadError, match=r"failed after 2 attempt\(s\)") as e:
        download(url, tmp_path / "x.zip", retries=1, backoff=0, timeout=5, progress=False)
    assert url in str(e.value)


def test_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    dest = download(src.as_uri(), tmp_path / "out" / "x.bin", sha256=sha(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="nope.bin"):
        download((tmp_path / "nope.bin").as_uri(), tmp_path / "y.bin", progress=False)


# --------------------------------------------------------------------------- checksums


def make_tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha\n", "sub/b.bin": b"\x00\x01\x02", "sub/c.csv": b"x,y\n1,2\n"}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    lines = [f"{sha(d)}  ./{rel}\n" for rel, d in files.items()]
    (root / "SHA256SUMS").write_text("".join(lines))
    return files


def test_verify_sha256sums_ok_and_only(tmp_path):
    make_tree(tmp_path)
    assert verify_sha256sums(tmp_path) == 3
    assert verify_sha256sums(tmp_path, only=["sub/b.bin", "./a.txt"]) == 2


def test_verify_sha256sums_names_the_bad_file(tmp_path):
    files = make_tree(tmp_path)
    (tmp_path / "sub" / "c.csv").write_bytes(b"x,y\n1,3\n")
    with pytest.raises(ChecksumError) as e:
        verify_sha256sums(tmp_path)
    assert str(tmp_path / "sub" / "c.csv") in str(e.value)
    assert sha(files["sub/c.csv"]) in str(e.value)
    # the untouched files still pass on their own
    assert verify_sha256sums(tmp_path, only=["a.txt"]) == 1


def test_verify_sha256sums_missing_file_and_unlisted_name(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "sub" / "b.bin").unlink()
    with pytest.raises(MissingFileError, match="b.bin.*missing"):
        verify_sha256sums(tmp_path)
    with pytest.raises(MissingFileError, match="does not list"):
        verify_sha256sums(tmp_path, only=["other.txt"])
    with pytest.raises(MissingFileError, match="checksum file not found"):
        verify_sha256sums(tmp_path, sums_file="MD5SUMS")


@pytest.mark.parametrize("line", ["abc  ./a.txt", f"{'0' * 64}  ../escape.txt", f"{'0' * 64}"])
def test_malformed_sums_file(tmp_path, line):
    (tmp_path / "SHA256SUMS").write_text(line + "\n")
    with pytest.raises(SumsFileError, match="SHA256SUMS:1"):
        verify_sha256sums(tmp_path)


def test_mirror_root(monkeypatch, tmp_path):
    monkeypatch.delenv("AUSCULT_DATA_MIRROR", raising=False)
    assert mirror_root() is None
    monkeypatch.setenv("AUSCULT_DATA_MIRROR", str(tmp_path))
    assert mirror_root() == tmp_path
    monkeypatch.setenv("AUSCULT_DATA_MIRROR", str(tmp_path / "absent"))
    with pytest.raises(NotADirectoryError, match="absent"):
        mirror_root()


# --------------------------------------------------------------------------- acquire


@pytest.fixture
def fake_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    synthetic.write_pascal(mirror / "pascal", n_records=12, seed=5, duration_s=(0.5, 1.0))
    return mirror


def test_acquire_from_mirror(fake_mirror, tmp_path):
    dest = acquire("pascal", tmp_path / "data" / "pascal", mirror=fake_mirror, progress=False)
    record = json.loads((dest / "ACQUIRED.json").read_text())
    sums = (fake_mirror / "pascal" / "SHA256SUMS").read_bytes()
    assert record == {
        "dataset": "pascal",
        "source": "mirror",
        "origin": str(fake_mirror / "pascal"),
        "n_files": len(sums.splitlines()),
        "sha256sums_sha256": sha(sums),
    }
    assert len(pascal.build_manifest(dest)) == 12
    # A finished acquisition is not redone (the mirror is not even looked at).
    assert acquire("pascal", dest, mirror=tmp_path / "gone", progress=False) == dest


def test_acquire_from_corrupt_mirror_leaves_no_dest(fake_mirror, tmp_path):
    victim = sorted((fake_mirror / "pascal" / "set_b").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    dest = tmp_path / "data" / "pascal"
    with pytest.raises(ChecksumError, match=victim.name):
        acquire("pascal", dest, mirror=fake_mirror, progress=False)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no temporary folder left behind


def test_acquire_unknown_dataset_or_missing_mirror_folder(fake_mirror, tmp_path):
    with pytest.raises(ValueError, match="known datasets: icbhi2017, pascal, physionet2016"):
        acquire("nope", tmp_path / "x", mirror=fake_mirror)
    with pytest.raises(MissingFileError, match="no folder for 'physionet2016'"):
        acquire("physionet2016", tmp_path / "x", mirror=fake_mirror)


def _zip(folder: Path, out: Path, prefix: str, skip: set[str]) -> bytes:
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            if p.is_file() and rel.split("/")[0] not in skip:
                zf.write(p, prefix + rel)
    return out.read_bytes()


def use_pins_of(root: Path, dataset: str, pin_dir: Path, monkeypatch) -> None:
    """Make ``root`` (a synthetic folder) the canonical content of ``dataset`` for this test."""
    from auscult.datasets import pinned, pinning

    pinned.write_pins(dataset, pinning.compute_pins(dataset, root), pin_dir)
    monkeypatch.setattr(pinned, "PIN_DIR", pin_dir)
    pinned.load_pins.cache_clear()


def test_acquire_from_urls_like_the_canonical_archives(server, tmp_path, monkeypatch):
    monkeypatch.delenv("AUSCULT_DATA_MIRROR", raising=False)
    original = tmp_path / "original"
    synthetic.write_physionet2016(
        original, n_records=10, seed=2, n_test=4, duration_s=(1.0, 2.0), audio_format="wav"
    )
    # training.zip wraps training-a/... in a top folder 'training/'; validation.zip has
    # 'validation/'. Neither carries a SHA256SUMS.
    training = _zip(original, tmp_path / "t.zip", "training/", {"validation", "SHA256SUMS"})
    validation = _zip(original / "validation", tmp_path / "v.zip", "validation/", set())
    server.state["files"].update({"/training.zip": training, "/validation.zip": validation})
    sources = [
        {**physionet2016.SOURCES[0], "url": f"{server.url}/training.zip", "sha256": sha(training)},
        {**physionet2016.SOURCES[1], "url": f"{server.url}/validation.zip"},
    ]
    monkeypatch.setattr(physionet2016, "SOURCES", sources)
    use_pins_of(original, "physionet2016", tmp_path / "pins", monkeypatch)

    # First attempt: validation.zip is not there yet -> no dest, training.zip kept.
    del server.state["files"]["/validation.zip"]
    dest = tmp_path / "data" / "physionet2016"
    with pytest.raises(DownloadError, match="validation.zip"):
        acquire("physionet2016", dest, progress=False)
    assert not dest.exists()
    downloads = tmp_path / "data" / ".physionet2016-downloads"
    assert (downloads / "training.zip").read_bytes() == training

    server.state["files"]["/validation.zip"] = validation
    n_requests = len(server.state["log"])
    acquire("physionet2016", dest, progress=False)
    assert [p for p, _, _ in server.state["log"][n_requests:]] == ["/validation.zip"]

    record = json.loads((dest / "ACQUIRED.json").read_text())
    assert record["source"] == "url" and record["origin"] == [s["url"] for s in sources]
    assert verify_sha256sums(dest) == record["n_files"] == 10 + 2 * 2 + 2
    got = physionet2016.build_manifest(dest)
    want = physionet2016.build_manifest(original)
    assert got.equals(want)


# --------------------------------------------------------------------------- caps and redirects


def test_size_cap_and_expected_size(server, tmp_path):
    server.state["files"]["/a.zip"] = PAYLOAD
    url = f"{server.url}/a.zip"
    with pytest.raises(DownloadError, match=f"{url}: announces {len(PAYLOAD)} bytes, more than the cap of 1000"):
        download(url, tmp_path / "a.zip", max_bytes=1000, progress=False)
    with pytest.raises(DownloadError, match=f"announces {len(PAYLOAD)} bytes, expected 999"):
        download(url, tmp_path / "a.zip", expected_bytes=999, progress=False)
    assert list(tmp_path.iterdir()) == []
    server.state["no_length"] = True  # no Content-Length: the cap stops the stream
    with pytest.raises(DownloadError, match="more than 100000 bytes"):
        download(url, tmp_path / "a.zip", max_bytes=100_000, retries=0, progress=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DownloadError, match=f"sent {len(PAYLOAD)} bytes, expected 999"):
        download(url, tmp_path / "a.zip", expected_bytes=999, progress=False)
    assert list(tmp_path.iterdir()) == []
    download(url, tmp_path / "a.zip", expected_bytes=len(PAYLOAD), progress=False)
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD
    (tmp_path / "a.zip").write_bytes(PAYLOAD[:10])  # a cached file of the wrong size is fetched again
    n = len(server.state["log"])
    download(url, tmp_path / "a.zip", expected_bytes=len(PAYLOAD), progress=False)
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD and len(server.state["log"]) == n + 1


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """The test server over HTTPS, with a throw-away certificate this process trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl(1) is needed for a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.state = {"files": {}, "cuts": [], "ignore_range": False, "log": [], "redirects": {}}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"https://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_https_may_not_redirect_to_http(tls_server, server, tmp_path):
    server.state["files"]["/a.zip"] = PAYLOAD
    tls_server.state["files"]["/ok.zip"] = PAYLOAD
    download(f"{tls_server.url}/ok.zip", tmp_path / "ok.zip", sha256=sha(PAYLOAD), progress=False)
    tls_server.state["redirects"]["/a.zip"] = f"{server.url}/a.zip"
    url = f"{tls_server.url}/a.zip"
    with pytest.raises(DownloadError, match=f"{url}: HTTP 302 redirect to {server.url}/a.zip refused"):
        download(url, tmp_path / "a.zip", retries=3, backoff=0, progress=False)
    assert server.state["log"] == [] and len(tls_server.state["log"]) == 2  # not fetched, not retried
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "a.zip.part").exists()
    server.state["redirects"] = {"/b.zip": "/a.zip"}  # http -> http is followed
    download(f"{server.url}/b.zip", tmp_path / "b.zip", sha256=sha(PAYLOAD), progress=False)


def _zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_extraction_caps_and_damaged_members(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(_zip_bytes({"a.wav": b"\0" * (4 << 20)}, zipfile.ZIP_DEFLATED))
    with pytest.raises(DownloadError, match=r"bomb.zip: member 'a.wav' expands .* more than 200 times"):
        _extract(bomb, tmp_path / "out")
    many = tmp_path / "many.zip"
    many.write_bytes(_zip_bytes({f"{i}.txt": b"x" for i in range(4)}))
    monkeypatch.setattr(acquire_module, "MAX_MEMBERS", 3)
    with pytest.raises(DownloadError, match="many.zip: 4 members, more than 3"):
        _extract(many, tmp_path / "out")
    monkeypatch.setattr(acquire_module, "MAX_EXTRACT_BYTES", 3)
    monkeypatch.setattr(acquire_module, "MAX_MEMBERS", 10)
    with pytest.raises(DownloadError, match="many.zip: would extract 4 bytes, more than 3"):
        _extract(many, tmp_path / "out")
    monkeypatch.undo()
    damaged = tmp_path / "damaged.zip"
    data = bytearray(_zip_bytes({"a.wav": b"RIFF" + bytes(range(256)) * 10}))
    data[100] ^= 0xFF  # inside the stored member: its CRC no longer matches
    damaged.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=r"damaged.zip: not a valid zip archive \(BadZipFile: Bad CRC-32"):
        _extract(damaged, tmp_path / "out")


# --------------------------------------------------------------------------- caches that heal


@pytest.fixture
def url_dataset(server, tmp_path, monkeypatch):
    """physionet2016 served like its canonical archives (training.zip with a published
    sha256, validation.zip without one), pinned to a synthetic original."""
    monkeypatch.delenv("AUSCULT_DATA_MIRROR", raising=False)
    original = tmp_path / "original"
    synthetic.write_physionet2016(original, n_records=6, seed=3, n_test=2, duration_s=(1.0, 1.5),
                                  audio_format="wav")
    training = _zip(original, tmp_path / "t.zip", "training/", {"validation", "SHA256SUMS"})
    validation = _zip(original / "validation", tmp_path / "v.zip", "validation/", set())
    server.state["files"].update({"/training.zip": training, "/validation.zip": validation})
    monkeypatch.setattr(physionet2016, "SOURCES", [
        {**physionet2016.SOURCES[0], "url": f"{server.url}/training.zip", "sha256": sha(training)},
        {**physionet2016.SOURCES[1], "url": f"{server.url}/validation.zip"},
    ])
    use_pins_of(original, "physionet2016", tmp_path / "pins", monkeypatch)
    return tmp_path / "data" / "physionet2016", tmp_path / "data" / ".physionet2016-downloads"


def _flip_byte(data: bytes) -> bytes:
    """``data`` (a stored zip) with one byte of its first file's content changed."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        m = next(m for m in zf.infolist() if not m.is_dir() and m.file_size > 8)
    pos = m.header_offset + 30 + len(m.filename.encode()) + len(m.extra) + 5
    return data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1:]


def _fetched(server, since: int) -> list[str]:
    return [p for p, _, _ in server.state["log"][since:]]


def test_verified_archives_are_recorded_and_a_changed_one_is_fetched_again(url_dataset, server, caplog):
    dest, downloads = url_dataset
    acquire("physionet2016", dest, progress=False)
    for name in ("training.zip", "validation.zip"):
        digest, recorded_name = (downloads / f"{name}.sha256").read_text().split()
        assert digest == sha((downloads / name).read_bytes()) and recorded_name == name
    # the cached validation.zip (no published sha256) rots on disk, the copy is redone
    (downloads / "validation.zip").write_bytes(_flip_byte((downloads / "validation.zip").read_bytes()))
    n = len(server.state["log"])
    with caplog.at_level("WARNING", logger="auscult.datasets"):
        acquire("physionet2016", dest, progress=False, force=True)
    assert _fetched(server, n) == ["/validation.zip"]
    (line,) = [r.getMessage() for r in caplog.records]
    assert str(downloads / "validation.zip") in line and "downloading it again" in line
    assert verify_sha256sums(dest) > 0


@pytest.mark.parametrize("damage", ["junk", "truncated", "bad_crc"])
def test_a_cached_archive_that_fails_to_extract_is_deleted_and_fetched_again(url_dataset, server, damage):
    dest, downloads = url_dataset
    good = server.state["files"]["/validation.zip"]
    bad = {"junk": b"<html>not a zip</html>", "truncated": good[: len(good) // 2],
           "bad_crc": _flip_byte(good)}[damage]
    downloads.mkdir(parents=True)
    (downloads / "validation.zip").write_bytes(bad)  # an earlier run's download, never verified
    with pytest.raises(DownloadError) as e:
        acquire("physionet2016", dest, progress=False)
    assert str(downloads / "validation.zip") in str(e.value) and "deleted" in str(e.value)
    assert len(str(e.value).splitlines()) == 1
    assert not (downloads / "validation.zip").exists() and not dest.exists()
    n = len(server.state["log"])
    acquire("physionet2016", dest, progress=False)
    assert _fetched(server, n) == ["/validation.zip"]
    assert (downloads / "validation.zip").read_bytes() == good


# --------------------------------------------------------------------------- symbolic links


def test_mirror_links_out_of_the_folder_are_refused_by_name(fake_mirror, tmp_path, monkeypatch):
    monkeypatch.delenv("AUSCULT_FOLLOW_SYMLINKS", raising=False)
    folder = fake_mirror / "pascal"
    link = folder / "set_a" / "link.flac"
    link.symlink_to(sorted((folder / "set_b").glob("*.flac"))[0])  # a link within the folder is fine
    assert link in source_files(folder)
    link.unlink()
    victim = sorted((folder / "set_a").glob("*.flac"))[0]
    outside = tmp_path / "elsewhere" / "secret.flac"
    outside.parent.mkdir()
    outside.write_bytes(victim.read_bytes())
    victim.unlink()
    victim.symlink_to(outside)
    with pytest.raises(LinkError) as e:
        acquire("pascal", tmp_path / "data" / "pascal", mirror=fake_mirror, progress=False)
    msg = str(e.value)
    assert msg.startswith(f"{victim}: symbolic link out of {folder}; refused")
    assert "AUSCULT_FOLLOW_SYMLINKS=1" in msg and "secret" not in msg and sha(outside.read_bytes()) not in msg
    assert not (tmp_path / "data" / "pascal").exists()

    monkeypatch.setenv("AUSCULT_FOLLOW_SYMLINKS", "1")
    acquire("pascal", tmp_path / "data" / "pascal", mirror=fake_mirror, progress=False)
    # followed on request, but a mismatch never shows the hash of what the link points to
    outside.write_bytes(outside.read_bytes()[:-4] + b"\x01\x02\x03\x04")
    with pytest.raises(ChecksumError) as e:
        acquire("pascal", tmp_path / "data" / "pascal2", mirror=fake_mirror, progress=False)
    assert str(victim) in str(e.value) and sha(outside.read_bytes()) not in str(e.value)


def test_link_loops_are_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("AUSCULT_FOLLOW_SYMLINKS", raising=False)
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "root" / "sub" / "a.txt").write_text("a")
    (tmp_path / "root" / "sub" / "up").symlink_to(tmp_path / "root")
    assert source_files(tmp_path / "root") == [tmp_path / "root" / "sub" / "a.txt"]


# --------------------------------------------------------------------------- real mirror


@pytest.mark.mirror
def test_verify_a_few_real_files(mirror_root):
    root = mirror_root / "physionet2016"
    names = ["training-a/REFERENCE.csv", "./training-c/c0001.flac", "validation/REFERENCE.csv"]
    assert verify_sha256sums(root, only=names) == 3


@pytest.mark.mirror
def test_acquire_pascal_from_the_real_mirror(mirror_root, tmp_path):
    dest = acquire("pascal", tmp_path / "pascal", mirror=mirror_root, progress=False)
    record = json.loads((dest / "ACQUIRED.json").read_text())
    assert record["source"] == "mirror" and record["n_files"] == 585 + 3
    assert record["sha256sums_sha256"] == sha((mirror_root / "pascal" / "SHA256SUMS").read_bytes())
    assert len(pascal.build_manifest(dest, hash_audio=False)) == 585
