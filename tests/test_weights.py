"""Pretrained-weight resolution (local folder, canonical URL, scratch) and loading.

Downloads go to a throw-away HTTP server on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import socket
import threading
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from auscult.models import build_model
from auscult.models import weights as W
from auscult.models.weights import (
    WeightsChecksumError,
    WeightsError,
    WeightsInfo,
    WeightsMismatchError,
    load_pretrained,
    read_state_dict,
    resolve_weights,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread

RESNET18 = {"arch": "imagenet", "name": "resnet18", "input": "logmel", "input_norm": "batchnorm",
            "dropout": 0.5}


@pytest.fixture(autouse=True)
def weights_folder(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    monkeypatch.setenv(W.WEIGHTS_ENV, str(folder))
    monkeypatch.delenv(W.OFFLINE_ENV, raising=False)
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """(folder served, base URL) of an HTTP server on 127.0.0.1."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _tiny_checkpoint(path) -> str:
    """A small torchvision-style state_dict; returns its sha256."""
    torch.manual_seed(0)
    torch.save(nn.Linear(4, 3).state_dict(), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spec(monkeypatch, name: str, **fields) -> W.WeightSpec:
    spec = W.WeightSpec(name=name, **fields)
    monkeypatch.setitem(W.WEIGHTS, name, spec)
    return spec


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- registry
def test_registry_matches_torchvision_metadata():
    import torchvision.models as tvm

    enums = {"vgg16": tvm.VGG16_Weights, "vgg19": tvm.VGG19_Weights,
             "mobilenet_v2": tvm.MobileNet_V2_Weights, "resnet18": tvm.ResNet18_Weights,
             "resnext50_32x4d": tvm.ResNeXt50_32X4D_Weights,
             "resnext101_32x8d": tvm.ResNeXt101_32X8D_Weights}
    for name, enum in enums.items():
        spec, v1 = W.WEIGHTS[name], enum.IMAGENET1K_V1
        assert spec.url == v1.url and v1.url.endswith(spec.file_name)
        assert spec.file_name.split("-")[-1].startswith(spec.hash_prefix) and len(spec.hash_prefix) == 8
        assert spec.min_bytes < 4 * v1.meta["num_params"]
    cnn14 = W.WEIGHTS["cnn14"]
    assert cnn14.file_name == "Cnn14_mAP=0.431.pth" and "3987831" in cnn14.url
    assert cnn14.min_bytes == 300_000_000 and cnn14.hash_prefix is None
    wsl = W.WEIGHTS["resnext101_32x8d_wsl"]
    assert wsl.url.endswith("ig_resnext101_32x8-c38310e5.pth") and wsl.license == "CC-BY-NC-4.0"
    from auscult.models.imagenet import NAMES

    assert set(W.WEIGHTS) == set(NAMES) | {"cnn14", "ast_audioset", "ast_audioset_config"}


# --------------------------------------------------------------------------- resolve
def test_local_file_in_weights_dir(monkeypatch, weights_folder):
    weights_folder.mkdir()
    digest = _tiny_checkpoint(weights_folder / "tmp.pth")
    name = f"tiny-{digest[:8]}.pth"
    (weights_folder / "tmp.pth").rename(weights_folder / name)
    _spec(monkeypatch, "tiny", file_name=name, url="http://127.0.0.1:9/never", hash_prefix=digest[:8])
    info = resolve_weights("tiny", download=False)
    assert info.status == "pretrained" and info.path == weights_folder / name
    assert info.source == f"local:{weights_folder / name}" and info.sha256 == digest
    assert info.as_dict()["path"] == str(weights_folder / name)


def test_corrupt_local_file_is_an_error_not_scratch(monkeypatch, weights_folder):
    weights_folder.mkdir()
    (weights_folder / "tiny-00000000.pth").write_bytes(b"not the checkpoint")
    _spec(monkeypatch, "tiny", file_name="tiny-00000000.pth", url="http://127.0.0.1:9/x",
          hash_prefix="00000000")
    with pytest.raises(WeightsChecksumError, match="does not start with 00000000"):
        resolve_weights("tiny", download=False)
    _spec(monkeypatch, "tiny", file_name="tiny-00000000.pth", url="http://127.0.0.1:9/x",
          min_bytes=1000)
    with pytest.raises(WeightsChecksumError, match="at least 1000"):
        resolve_weights("tiny", download=False)


def test_download_from_the_canonical_url(monkeypatch, server, weights_folder):
    root, base = server
    digest = _tiny_checkpoint(root / "x.pth")
    name = f"tiny-{digest[:8]}.pth"
    (root / "x.pth").rename(root / name)
    _spec(monkeypatch, "tiny", file_name=name, url=f"{base}/{name}", hash_prefix=digest[:8],
          sha256=digest)
    info = resolve_weights("tiny")
    assert info.status == "pretrained" and info.source == f"url:{base}/{name}"
    assert info.path == weights_folder / name and info.sha256 == digest
    assert sorted(p.name for p in weights_folder.iterdir()) == [name]  # no temporaries left
    again = resolve_weights("tiny", download=False)
    assert again.source.startswith("local:") and again.sha256 == digest


def test_download_checksum_mismatch_is_a_clear_error(monkeypatch, server, weights_folder):
    root, base = server
    _tiny_checkpoint(root / "tiny-deadbeef.pth")  # its sha256 does not start with deadbeef
    _spec(monkeypatch, "tiny", file_name="tiny-deadbeef.pth", url=f"{base}/tiny-deadbeef.pth",
          hash_prefix="deadbeef")
    with pytest.raises(WeightsChecksumError, match=r"tiny-deadbeef\.pth.*deadbeef"):
        resolve_weights("tiny", retries=0)
    assert not weights_folder.exists() or not any(weights_folder.iterdir())
    _spec(monkeypatch, "tiny", file_name="tiny-deadbeef.pth", url=f"{base}/tiny-deadbeef.pth",
          sha256="0" * 64)
    with pytest.raises(WeightsChecksumError, match="sha256 mismatch"):
        resolve_weights("tiny", retries=0)
    assert not any(weights_folder.iterdir())


def test_unreachable_weights_mean_scratch(monkeypatch, server):
    _, base = server
    _spec(monkeypatch, "missing", file_name="missing.pth", url=f"{base}/missing.pth")
    info = resolve_weights("missing", retries=0)
    assert info.status == "scratch" and info.path is None and info.sha256 is None
    assert info.source == "none" and "404" in info.reason
    _spec(monkeypatch, "refused", file_name="r.pth",
          url=f"http://127.0.0.1:{_closed_port()}/r.pth")
    info = resolve_weights("refused", retries=0, timeout=5)
    assert info.status == "scratch" and "download failed" in info.reason


def test_offline_switch_skips_the_network(monkeypatch):
    _spec(monkeypatch, "far", file_name="far.pth", url="http://192.0.2.1/far.pth")  # TEST-NET
    monkeypatch.setenv(W.OFFLINE_ENV, "1")
    info = resolve_weights("far")
    assert info.status == "scratch" and "downloads disabled" in info.reason
    with pytest.raises(ValueError, match="unknown weights"):
        resolve_weights("nope")


def test_weights_dir_must_be_a_folder(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(W.WEIGHTS_ENV, str(tmp_path / "file"))
    with pytest.raises(NotADirectoryError, match=W.WEIGHTS_ENV):
        W.weights_dir()
    monkeypatch.delenv(W.WEIGHTS_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert W.weights_dir() == tmp_path / "cache" / "auscult" / "weights"


def test_weights_info_rejects_unknown_status():
    with pytest.raises(ValueError, match="status"):
        WeightsInfo(None, "maybe", "none", None)


# --------------------------------------------------------------------------- load
@pytest.fixture(scope="module")
def resnet18_model():
    torch.manual_seed(0)
    return build_model(RESNET18)


@pytest.fixture(scope="module")
def torchvision_resnet18_file(tmp_path_factory):
    """A torchvision-layout ResNet18 state_dict (random weights), saved as torchvision does."""
    import torchvision.models as tvm

    torch.manual_seed(1)
    sd = tvm.resnet18(weights=None).state_dict()
    path = tmp_path_factory.mktemp("tv") / "resnet18-f37072fd.pth"
    torch.save(sd, path)
    return path, sd


def _info(path, name="resnet18"):
    return WeightsInfo(path, "pretrained", f"local:{path}", None, name=name)


def test_load_torchvision_state_dict_file(resnet18_model, torchvision_resnet18_file):
    path, sd = torchvision_resnet18_file
    model = resnet18_model
    report = load_pretrained(model, _info(path), drop_frontend=False)
    assert report.ignored == ["fc.bias", "fc.weight"] and report.adapted == ["conv1.weight"]
    assert report.loaded == len(sd) - 2 and report.filled == []
    net = model.backbone.net
    assert torch.equal(net.conv1.weight, sd["conv1.weight"].sum(dim=1, keepdim=True))
    for key in ("layer1.0.conv1.weight", "layer4.1.bn2.running_var", "bn1.bias"):
        assert torch.equal(net.state_dict()[key], sd[key]), key
    # drop_frontend has no effect on a model without a DSP front end
    assert load_pretrained(model, _info(path), drop_frontend=True).loaded == report.loaded
    with torch.no_grad():
        assert model.eval()({"logmel": torch.randn(1, 64, 32)}).shape == (1,)


def test_old_checkpoints_without_bn_counters_load(resnet18_model, torchvision_resnet18_file,
                                                  tmp_path):
    _, sd = torchvision_resnet18_file
    old = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": {f"module.{k}": v for k, v in old.items()}}, tmp_path / "old.pth")
    report = load_pretrained(resnet18_model, _info(tmp_path / "old.pth"), drop_frontend=False)
    assert report.filled and all(k.endswith("num_batches_tracked") for k in report.filled)


def test_mismatched_checkpoints_fail_listing_keys(resnet18_model, torchvision_resnet18_file,
                                                  tmp_path):
    _, sd = torchvision_resnet18_file
    broken = dict(sd)
    del broken["layer2.0.conv1.weight"]
    broken["layer9.weight"] = torch.zeros(1)
    broken["layer3.0.conv2.weight"] = torch.zeros(256, 256, 1, 1)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(WeightsMismatchError) as err:
        load_pretrained(resnet18_model, _info(tmp_path / "broken.pth"), drop_frontend=False)
    msg = str(err.value)
    assert "1 missing key(s) ['layer2.0.conv1.weight']" in msg
    assert "1 unexpected key(s) ['layer9.weight']" in msg
    assert "layer3.0.conv2.weight: checkpoint (256, 256, 1, 1) vs model (256, 256, 3, 3)" in msg
    with pytest.raises(WeightsError, match="do not belong"):
        load_pretrained(resnet18_model, _info(tmp_path / "broken.pth", name="vgg16"),
                        drop_frontend=False)
    with pytest.raises(WeightsError, match="no pretrained weights"):
        load_pretrained(resnet18_model, WeightsInfo(None, "scratch", "none", None,
                                                    name="resnet18", reason="offline"),
                        drop_frontend=False)


def test_unpicklable_extras_need_the_trusted_fallback(tmp_path):
    # PANNs files pickle numpy objects next to 'model' and fail weights_only=True.
    sd = nn.Linear(2, 2).state_dict()
    torch.save({"model": sd, "sampler": np.arange(3)}, tmp_path / "panns.pth")
    with pytest.raises(WeightsError, match="not a loadable torch checkpoint"):
        read_state_dict(tmp_path / "panns.pth")
    got = read_state_dict(tmp_path / "panns.pth", pickle_fallback=True)
    assert set(got) == {"weight", "bias"}
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="junk.pth"):
        read_state_dict(tmp_path / "junk.pth", pickle_fallback=True)


class _Shell:
    """Pickles as a call of os.system: what a hostile checkpoint would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_trusted_fallback_allows_numpy_types_and_nothing_else(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model": nn.Linear(2, 2).state_dict(), "sampler": np.arange(3), "x": _Shell(marker)},
               tmp_path / "hostile.pth")
    with pytest.raises(WeightsError, match=r"hostile.pth: not a loadable torch checkpoint \(.*system"):
        read_state_dict(tmp_path / "hostile.pth", pickle_fallback=True)
    assert not marker.exists()


def test_loads_the_very_bytes_it_verified(monkeypatch, weights_folder, tmp_path):
    weights_folder.mkdir()
    digest = _tiny_checkpoint(weights_folder / "tmp.pth")
    name = f"tiny-{digest[:8]}.pth"
    (weights_folder / "tmp.pth").rename(weights_folder / name)
    _spec(monkeypatch, "tiny", file_name=name, url="http://127.0.0.1:9/never", hash_prefix=digest[:8])
    info = resolve_weights("tiny", download=False)
    seen = []
    real_load = torch.load

    def spy(f, *args, **kwargs):
        seen.append((type(f).__name__, kwargs.get("weights_only")))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    assert set(read_state_dict(info.path, sha256=info.sha256)) == {"weight", "bias"}
    assert seen == [("BytesIO", True)]  # unpickled from the buffer that was hashed, not reopened
    torch.save(nn.Linear(4, 3).state_dict(), tmp_path / "other.pth")  # swapped after verification
    (tmp_path / "other.pth").replace(info.path)
    with pytest.raises(WeightsChecksumError, match=f"{name}: changed since it was verified"):
        read_state_dict(info.path, sha256=info.sha256)


def test_torchvision_full_pin_is_checked_next_to_the_prefix(tmp_path):
    f = tmp_path / "net.pth"
    digest = _tiny_checkpoint(f)
    name = f"net-{digest[:8]}.pth"
    assert W.verify_file(f, W._tv("net", name, 1, "test")) == digest
    assert W.verify_file(f, W._tv("net", name, 1, "test", sha256=digest)) == digest
    wrong = digest[:8] + "0" * 56  # right prefix, wrong file
    with pytest.raises(WeightsChecksumError, match=f"net.pth: sha256 mismatch: expected {wrong}"):
        W.verify_file(f, W._tv("net", name, 1, "test", sha256=wrong))
    with pytest.raises(ValueError, match="does not start with the name's prefix"):
        W._tv("net", name, 1, "test", sha256="f" * 64)


def test_https_to_http_redirect_and_oversized_download_are_errors(monkeypatch, server, weights_folder):
    from auscult import httpsafe

    class _Redirected:
        def open(self, request, timeout):
            raise httpsafe.InsecureRedirectError(f"{request.full_url}: HTTP 302 redirect to "
                                                 "http://mirror.example/x.pth refused")

    _spec(monkeypatch, "tls", file_name="x.pth", url="https://weights.example/x.pth")
    monkeypatch.setattr(httpsafe, "_OPENER", _Redirected())
    with pytest.raises(WeightsError, match="https://weights.example/x.pth: HTTP 302 redirect to http://"):
        resolve_weights("tls", retries=0)
    monkeypatch.undo()
    monkeypatch.setenv(W.WEIGHTS_ENV, str(weights_folder))
    root, base = server
    _tiny_checkpoint(root / "big.pth")
    _spec(monkeypatch, "big", file_name="big.pth", url=f"{base}/big.pth")
    monkeypatch.setattr(W, "MAX_WEIGHT_BYTES", 100)
    with pytest.raises(WeightsError, match="big.pth: announces .* bytes, more than MAX_WEIGHT_BYTES"):
        resolve_weights("big", retries=0)
    assert not any(weights_folder.iterdir())


def test_spec_fields_are_complete():
    for spec in W.WEIGHTS.values():
        assert spec.url.startswith("https://") and spec.origin and spec.license
        assert dataclasses.asdict(spec)["file_name"] == spec.file_name
