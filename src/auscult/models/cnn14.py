"""PANNs CNN14 (Kong et al. 2020) with a binary head, for Koike et al. 2020 (paper P2).

Reimplemented from the authors' PANNs code (``models.py``, ``Cnn14``) in plain torch (no torchlibrosa,
no librosa) so that training runs without the audio stack. The backbone's ``state_dict``
uses the key names of the authors' checkpoint ``Cnn14_mAP=0.431.pth`` (``{'model': sd}``)::

    spectrogram_extractor.stft.conv_real.weight  [n_fft//2+1, 1, n_fft]   (DSP, frozen)
    spectrogram_extractor.stft.conv_imag.weight  [n_fft//2+1, 1, n_fft]   (DSP, frozen)
    logmel_extractor.melW                        [n_fft//2+1, mel_bins]   (DSP, frozen)
    bn0.{weight,bias,running_mean,running_var,num_batches_tracked}        (mel_bins)
    conv_block{1..6}.{conv1.weight, conv2.weight, bn1.*, bn2.*}
    fc1.{weight,bias}                            [2048, 2048]
    fc_audioset.{weight,bias}                    [527, 2048]   (checkpoint only: replaced)

so ``model.backbone.load_state_dict(ckpt['model'] minus fc_audioset.*)`` is strict. The
three DSP tensors are *buffers* here (frozen ``nn.Parameter`` in torchlibrosa): they keep
their checkpoint names, but no optimiser or ``requires_grad_(True)`` can ever touch them,
and :func:`auscult.models.count_trainable` ignores them, as it ignores BN statistics.
For the Koike front end (2 kHz, window 400) their shapes differ from the 32 kHz checkpoint
([201, 1, 400], [201, 64]); they are deterministic functions of the config, so
``auscult.models.weights.load_pretrained(..., drop_frontend=True)`` simply keeps ours.

Front end (torchlibrosa semantics): periodic Hann window, STFT as two strided Conv1d
(``win_length = n_fft = window_size``), ``center=True`` with reflect padding of n_fft//2 on
each side, power spectrogram, Slaney mel filterbank with Slaney area normalisation
(``librosa.filters.mel`` defaults), ``10 * log10(max(x, 1e-10))`` (ref 1, no top_db).
A clip of ``L`` samples gives ``1 + L // hop_size`` frames: 60 s at 2 kHz, hop 400 -> 301
frames x 64 mel bins (the paper's Table I "120000 frames" is the sample count). The front
end always runs in fp32, also under fp16 autocast: the power of a loud frame
(up to (n_fft/2)^2) does not fit in fp16.

Body (audioset_tagging_cnn ``Cnn14``): bn0 over the mel axis, SpecAugment in training
(optional here), six ConvBlocks 64..2048 (conv3x3-BN-ReLU x2, avg-pool 2x2, none after the
6th), dropout after each block, mean over frequency, max + mean over time, dropout, fc1 +
ReLU, dropout -> the 2048-d ``embedding`` (what ``Transfer_Cnn14`` feeds its new layer).
The time and frequency axes are each pooled by 2^5: inputs need >= 32 frames and >= 32 mel
bins. No mixup (the paper balances classes by sampling instead).

Configuration: a ``koike.models.<name>.config`` with ``arch: cnn14``, checked against the
params schema's ``$defs/cnn14_config`` (every key required; unknown keys rejected):
``sample_rate`` is the waveform's rate (nothing is resampled in the model), ``window_size`` is
n_fft = win_length, ``block_dropout`` follows each ConvBlock, ``fc_dropout`` precedes fc1 and
acts on the embedding, ``spec_augment`` holds the stripe widths and counts, or null.

Input: ``batch['wave']`` of shape (B, L) (or (B, 1, L)), mono, at ``sample_rate``.
``model.backbone(batch) -> (B, 2048)``, ``model.head(z) -> (B,)`` logits (fp32),
``model(batch) = head(backbone(batch))``.

Parameter counts (``count_trainable``; DSP buffers and BN statistics excluded):

- backbone (bn0 + 6 blocks + fc1): 79 673 792, the same at every sample rate
- binary head Linear(2048, 1): 2 049  ->  model 79 675 841 (79.7 M)
- paper Table II: 80.7 M = the AudioSet model with its 527-way head, 79 673 792 +
  1 079 055 = 80 753 615, truncated to one decimal (the same truncation explains every
  ImageNet row, see :mod:`auscult.models.imagenet`). Counting the 32 kHz DSP tensors
  instead of fc_audioset (79 673 792 + 1 083 456 = 80 757 248) also truncates to 80.7; at
  2 kHz they are 2 x 201 x 400 + 201 x 64 = 173 664.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from auscult import configcheck

CHANNELS = (64, 128, 256, 512, 1024, 2048)
EMBED_DIM = 2048
AMIN = 1e-10  # torchlibrosa LogmelFilterBank amin; ref = 1.0, top_db = None
MIN_FRAMES = 2 ** 5  # five 2x2 average pools

# The released 32 kHz checkpoint's front end (audioset_tagging_cnn Cnn14 defaults).
PANNS_FRONTEND = {
    "sample_rate": 32000, "window_size": 1024, "hop_size": 320, "mel_bins": 64,
    "fmin": 50, "fmax": 14000,
}
# Checkpoint keys of the DSP front end (dropped when our front end differs).
FRONTEND_PREFIXES = ("spectrogram_extractor.", "logmel_extractor.")
# Checkpoint keys that this model replaces (the AudioSet classifier).
IGNORED_PREFIXES = ("fc_audioset.",)


# --------------------------------------------------------------------------- config checks
def validate_config(cfg: Mapping) -> None:
    """Check a CNN14 config (the schema's ``cnn14_config``, then what the network needs);
    raise KeyError/ValueError naming the offending key."""
    configcheck.check("cnn14 config", cfg, "cnn14_config")
    if cfg["window_size"] < 2:
        raise ValueError(f"cnn14 config: window_size must be >= 2, got {cfg['window_size']}")
    if cfg["mel_bins"] < MIN_FRAMES:
        raise ValueError(f"cnn14 config: mel_bins must be >= {MIN_FRAMES} (five 2x2 pools), got {cfg['mel_bins']}")
    sr, fmin, fmax = cfg["sample_rate"], cfg["fmin"], cfg["fmax"]
    if not 0 <= fmin < fmax <= sr / 2:
        raise ValueError(f"cnn14 config: need 0 <= fmin < fmax <= sample_rate/2 = {sr / 2:g}, got fmin {fmin:g}, "
                         f"fmax {fmax:g}")


# --------------------------------------------------------------------------- DSP (numpy)
def hann_periodic(n: int) -> np.ndarray:
    """``scipy.signal.get_window('hann', n, fftbins=True)``: 0.5 - 0.5 cos(2 pi k / n)."""
    k = np.arange(n, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * k / n)


def dft_kernels(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Windowed DFT rows for bins 0..n_fft//2: (real, imag), each (n_fft//2+1, n_fft).

    Row k is ``w[n] * exp(-2 pi i k n / N)`` as torchlibrosa's ``conv_real``/``conv_imag``
    (the phase index k*n is reduced mod N first, so large N loses no precision).
    """
    n_bins = n_fft // 2 + 1
    k = np.arange(n_bins, dtype=np.int64)[:, None]
    n = np.arange(n_fft, dtype=np.int64)[None, :]
    phase = 2.0 * np.pi * ((k * n) % n_fft) / n_fft
    w = hann_periodic(n_fft)[None, :]
    return np.cos(phase) * w, -np.sin(phase) * w


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    mel = f / f_sp
    log_part = f >= min_log_hz
    mel = np.where(log_part, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mel)
    return mel


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    hz = f_sp * m
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), hz)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """``librosa.filters.mel(sr=, n_fft=, n_mels=, fmin=, fmax=)`` (Slaney scale and norm).

    Returns float64 (n_mels, n_fft//2+1); torchlibrosa stores its transpose as ``melW``.
    """
    fftfreqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    mel_pts = np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2)
    mel_f = _mel_to_hz_slaney(mel_pts)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels])
    return weights * enorm[:, None]


# --------------------------------------------------------------------------- front end
class _FrozenConv1d(nn.Module):
    """A bias-free strided Conv1d whose kernel is a buffer named ``weight``."""

    def __init__(self, weight: Tensor, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.register_buffer("weight", weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, stride=self.stride)


class _STFT(nn.Module):
    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        real, imag = dft_kernels(n_fft)
        self.conv_real = _FrozenConv1d(torch.tensor(real, dtype=torch.float32)[:, None, :], hop)
        self.conv_imag = _FrozenConv1d(torch.tensor(imag, dtype=torch.float32)[:, None, :], hop)


class Spectrogram(nn.Module):
    """Waveform (B, L) -> power spectrogram (B, 1, T, n_fft//2+1), T = 1 + L // hop."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.stft = _STFT(n_fft, hop)

    def forward(self, wave: Tensor) -> Tensor:
        pad = self.n_fft // 2
        if wave.shape[-1] <= pad:
            raise ValueError(
                f"waveform of {wave.shape[-1]} samples is too short for reflect padding of {pad}"
            )
        x = F.pad(wave[:, None, :], (pad, pad), mode="reflect")
        real, imag = self.stft.conv_real(x), self.stft.conv_imag(x)  # (B, bins, T)
        return (real * real + imag * imag).transpose(1, 2)[:, None]


class LogmelFilterBank(nn.Module):
    """Power spectrogram (B, 1, T, bins) -> log-mel in dB (B, 1, T, n_mels)."""

    def __init__(self, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> None:
        super().__init__()
        mel = mel_filterbank(sr, n_fft, n_mels, fmin, fmax).T
        self.register_buffer("melW", torch.tensor(mel, dtype=torch.float32))

    def forward(self, power: Tensor) -> Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=AMIN))


class SpecAugment(nn.Module):
    """torchlibrosa ``SpecAugmentation`` without time warping: per sample, up to
    ``*_stripes_num`` stripes of width uniform in [0, drop_width) are set to 0 along time
    (dim 2) and frequency (dim 3). Active only in training; draws from the global torch
    generator (on the input's device)."""

    def __init__(self, time_drop_width: int, time_stripes_num: int, freq_drop_width: int,
                 freq_stripes_num: int) -> None:
        super().__init__()
        self.stripes = ((2, time_drop_width, time_stripes_num),
                        (3, freq_drop_width, freq_stripes_num))

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        b = x.shape[0]
        keep = torch.ones_like(x)
        for dim, width, num in self.stripes:
            total = x.shape[dim]
            if width < 1 or num < 1:
                continue
            pos = torch.arange(total, device=x.device)
            for _ in range(num):
                # width in [0, drop_width), start in [0, total - width)  (torchlibrosa)
                w = torch.randint(0, width, (b,), device=x.device).clamp(max=total - 1)
                start = (torch.rand(b, device=x.device) * (total - w)).floor().long()
                hit = (pos[None, :] >= start[:, None]) & (pos[None, :] < (start + w)[:, None])
                shape = [b, 1, 1, 1]
                shape[dim] = total
                keep = keep * (~hit).to(x.dtype).view(shape)
        return x * keep


# --------------------------------------------------------------------------- body
class ConvBlock(nn.Module):
    """(conv3x3 -> BN -> ReLU) x 2 -> average pool; keys conv1, bn1, conv2, bn2."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: Tensor, pool: int) -> Tensor:
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool) if pool > 1 else x


class Cnn14Backbone(nn.Module):
    """Waveform -> 2048-d embedding; ``state_dict`` keys = the PANNs checkpoint's minus
    ``fc_audioset.*``."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        self.inputs: tuple[str, ...] = ("wave",)
        n_fft, hop = int(cfg["window_size"]), int(cfg["hop_size"])
        self.sample_rate, self.n_fft, self.hop = int(cfg["sample_rate"]), n_fft, hop
        self.mel_bins = int(cfg["mel_bins"])
        self.spectrogram_extractor = Spectrogram(n_fft, hop)
        self.logmel_extractor = LogmelFilterBank(self.sample_rate, n_fft, self.mel_bins,
                                                 float(cfg["fmin"]), float(cfg["fmax"]))
        sa = cfg["spec_augment"]
        self.spec_augmenter = SpecAugment(**{k: int(v) for k, v in sa.items()}) if sa else None
        self.bn0 = nn.BatchNorm2d(self.mel_bins)
        c_in = 1
        for i, c in enumerate(CHANNELS, start=1):
            setattr(self, f"conv_block{i}", ConvBlock(c_in, c))
            c_in = c
        self.fc1 = nn.Linear(EMBED_DIM, EMBED_DIM, bias=True)
        self.block_dropout = float(cfg["block_dropout"])
        self.fc_dropout = float(cfg["fc_dropout"])
        self.out_dim = EMBED_DIM

    def logmel(self, wave: Tensor) -> Tensor:
        """(B, L) waveform -> (B, 1, T, mel_bins) log-mel in dB, computed in fp32."""
        if wave.dim() == 3 and wave.shape[1] == 1:
            wave = wave.squeeze(1)
        if wave.dim() != 2:
            raise ValueError(f"wave input must be (B, L) or (B, 1, L), got {tuple(wave.shape)}")
        with torch.autocast(device_type=wave.device.type, enabled=False):
            power = self.spectrogram_extractor(wave.float())
            return self.logmel_extractor(power)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        if "wave" not in batch:
            raise KeyError(f"CNN14 batch lacks input 'wave'; has {sorted(batch)}")
        x = self.logmel(batch["wave"])
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(
                f"CNN14 needs >= {MIN_FRAMES} frames (>= {(MIN_FRAMES - 1) * self.hop} samples "
                f"at hop {self.hop}), got {x.shape[2]} frames"
            )
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)  # BN over mel bins
        if self.spec_augmenter is not None:
            x = self.spec_augmenter(x)
        for i in range(1, len(CHANNELS) + 1):
            block: ConvBlock = getattr(self, f"conv_block{i}")
            x = block(x, pool=2 if i < len(CHANNELS) else 1)
            x = F.dropout(x, p=self.block_dropout, training=self.training)
        x = torch.mean(x, dim=3)  # over frequency
        x = torch.amax(x, dim=2) + torch.mean(x, dim=2)  # over time
        x = F.dropout(x, p=self.fc_dropout, training=self.training)
        x = F.relu_(self.fc1(x))
        return F.dropout(x, p=self.fc_dropout, training=self.training)


class BinaryHead(nn.Module):
    """Linear(in_dim, 1) in fp32 -> logits (B,)."""

    def __init__(self, in_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(in_dim, 1)

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.in_dim:
            raise ValueError(f"head input must be (B, {self.in_dim}), got {tuple(z.shape)}")
        z = self.drop(z)
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self.fc(z.float()).squeeze(-1)


class Cnn14(nn.Module):
    """``forward(batch) = head(backbone(batch))``: logits (B,) for 'abnormal'.

    Pretrained-weight hooks read by :func:`auscult.models.weights.load_pretrained`:
    ``weights_name``, ``weights_target`` (the module whose keys follow the checkpoint),
    ``weights_ignore`` (checkpoint keys replaced by the new head), ``weights_frontend``
    (checkpoint keys of the DSP front end) and ``weights_first_conv`` (None: the first conv
    already has one input channel in PANNs).
    """

    weights_name = "cnn14"
    weights_ignore = IGNORED_PREFIXES
    weights_frontend = FRONTEND_PREFIXES
    weights_first_conv: str | None = None

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        validate_config(cfg)
        self.inputs: tuple[str, ...] = ("wave",)
        self.backbone = Cnn14Backbone(cfg)
        self.head = BinaryHead(EMBED_DIM)  # dropout is already on the embedding
        self.frontend_is_canonical = all(
            float(cfg[k]) == float(v) for k, v in PANNS_FRONTEND.items()
        )
        init_panns_(self)

    @property
    def weights_target(self) -> nn.Module:
        return self.backbone

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.head(self.backbone(batch))


@torch.no_grad()
def init_panns_(model: nn.Module) -> None:
    """PANNs ``init_layer``/``init_bn``: Xavier-uniform conv/linear weights, zero biases,
    BN weight 1 and bias 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                m.bias.fill_(0.0)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
            m.bias.fill_(0.0)


def build_cnn14(cfg: Mapping) -> Cnn14:
    return Cnn14(cfg)
