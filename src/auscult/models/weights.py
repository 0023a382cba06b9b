"""Pretrained weights of every model that starts from a published checkpoint: find, fetch,
verify, load. Used by the Koike models (PANNs CNN14, the torchvision ImageNet CNNs, WSL ResNeXt)
and AST+SAM's Audio Spectrogram Transformer (``ast_audioset`` and its ``config.json``,
fetched through :func:`resolve_weights` by :mod:`auscult.models.ast`).

Weights are machine state, never parameters: no path appears in a config. A model names its
checkpoint (``model.weights_name``, a key of :data:`WEIGHTS`), and
:func:`resolve_weights` looks for the canonical file name in the folder named by
``$AUSCULT_WEIGHTS_DIR`` (default ``$XDG_CACHE_HOME/auscult/weights``, i.e.
``~/.cache/auscult/weights``). If the file is not there it is downloaded from its canonical
URL into that folder, unless downloads are off (``download=False`` or
``$AUSCULT_WEIGHTS_OFFLINE=1``). When neither works the answer is ``status='scratch'``
with the reason; whether a scratch model is acceptable is the caller's decision, and the
tables must say so.

Checks (a failed check raises :class:`WeightsChecksumError`; it never falls back to
scratch, since a corrupt or wrong file is an error, not a missing one):

- torchvision files embed the first 8 hex digits of their sha256 in the name
  (``resnet18-f37072fd.pth``; torchvision loads them with ``check_hash=True``): the digest
  must start with that prefix, for a local file as for a download; where a full sha256 of
  such a file is pinned (``_tv(..., sha256=...)``) it is checked as well;
- a full ``sha256`` where one is known: the AST ``model.safetensors`` at the pinned Hugging
  Face revision (``WeightSpec.revision``: the download URL names that commit, never
  ``resolve/main``, so the file cannot change under the same name);
- the ``md5`` Zenodo publishes for the PANNs CNN14 checkpoint (record 3987831);
- a minimum size (a truncated file is refused early); the WSL file's name suffix
  (``-c38310e5``) is not known to be a sha256 prefix (the WSL hub loader never checks it),
  so it gets only the size check. The full sha256 of every file used is returned for
  provenance.

Where the pins come from (no network here, so they could not be re-fetched): the CNN14 md5
is the one Zenodo lists for ``Cnn14_mAP=0.431.pth``; the AST revision
``f826b80d28226b62986cc218e5cec390b1096902`` and the safetensors sha256 ``ae0c1e2a…`` (346
404 948 bytes) are the values many public projects pin for
``MIT/ast-finetuned-audioset-10-10-0.4593``. ``config.json`` is pinned by the revision
only (no independently confirmed sha256).

A download streams into a temporary sibling (:func:`auscult.atomic.atomic_path`), is
verified there and only then renamed to the canonical name, so a half-downloaded or
wrong file is never found later. (No resume: ``auscult.datasets.acquire.download`` has
one, but importing it pulls in soundfile/soxr, which the GPU machines lack.) An https URL
redirected to http is refused (:class:`WeightsError`, not scratch), and a download stops
at :data:`MAX_WEIGHT_BYTES`.

Loading reads the file once into memory, checks that its sha256 is the one
:func:`resolve_weights` verified (``WeightsInfo.sha256``) and unpickles those same bytes
with ``torch.load(weights_only=True)``: the file cannot change between its check and its
use. Files that pickle numpy objects next to the tensors (the PANNs CNN14 checkpoint;
``pickle_fallback``) are loaded with numpy's array, scalar and dtype types allowed, and
nothing else.

:func:`load_pretrained` loads a checkpoint into ``model.weights_target`` with a strict key
and shape check (the error lists the first few offending keys), ignoring the checkpoint's
classifier (``model.weights_ignore``), summing an RGB first-conv kernel to one channel
(``model.weights_first_conv``) and, for CNN14 with ``drop_frontend=True``, dropping the
checkpoint's STFT/mel tensors (``model.weights_frontend``) so the model keeps its own
(2 kHz) front end. With ``drop_frontend=False`` the checkpoint's front end must equal the
model's (same shapes and, within float tolerance, values), otherwise the error says to
pass ``drop_frontend=True``: use ``drop_frontend=not model.frontend_is_canonical``.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from auscult.atomic import atomic_path
from auscult.httpsafe import InsecureRedirectError, urlopen

from .imagenet import sum_rgb_kernel

__all__ = [
    "LoadReport",
    "WEIGHTS",
    "WEIGHTS_ENV",
    "OFFLINE_ENV",
    "WeightSpec",
    "WeightsChecksumError",
    "WeightsError",
    "WeightsInfo",
    "WeightsMismatchError",
    "load_pretrained",
    "load_state_dict_into",
    "read_state_dict",
    "resolve_weights",
    "verify_file",
    "weights_dir",
]

WEIGHTS_ENV = "AUSCULT_WEIGHTS_DIR"
OFFLINE_ENV = "AUSCULT_WEIGHTS_OFFLINE"
STATUSES = ("pretrained", "scratch")
_CHUNK = 1 << 20
MAX_WEIGHT_BYTES = 4 << 30  # the largest canonical file (VGG19) is about 0.55 GB
_USER_AGENT = "auscult-weights/0.1"
_SHOW_KEYS = 5


class WeightsError(ValueError):
    """Pretrained weights cannot be used; the message names the file or model and why."""


class WeightsChecksumError(WeightsError):
    """A weight file fails its size, hash-prefix or sha256 check."""


class WeightsMismatchError(WeightsError):
    """A checkpoint's keys or shapes do not fit the model."""


@dataclass(frozen=True)
class WeightSpec:
    """Where a canonical checkpoint lives and how to recognise it."""

    name: str
    file_name: str
    url: str
    sha256: str | None = None  # full hex digest, where one is published
    md5: str | None = None  # the digest some hosts publish instead (Zenodo)
    revision: str | None = None  # Hugging Face commit the URL is pinned to
    hash_prefix: str | None = None  # torch.hub naming convention: name-<sha256 prefix>.ext
    min_bytes: int = 0
    layout: str = "torchvision"  # 'torchvision' (plain sd) | 'panns' ({'model': sd}) | 'safetensors' | 'json'
    pickle_fallback: bool = False  # numpy types allowed when unpickling this trusted file
    origin: str = ""
    license: str = ""


def _tv(name: str, file_name: str, n_params: int, origin: str, sha256: str | None = None) -> WeightSpec:
    """A torchvision file: its name's hash prefix is checked, and a full ``sha256`` where
    one is pinned."""
    prefix = file_name.rsplit("-", 1)[1].split(".", 1)[0]
    if sha256 is not None and not sha256.lower().startswith(prefix):
        raise ValueError(f"{file_name}: pinned sha256 {sha256} does not start with the name's prefix {prefix}")
    return WeightSpec(
        name=name,
        file_name=file_name,
        url=f"https://download.pytorch.org/models/{file_name}",
        sha256=sha256,
        hash_prefix=prefix,
        min_bytes=int(0.9 * 4 * n_params),
        origin=origin,
        license="BSD-3-Clause (torchvision)",
    )


# Hugging Face commit of MIT/ast-finetuned-audioset-10-10-0.4593 whose files are pinned.
AST_REVISION = "f826b80d28226b62986cc218e5cec390b1096902"

WEIGHTS: dict[str, WeightSpec] = {
    "cnn14": WeightSpec(
        name="cnn14",
        file_name="Cnn14_mAP=0.431.pth",
        url="https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1",
        md5="541141fa2ee191a88f24a3219fff024e",  # published by Zenodo record 3987831
        min_bytes=300_000_000,
        layout="panns",
        # The released file pickles numpy objects next to 'model' and fails a plain
        # torch.load(weights_only=True) (autrainer#66): numpy's types are allowed for it.
        pickle_fallback=True,
        origin="PANNs (Kong et al.), AudioSet, 32 kHz, mAP 0.431; Zenodo record 3987831",
        license="see Zenodo record 3987831",
    ),
    "vgg16": _tv("vgg16", "vgg16-397923af.pth", 138_357_544,
                 "torchvision VGG16_Weights.IMAGENET1K_V1"),
    "vgg19": _tv("vgg19", "vgg19-dcbb9e9d.pth", 143_667_240,
                 "torchvision VGG19_Weights.IMAGENET1K_V1"),
    "mobilenet_v2": _tv("mobilenet_v2", "mobilenet_v2-b0353104.pth", 3_504_872,
                        "torchvision MobileNet_V2_Weights.IMAGENET1K_V1"),
    "resnet18": _tv("resnet18", "resnet18-f37072fd.pth", 11_689_512,
                    "torchvision ResNet18_Weights.IMAGENET1K_V1"),
    "resnext50_32x4d": _tv("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth", 25_028_904,
                           "torchvision ResNeXt50_32X4D_Weights.IMAGENET1K_V1"),
    "resnext101_32x8d": _tv("resnext101_32x8d", "resnext101_32x8d-8ba56ff5.pth", 88_791_336,
                            "torchvision ResNeXt101_32X8D_Weights.IMAGENET1K_V1"),
    "resnext101_32x8d_wsl": WeightSpec(
        name="resnext101_32x8d_wsl",
        file_name="ig_resnext101_32x8-c38310e5.pth",
        url="https://download.pytorch.org/models/ig_resnext101_32x8-c38310e5.pth",
        min_bytes=int(0.9 * 4 * 88_791_336),
        origin="facebookresearch/WSL-Images resnext101_32x8d_wsl (IG-940M, IN-1k fine-tune) "
               "= timm resnext101_32x8d.fb_wsl_ig1b_ft_in1k",
        license="CC-BY-NC-4.0",
    ),
    # AST (paper P3): the Hugging Face checkpoint, kept in its hub layout (a folder with
    # config.json + model.safetensors) under the weights folder, pinned to one revision.
    "ast_audioset": WeightSpec(
        name="ast_audioset",
        file_name="MIT/ast-finetuned-audioset-10-10-0.4593/model.safetensors",
        url=f"https://huggingface.co/MIT/ast-finetuned-audioset-10-10-0.4593/resolve/{AST_REVISION}/model.safetensors",
        sha256="ae0c1e2ad4e1381d851fa9bf298ba13ebc9c5a914cdee2dbe427a6583869924d",
        revision=AST_REVISION,
        min_bytes=300_000_000,
        layout="safetensors",
        origin="AST (Gong et al. 2021) audioset_10_10_0.4593, converted by Hugging Face "
               "(ASTForAudioClassification, MIT/ast-finetuned-audioset-10-10-0.4593)",
        license="BSD-3-Clause (YuanGongND/ast)",
    ),
    "ast_audioset_config": WeightSpec(
        name="ast_audioset_config",
        file_name="MIT/ast-finetuned-audioset-10-10-0.4593/config.json",
        url=f"https://huggingface.co/MIT/ast-finetuned-audioset-10-10-0.4593/resolve/{AST_REVISION}/config.json",
        revision=AST_REVISION,
        min_bytes=100,
        layout="json",
        origin="config.json of MIT/ast-finetuned-audioset-10-10-0.4593",
        license="BSD-3-Clause (YuanGongND/ast)",
    ),
}


@dataclass(frozen=True)
class WeightsInfo:
    """The outcome of :func:`resolve_weights` (JSON-able via :meth:`as_dict`)."""

    path: Path | None
    status: str  # 'pretrained' | 'scratch'
    source: str  # 'local:<path>' | 'url:<url>' | 'none'
    sha256: str | None
    name: str = ""
    reason: str = ""  # why 'scratch'; empty when pretrained

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"WeightsInfo.status must be one of {STATUSES}, got {self.status!r}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["path"] = None if self.path is None else str(self.path)
        return d


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did (for provenance)."""

    source: str
    loaded: int  # tensors copied from the checkpoint
    ignored: list[str] = field(default_factory=list)  # checkpoint keys replaced (classifier)
    frontend_dropped: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)  # first conv summed RGB -> 1 channel
    filled: list[str] = field(default_factory=list)  # absent BN counters kept from the model

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- resolve
def weights_dir() -> Path:
    """``$AUSCULT_WEIGHTS_DIR``, else ``$XDG_CACHE_HOME/auscult/weights`` (~/.cache/...)."""
    value = os.environ.get(WEIGHTS_ENV)
    if value:
        path = Path(value).expanduser()
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{WEIGHTS_ENV}={value}: not a directory")
        return path
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "auscult" / "weights"


def _spec(name: str) -> WeightSpec:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise ValueError(f"unknown weights {name!r}; known: {sorted(WEIGHTS)}") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, spec: WeightSpec, *, label: str | None = None) -> str:
    """Check ``path`` against ``spec`` (size, hash prefix, sha256); return its sha256."""
    path = Path(path)
    label = label or str(path)
    size = path.stat().st_size
    if size < spec.min_bytes:
        raise WeightsChecksumError(
            f"{label}: {size} bytes, expected at least {spec.min_bytes} for {spec.file_name} "
            f"(truncated or not the checkpoint)"
        )
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:  # one read for both digests
        while block := f.read(_CHUNK):
            sha.update(block)
            md5.update(block)
    digest = sha.hexdigest()
    if spec.hash_prefix and not digest.startswith(spec.hash_prefix.lower()):
        raise WeightsChecksumError(
            f"{label}: sha256 {digest} does not start with {spec.hash_prefix}, the hash "
            f"prefix in the canonical name {spec.file_name}"
        )
    if spec.sha256 and digest != spec.sha256.lower():
        raise WeightsChecksumError(f"{label}: sha256 mismatch: expected {spec.sha256}, got {digest}")
    if spec.md5 and md5.hexdigest() != spec.md5.lower():
        raise WeightsChecksumError(f"{label}: md5 mismatch: expected {spec.md5} (published), "
                                   f"got {md5.hexdigest()}")
    return digest


def _fetch(url: str, out: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urlopen(request, timeout=timeout) as response, open(out, "wb") as f:
        length = response.headers.get("Content-Length")
        if length is not None and int(length) > MAX_WEIGHT_BYTES:
            raise WeightsError(f"{url}: announces {length} bytes, more than MAX_WEIGHT_BYTES ({MAX_WEIGHT_BYTES})")
        received = 0
        while block := response.read(_CHUNK):
            f.write(block)
            received += len(block)
            if received > MAX_WEIGHT_BYTES:
                raise WeightsError(f"{url}: more than MAX_WEIGHT_BYTES ({MAX_WEIGHT_BYTES}), stopped")
    if length is not None and received < int(length):
        raise ConnectionError(f"connection closed after {received} of {length} bytes")


def _download(spec: WeightSpec, dest: Path, *, timeout: float, retries: int) -> tuple[str | None, str]:
    """Download ``spec.url`` to ``dest``; return (sha256, '') or (None, reason).

    Network failures give a reason (the caller falls back to scratch); a file that arrives
    but fails verification raises :class:`WeightsChecksumError`, a refused redirect or size
    :class:`WeightsError`.
    """
    error = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(2.0**attempt, 30.0))
        try:
            with atomic_path(dest, suffix=".part") as tmp:
                _fetch(spec.url, tmp, timeout)
                digest = verify_file(tmp, spec, label=f"{spec.url} -> {dest}")
            return digest, ""
        except InsecureRedirectError as e:
            raise WeightsError(str(e)) from None
        except urllib.error.HTTPError as e:
            error = f"HTTP {e.code} {e.reason}"
            if e.code < 500:
                break
        except urllib.error.URLError as e:
            error = f"{e.reason}"
        except (ConnectionError, TimeoutError, http.client.HTTPException, OSError) as e:
            error = f"{type(e).__name__}: {e}"
    return None, f"{spec.url}: {error}"


def resolve_weights(
    name: str,
    *,
    download: bool | None = None,
    timeout: float = 30.0,
    retries: int = 1,
) -> WeightsInfo:
    """Find (or fetch) the canonical checkpoint ``name`` (a key of :data:`WEIGHTS`).

    1. ``weights_dir() / file_name`` exists: verify it -> ``pretrained``, source ``local:``.
    2. else, when downloads are allowed (``download`` True, or None and
       ``$AUSCULT_WEIGHTS_OFFLINE`` not set to 1): fetch the URL into that folder, verify
       -> ``pretrained``, source ``url:``.
    3. else ``scratch`` with ``path=None`` and the reason.

    Raises :class:`WeightsChecksumError` for a file that exists or arrives but is wrong.
    """
    spec = _spec(name)
    folder = weights_dir()
    local = folder / spec.file_name
    if local.is_file():
        digest = verify_file(local, spec)
        return WeightsInfo(local, "pretrained", f"local:{local}", digest, name=name)
    if download is None:
        download = os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("1", "true", "yes")
    if not download:
        return WeightsInfo(None, "scratch", "none", None, name=name,
                           reason=f"{local} not found; downloads disabled")
    digest, reason = _download(spec, local, timeout=timeout, retries=retries)
    if digest is None:
        return WeightsInfo(None, "scratch", "none", None, name=name,
                           reason=f"{local} not found; download failed: {reason}")
    return WeightsInfo(local, "pretrained", f"url:{spec.url}", digest, name=name)


# --------------------------------------------------------------------------- load
def read_state_dict(path: str | os.PathLike, *, pickle_fallback: bool = False,
                    sha256: str | None = None) -> dict[str, Tensor]:
    """A checkpoint's tensors: a plain state_dict, ``{'model': sd}`` (PANNs) or
    ``{'state_dict': sd}``; a common ``module.`` prefix (DataParallel) is removed.

    The file is read once; with ``sha256`` those bytes must have that digest (the one
    verified when the file was resolved) and are what is unpickled, with
    ``weights_only=True``. ``pickle_fallback`` (trusted canonical files) allows numpy's
    array, scalar and dtype types as well, never arbitrary globals.
    """
    path = Path(path)
    data = path.read_bytes()
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            raise WeightsChecksumError(f"{path}: changed since it was verified (sha256 {actual}, "
                                       f"verified {sha256})")
    obj = _unpickle(path, data, pickle_fallback)
    for key in ("model", "state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{path}: no state_dict found (got {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise WeightsError(f"{path}: entries that are not tensors: {bad[:_SHOW_KEYS]}")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _unpickle(path: Path, data: bytes, numpy_types: bool):
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError, EOFError, struct.error, ...
        error = e
    if numpy_types:
        try:
            with torch.serialization.safe_globals(_numpy_types()):
                return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as e:  # as above
            error = e
    raise WeightsError(f"{path}: not a loadable torch checkpoint ({_reason(error)})") from None


def _numpy_types() -> list:
    """numpy's array, scalar and dtype types, under the names pickles of numpy 1 and 2 use."""
    import numpy as np

    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    types: list = [np.dtype, np.ndarray]
    types += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    for fn in ("_reconstruct", "scalar"):
        types += [(getattr(core, fn), f"{mod}.{fn}") for mod in ("numpy.core.multiarray", "numpy._core.multiarray")]
    return types


def _reason(e: Exception) -> str:
    """One line of torch's many-line unpickling message: the line saying what was refused."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Can only build" in line or "Unsupported" in line:
            return line[:300]
    return (lines[-1] if lines else type(e).__name__)[:300]


def _show(items: list) -> str:
    more = f" ... (+{len(items) - _SHOW_KEYS} more)" if len(items) > _SHOW_KEYS else ""
    return f"{items[:_SHOW_KEYS]}{more}"


def load_state_dict_into(
    target: nn.Module,
    state: Mapping[str, Tensor],
    *,
    ignore: tuple[str, ...] = (),
    first_conv: str | None = None,
    frontend: tuple[str, ...] = (),
    drop_frontend: bool = False,
    source: str = "<state_dict>",
) -> LoadReport:
    """Strictly load ``state`` into ``target`` after the documented adaptations.

    Raises :class:`WeightsMismatchError` listing missing, unexpected and mis-shaped keys
    (first few of each), or a front end that differs from the model's.
    """
    expected = target.state_dict()
    src = dict(state)
    report = LoadReport(source=source, loaded=0)
    for k in sorted(src):
        if ignore and k.startswith(ignore):
            report.ignored.append(k)
            del src[k]
    front_src = sorted(k for k in src if frontend and k.startswith(frontend))
    if drop_frontend:
        for k in front_src:
            del src[k]
        report.frontend_dropped = front_src
    else:
        bad = []
        for k in front_src:
            if k in expected:
                a, b = src[k].float(), expected[k].float()
                if a.shape != b.shape:
                    bad.append(f"{k}: checkpoint {tuple(a.shape)} vs model {tuple(b.shape)}")
                elif (a - b).abs().max() > 1e-3 * b.abs().max() + 1e-6:
                    bad.append(f"{k}: values differ (another sample rate / mel range)")
        if bad:
            raise WeightsMismatchError(
                f"{source}: the checkpoint's DSP front end differs from the model's: "
                f"{_show(bad)}; pass drop_frontend=True to keep the model's own front end"
            )
    if first_conv and first_conv in src and first_conv in expected:
        w, want = src[first_conv], expected[first_conv]
        if w.dim() == 4 and w.shape[1] == 3 and want.shape[1] == 1:
            src[first_conv] = sum_rgb_kernel(w)
            report.adapted.append(first_conv)
    missing = [
        k for k in expected
        if k not in src and not (drop_frontend and frontend and k.startswith(frontend))
    ]
    # Checkpoints saved before torch 0.4.1 have no BN 'num_batches_tracked' counters.
    report.filled = [k for k in missing if k.endswith("num_batches_tracked")]
    missing = [k for k in missing if k not in report.filled]
    unexpected = [k for k in src if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(src[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in src if k in expected and src[k].shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) {_show(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) {_show(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es) {_show(shapes)}")
        raise WeightsMismatchError(f"{source}: checkpoint does not fit the model: " + "; ".join(parts))
    merged = dict(expected)
    merged.update(src)
    target.load_state_dict(merged, strict=True)
    report.loaded = len(src)
    return report


def load_pretrained(model: nn.Module, info: WeightsInfo, *, drop_frontend: bool) -> LoadReport:
    """Load the checkpoint of ``info`` into ``model`` (a CNN14 or ImageNet model).

    ``drop_frontend``: drop the checkpoint's DSP front end (CNN14 whose sample rate/window
    differs from the released 32 kHz one); no effect on models without a front end.
    """
    if info.status != "pretrained" or info.path is None:
        raise WeightsError(
            f"no pretrained weights to load for {info.name or 'this model'} "
            f"(status {info.status!r}: {info.reason or 'no path'})"
        )
    for attr in ("weights_name", "weights_target", "weights_ignore", "weights_first_conv",
                 "weights_frontend"):
        if not hasattr(model, attr):
            raise TypeError(f"{type(model).__name__} does not support pretrained weights "
                            f"(no attribute {attr!r})")
    if info.name and info.name != model.weights_name:
        raise WeightsError(
            f"weights {info.name!r} do not belong to this model, which uses "
            f"{model.weights_name!r}"
        )
    spec = WEIGHTS.get(model.weights_name)
    state = read_state_dict(info.path, pickle_fallback=bool(spec and spec.pickle_fallback), sha256=info.sha256)
    return load_state_dict_into(
        model.weights_target,
        state,
        ignore=tuple(model.weights_ignore),
        first_conv=model.weights_first_conv,
        frontend=tuple(model.weights_frontend),
        drop_frontend=bool(drop_frontend) and bool(model.weights_frontend),
        source=str(info.path),
    )
