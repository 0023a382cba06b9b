"""Pinned weights: AST at a Hugging Face revision with its sha256, CNN14 with Zenodo's md5,
torchvision's hash-in-filename; each check exercised on locally created files."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from auscult.models import weights as W


def test_ast_is_pinned_to_a_revision_never_main():
    for name in ("ast_audioset", "ast_audioset_config"):
        spec = W.WEIGHTS[name]
        assert "resolve/main" not in spec.url
        assert spec.revision == W.AST_REVISION and f"/resolve/{W.AST_REVISION}/" in spec.url
        assert len(W.AST_REVISION) == 40 and int(W.AST_REVISION, 16) >= 0
    assert len(W.WEIGHTS["ast_audioset"].sha256) == 64


def test_cnn14_has_its_published_md5():
    assert W.WEIGHTS["cnn14"].md5 == "541141fa2ee191a88f24a3219fff024e"


def _spec(**kw):
    return dataclasses.replace(W.WEIGHTS["resnet18"], min_bytes=0, **kw)


def test_md5_sha256_and_hash_prefix_are_checked(tmp_path):
    data = b"pretend checkpoint bytes" * 100
    f = tmp_path / "ckpt.pth"
    f.write_bytes(data)
    sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    # torchvision convention: the name carries the first 8 hex digits of the sha256
    assert W.verify_file(f, _spec(hash_prefix=sha[:8])) == sha
    with pytest.raises(W.WeightsChecksumError, match="does not start with"):
        W.verify_file(f, _spec(hash_prefix="deadbeef"))
    assert W.verify_file(f, _spec(hash_prefix=None, sha256=sha)) == sha
    with pytest.raises(W.WeightsChecksumError, match="sha256 mismatch"):
        W.verify_file(f, _spec(hash_prefix=None, sha256="0" * 64))
    assert W.verify_file(f, _spec(hash_prefix=None, md5=md5)) == sha
    with pytest.raises(W.WeightsChecksumError, match="md5 mismatch"):
        W.verify_file(f, _spec(hash_prefix=None, md5="0" * 32))


def test_a_wrong_local_cnn14_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(W.WEIGHTS_ENV, str(tmp_path))
    monkeypatch.setitem(W.WEIGHTS, "cnn14", dataclasses.replace(W.WEIGHTS["cnn14"], min_bytes=10))
    (tmp_path / "Cnn14_mAP=0.431.pth").write_bytes(b"not the published file" * 10)
    with pytest.raises(W.WeightsChecksumError, match="md5 mismatch.*published"):
        W.resolve_weights("cnn14", download=False)
