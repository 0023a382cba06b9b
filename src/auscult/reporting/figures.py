"""Figures: ROC curves (T1), the depth x heads ablation (T3), the domain-shift comparison (T2),
ICBHI confusion matrices (P3 T6), and learning curves (validation metric per epoch, every run).

Drawn from the tables' long CSVs and the evaluation predictions; headless (Agg backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.atomic import atomic_path
from auscult.evaluation.metrics import roc_points


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def relative_luminance(rgba: Sequence[float]) -> float:
    """WCAG relative luminance of an sRGB colour (components in [0, 1])."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour(background: Sequence[float]) -> str:
    """'black' or 'white', whichever contrasts more with ``background`` (WCAG contrast
    ratio), so a heat map's annotation stays legible on dark and light cells alike."""
    lum = relative_luminance(background)
    return "black" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def series_colours(n: int) -> list:
    """``n`` distinct colours: tab10 up to 10 series, tab20 up to 20, evenly spaced hues of
    a continuous map beyond (the default cycle repeats after 10, and 15 Koike runs then
    share colours)."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    cmap = matplotlib.colormaps["turbo"]
    return [cmap(i / (n - 1)) for i in range(n)]


def _save(fig, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png")


def roc_curves(predictions: Mapping[str, Sequence[pd.DataFrame]], labels: Mapping[str, str], out: str | Path,
               *, protocol: str = "physionet_test", title: str = "") -> None:
    """One panel: a thin ROC line per seed and the vertically averaged curve per variant."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    grid = np.linspace(0, 1, 201)
    for i, (variant, frames) in enumerate(predictions.items()):
        colour = f"C{i}"
        tprs = []
        for df in frames:
            d = df[df["protocol"] == protocol]
            fpr, tpr = roc_points(d["label"].to_numpy(), d["score"].to_numpy())
            ax.plot(fpr, tpr, color=colour, alpha=0.25, lw=0.8)
            tprs.append(np.interp(grid, fpr, tpr))
        ax.plot(grid, np.mean(tprs, axis=0), color=colour, lw=2, label=f"{labels.get(variant, variant)}")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, out)
    plt.close(fig)


CI_CAPTION = ("Error bars: the tables' 95 % interval of the seed mean (test sampling and seed spread; "
              "one-seed rows: test sampling only; none where the table has no interval).")


def ci_err(d: pd.DataFrame) -> np.ndarray:
    """(2, n) asymmetric error bars from a long frame's ``ci_low``/``ci_high`` (0 where the
    table gives no interval: no bar is drawn rather than a made-up one)."""
    mean = d["mean"].to_numpy(float)
    lo = pd.to_numeric(d["ci_low"], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(d["ci_high"], errors="coerce").to_numpy(float)
    return np.nan_to_num(np.vstack([mean - lo, hi - mean]), nan=0.0).clip(min=0)


def _caption(fig, text: str = CI_CAPTION, y: float = -0.02) -> None:
    fig.text(0.01, y, text, fontsize=7, ha="left", va="top", wrap=True)


def ablation_plot(t3: pd.DataFrame, out: str | Path, *, title: str = "") -> None:
    """ROC-AUC against exact parameter count, ours (mean and 95 % interval) and the paper's."""
    plt = _plt()
    params = t3[t3["metric"] == "params"].set_index("row")
    auc = t3[t3["metric"] == "auc"].set_index("row")
    fig, ax = plt.subplots(figsize=(6, 4))
    x = params.loc[auc.index, "mean"] / 1e6
    ax.errorbar(x, auc["mean"], yerr=ci_err(auc), fmt="o-", capsize=3, label="this pipeline")
    if auc["paper"].notna().any():
        px = params.loc[auc.index, "paper"] / 1e6
        ax.plot(px, auc["paper"], "s--", color="grey", label="paper")
    for row, xi, yi in zip(auc.index, x, auc["mean"], strict=True):
        ax.annotate(row, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set(xlabel="trainable parameters (M)", ylabel="ROC-AUC (PhysioNet test)", title=title)
    ax.legend(fontsize=8)
    _caption(fig)
    _save(fig, out)
    plt.close(fig)


def domain_shift_plot(t1: pd.DataFrame, t2: pd.DataFrame, out: str | Path, *, title: str = "") -> None:
    """Grouped bars per model: PhysioNet AUC and PASCAL AUC under each protocol."""
    plt = _plt()
    phys = t1[(t1["metric"] == "auc")].drop_duplicates("row").set_index("row")
    shift = t2[t2["metric"] == "auc"]
    protocols = list(dict.fromkeys(shift["protocol"]))
    rows = list(phys.index)
    series = [("PhysioNet test", phys["mean"], ci_err(phys), phys["paper"])]
    for proto in protocols:
        s = shift[shift["protocol"] == proto].set_index("row").reindex(rows)
        series.append((f"PASCAL: {proto}", s["mean"], ci_err(s), s["paper"]))
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(series)
    xs = np.arange(len(rows))
    for i, (name, mean, std, paper) in enumerate(series):
        ax.bar(xs + i * width, mean, width, yerr=std, capsize=2, label=name)
        ax.scatter(xs + i * width, paper, marker="_", s=200, color="k", zorder=3)
    ax.set_xticks(xs + width * (len(series) - 1) / 2, rows, fontsize=8)
    ax.set(ylabel="ROC-AUC", ylim=(0, 1), title=title)
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    ax.text(1.01, 0.02, "black ticks: paper values", transform=ax.transAxes, fontsize=7)
    _caption(fig, CI_CAPTION + " Pooled PASCAL AUC mixes sets A and B; see T2's auc_within.")
    _save(fig, out)
    plt.close(fig)


def model_comparison_plot(t4: pd.DataFrame, out: str | Path, *, title: str = "") -> None:
    """Koike T4: grouped bars of test UAR per model and input (mean and 95 % interval), the
    paper's values as hollow markers; hatched bars started from scratch weights."""
    plt = _plt()
    uar = t4[t4["metric"] == "uar_%"]
    rows = list(dict.fromkeys(uar["row"]))
    inputs = list(dict.fromkeys(uar["protocol"]))
    width = 0.8 / max(len(inputs), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows)), 4))
    for j, inp in enumerate(inputs):
        d = uar[uar["protocol"] == inp].set_index("row")
        xs = [i + (j - (len(inputs) - 1) / 2) * width for i, r in enumerate(rows) if r in d.index]
        present = [r for r in rows if r in d.index]
        bars = ax.bar(xs, d.loc[present, "mean"], width, yerr=ci_err(d.loc[present]), capsize=2,
                      color=f"C{j}", label=f"{inp} (this pipeline)")
        for bar, r in zip(bars, present, strict=True):
            if str(d.loc[r, "weights"]) != "pretrained":
                bar.set_hatch("//")
        paper = d.loc[present, "paper"]
        ax.plot([x for x, v in zip(xs, paper, strict=True) if pd.notna(v)], [v for v in paper if pd.notna(v)],
                "o", mfc="none", color="k", label="paper" if j == 0 else None)
    ax.axhline(50, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(rows)), rows, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="test UAR (%)", ylim=(0, 100), title=title)
    ax.legend(fontsize=7, loc="lower left")
    fig.text(0.01, -0.12, "hatched: trained from scratch (no pretrained weights). " + CI_CAPTION, fontsize=7)
    _save(fig, out)
    plt.close(fig)


def confusion_panels(matrices: Mapping[str, np.ndarray], out: str | Path, *, labels: Mapping[str, str] | None = None,
                     class_names: Sequence[str] = ("normal", "crackle", "wheeze", "both"), title: str = "") -> None:
    """One panel per variant: a row-normalised confusion matrix (true rows, predicted columns),
    each cell annotated with its count and row percentage."""
    plt = _plt()
    labels = labels or {}
    n = max(1, len(matrices))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.6), squeeze=False)
    for ax, (variant, cm) in zip(axes[0], matrices.items(), strict=False):
        cm = np.asarray(cm, dtype=float)
        rows = cm.sum(axis=1, keepdims=True)
        frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        im = ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, f"{int(cm[i, j])}\n{100 * frac[i, j]:.0f}%", ha="center", va="center",
                        fontsize=7, color=text_colour(im.cmap(im.norm(frac[i, j]))))
        ticks = range(len(class_names))
        ax.set_xticks(ticks, class_names, rotation=45, fontsize=7)
        ax.set_yticks(ticks, class_names, fontsize=7)
        ax.set(xlabel="predicted", ylabel="true", title=labels.get(variant, variant))
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, out)
    plt.close(fig)


def learning_curves_figure(histories: Mapping[str, Sequence[pd.DataFrame]], labels: Mapping[str, str],
                           *, metrics: Sequence[str] = ("val_auc", "val_loss"), title: str = ""):
    """The figure of :func:`learning_curves` (not saved): one panel per metric, a line per
    (variant, seed) over epochs, one distinct colour per variant (:func:`series_colours`;
    seeds of a variant share it), integer epochs, and one legend for the figure outside the
    panels, on the right, so that no curve hides under it."""
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    colours = series_colours(len(histories))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    handles: dict[str, object] = {}
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (variant, frames) in enumerate(histories.items()):
            for j, h in enumerate(frames):
                if metric not in h or h.empty:
                    continue
                (line,) = ax.plot(h["epoch"], h[metric], marker="o", ms=3, lw=1.2, color=colours[i],
                                  alpha=0.9 if j == 0 else 0.55)
                handles.setdefault(labels.get(variant, variant), line)
        if metric == "val_auc":
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(title or "Learning curves (validation split)", fontsize=10)
    fig.tight_layout()
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="upper left", bbox_to_anchor=(1.0, 0.95),
                   fontsize=8, ncol=1 if len(handles) <= 16 else 2, frameon=False,
                   title="variant (one line per seed)", title_fontsize=8)
    return fig


def learning_curves(histories: Mapping[str, Sequence[pd.DataFrame]], labels: Mapping[str, str], out: str | Path,
                    *, metrics: Sequence[str] = ("val_auc", "val_loss"), title: str = "") -> None:
    """One panel per metric: a line per (variant, seed) over epochs from each run's history.csv
    (:func:`learning_curves_figure`), saved to ``out``."""
    plt = _plt()
    fig = learning_curves_figure(histories, labels, metrics=metrics, title=title)
    _save(fig, out)
    plt.close(fig)


def mean_roc(frames: Sequence[pd.DataFrame], *, protocol: str = "physionet_test", points: int = 201) -> pd.DataFrame:
    """Seed-averaged ROC (vertical averaging on a false-positive-rate grid): columns fpr, tpr."""
    grid = np.linspace(0, 1, points)
    tprs = []
    for df in frames:
        d = df[df["protocol"] == protocol]
        fpr, tpr = roc_points(d["label"].to_numpy(), d["score"].to_numpy())
        tprs.append(np.interp(grid, fpr, tpr))
    return pd.DataFrame({"fpr": grid, "tpr": np.mean(tprs, axis=0)})


def mean_history(frames: Sequence[pd.DataFrame], metrics: Sequence[str] = ("val_auc", "val_loss")) -> pd.DataFrame:
    """Per-epoch mean over seeds of each run's history.csv (epochs a seed did not run are left out)."""
    h = pd.concat([f[["epoch", *[m for m in metrics if m in f]]] for f in frames], ignore_index=True)
    return h.groupby("epoch", as_index=False).mean()


def cross_dataset_heatmap(table: pd.DataFrame, out: str | Path, *, title: str = "") -> None:
    """Heat map of the cross-dataset table: AUC per model (rows) and target (columns), each
    cell annotated with AUC and its 95 % CI; 0.5 (chance) is white."""
    plt = _plt()
    models = list(dict.fromkeys(table["model"]))
    targets = list(dict.fromkeys(table["target"]))
    grid = table.pivot_table(index="model", columns="target", values="auc", aggfunc="first").reindex(
        index=models, columns=targets)
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(targets), 0.8 + 0.32 * len(models)))
    im = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r", vmin=0.0, vmax=1.0, aspect="auto")
    for _, r in table.iterrows():
        i, j = models.index(r["model"]), targets.index(r["target"])
        text = "–" if pd.isna(r["auc"]) else f"{r['auc']:.2f}"
        if pd.notna(r.get("auc_low")) and pd.notna(r.get("auc_high")):
            text += f"\n[{r['auc_low']:.2f}, {r['auc_high']:.2f}]"
        # the text's colour follows the cell's luminance (white on the dark ends of the map)
        colour = "black" if pd.isna(r["auc"]) else text_colour(im.cmap(im.norm(float(r["auc"]))))
        ax.text(j, i, text, ha="center", va="center", fontsize=6, color=colour)
    ax.set_xticks(range(len(targets)), [f"{t}\n(n={int(table[table['target'] == t]['n'].iloc[0])})" for t in targets],
                  fontsize=7)
    ax.set_yticks(range(len(models)), models, fontsize=7)
    fig.colorbar(im, ax=ax, label="AUC (zero-shot)", shrink=0.8)
    ax.set_title(title, fontsize=9)
    _save(fig, out)
    plt.close(fig)
