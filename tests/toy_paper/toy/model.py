"""The toy paper's own model: a one-hidden-layer perceptron in numpy (tanh, sigmoid output),
trained full-batch with Adam on class-balanced cross-entropy with L2 weight decay, on
standardised feature vectors. Deterministic for a given seed; milliseconds on the demo data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass
class MLP:
    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float

    @property
    def n_params(self) -> int:
        return int(self.w1.size + self.b1.size + self.w2.size + 1)


def _forward(m: MLP, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.tanh(((x - m.mean) / m.scale) @ m.w1 + m.b1)
    z = np.clip(h @ m.w2 + m.b2, -30, 30)
    return h, 1.0 / (1.0 + np.exp(-z))


def fit(x: np.ndarray, y: np.ndarray, cfg: Mapping, seed: int) -> MLP:
    """``cfg``: hidden, epochs, lr, weight_decay (params ``toy.model`` + the variant's own)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(np.unique(y)) < 2:
        raise ValueError("toy model: training labels need both classes")
    rng = np.random.default_rng(seed)
    d, k = x.shape[1], int(cfg["hidden"])
    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    m = MLP(mean, scale, rng.normal(0, 1 / np.sqrt(d), (d, k)), np.zeros(k), rng.normal(0, 1 / np.sqrt(k), k), 0.0)
    w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean())) / len(y)  # class-balanced weights
    params = ["w1", "b1", "w2", "b2"]
    mom = {p: np.zeros_like(np.asarray(getattr(m, p), float)) for p in params}
    vel = {p: np.zeros_like(np.asarray(getattr(m, p), float)) for p in params}
    lr, wd, xs = float(cfg["lr"]), float(cfg["weight_decay"]), (x - mean) / scale
    for t in range(1, int(cfg["epochs"]) + 1):
        h, p = _forward(m, x)
        g = w * (p - y)  # d loss / d logit
        gh = np.outer(g, m.w2) * (1 - h ** 2)
        grads = {"w1": xs.T @ gh + wd * m.w1, "b1": gh.sum(0), "w2": h.T @ g + wd * m.w2, "b2": g.sum()}
        for name in params:
            mom[name] = 0.9 * mom[name] + 0.1 * grads[name]
            vel[name] = 0.999 * vel[name] + 0.001 * grads[name] ** 2
            step = lr * (mom[name] / (1 - 0.9 ** t)) / (np.sqrt(vel[name] / (1 - 0.999 ** t)) + 1e-8)
            setattr(m, name, getattr(m, name) - step)
    return m


def scores(m: MLP, x: np.ndarray) -> np.ndarray:
    """Probability of the abnormal class (label 1)."""
    if len(x) == 0:
        return np.zeros(0)
    return _forward(m, np.asarray(x, np.float64))[1]
