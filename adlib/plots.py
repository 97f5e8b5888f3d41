"""Plots used across the labs. Every function draws on ``ax`` (or a new figure) and
returns the figure, so a notebook cell can show it and a widget can redraw it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from sklearn import metrics as skm

from .data import grid


def _ax(ax, figsize=(5, 4)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def _np(a):
    return a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)


def density(dist, ax=None, bounds=None, n: int = 200, eps=(0.01, 1e-4), title=None):
    """Filled contours of ``log p`` of a toy, with the tail contours p = tail_level(eps)."""
    fig, ax = _ax(ax)
    bounds = bounds or dist.bounds
    g = grid(bounds, n)
    with torch.no_grad():
        logp = dist.log_prob(g).reshape(n, n).numpy()
    xs, ys = g[:n, 0].numpy(), g[::n, 1].numpy()
    ax.contourf(xs, ys, np.maximum(logp, -20), levels=20, cmap="Greys", alpha=0.6)
    styles = ["-", "--", ":"]
    for e, ls in zip(eps, styles):
        cs = ax.contour(xs, ys, logp, levels=[np.log(dist.tail_level(e))], colors="crimson",
                        linestyles=ls, linewidths=1.2)
        ax.clabel(cs, fmt={cs.levels[0]: f"ε={e:g}"}, fontsize=7)
    ax.set_aspect("equal")
    ax.set_xlim(*bounds[0])
    ax.set_ylim(*bounds[1])
    if title:
        ax.set_title(title)
    return fig


def boundary(dist, samples, ax=None, eps: float = 0.01, data=None, n_data: int = 1500,
             bounds=None, title=None, label: str = "B(z)"):
    """Data (grey dots), density contours, the eps tail contour (solid red) and the
    eps/100 "far" contour (dashed), and the generated ``samples`` (blue, named ``label``)."""
    fig, ax = _ax(ax)
    density(dist, ax=ax, bounds=bounds, eps=(eps, eps / 100))
    data = dist.sample(n_data, seed=0) if data is None else data
    d, s = _np(data), _np(samples)
    ax.scatter(d[:, 0], d[:, 1], s=2, c="0.35", alpha=0.5, label="data")
    ax.scatter(s[:, 0], s[:, 1], s=4, c="tab:blue", alpha=0.7, label=label)
    ax.legend(loc="upper right", fontsize=8, markerscale=3)
    if title:
        ax.set_title(title)
    return fig


def history_cloud(dist, x, t, ax=None, n_data: int = 1500, title=None):
    """HistoryAD's P_Ghist on a 2-D toy: the samples ``x`` coloured by the training time
    ``t`` (epochs) of the generator state that drew each, over the toy's contours and data."""
    fig, ax = _ax(ax, figsize=(6, 4.5))
    density(dist, ax=ax)
    d, s = _np(dist.sample(n_data, seed=0)), _np(x)
    ax.scatter(d[:, 0], d[:, 1], s=2, c="0.35", alpha=0.5)
    points = ax.scatter(s[:, 0], s[:, 1], s=4, c=_np(t), cmap="viridis", alpha=0.7)
    fig.colorbar(points, ax=ax, label="t (epochs)")
    if title:
        ax.set_title(title)
    return fig


def surface(score, bounds, ax=None, n: int = 150, points=None, title=None):
    """A 2-D score function as a heatmap over the box ``bounds`` (e.g. a detector's
    ``score``, higher = more anomalous), with optional ``points`` (e.g. the data) on top."""

    fig, ax = _ax(ax, figsize=(6, 4))
    (x0, x1), (y0, y1) = bounds
    values = _np(score(grid(bounds, n))).reshape(n, n)
    im = ax.imshow(values, origin="lower", extent=(x0, x1, y0, y1), aspect="auto", cmap="magma")
    fig.colorbar(im, ax=ax, label="score")
    if points is not None:
        p = _np(points)
        ax.scatter(p[:, 0], p[:, 1], s=1, c="tab:cyan", alpha=0.4)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), title=title or "score surface")
    return fig
def score_hist(y, scores, ax=None, bins: int = 50, log_scale: bool = False, title=None):
    """Histogram of the anomaly scores, normal vs anomalous (seaborn), each normalised."""
    fig, ax = _ax(ax)
    df = pd.DataFrame({"score": _np(scores).reshape(-1),
                       "label": np.where(_np(y).reshape(-1) == 1, "anomaly", "normal")})
    sns.histplot(df, x="score", hue="label", hue_order=["normal", "anomaly"], bins=bins,
                 stat="density", common_norm=False, element="step", log_scale=log_scale,
                 palette={"normal": "tab:blue", "anomaly": "tab:red"}, ax=ax)
    ax.set_title(title or "anomaly scores")
    return fig


def _curves(y, scores):
    return scores.items() if isinstance(scores, dict) else [("score", scores)]


def roc(y, scores, ax=None, title=None):
    """ROC curve(s). ``scores`` is one array or a dict {name: scores} to compare methods."""
    fig, ax = _ax(ax)
    y = _np(y).reshape(-1)
    for name, s in _curves(y, scores):
        s = _np(s).reshape(-1)
        fpr, tpr, _ = skm.roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {skm.roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], ":", c="0.5", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title or "ROC")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def pr(y, scores, ax=None, title=None):
    """Precision-recall curve(s), anomalies positive; dotted line = chance (anomaly rate)."""
    fig, ax = _ax(ax)
    y = _np(y).reshape(-1)
    for name, s in _curves(y, scores):
        s = _np(s).reshape(-1)
        prec, rec, _ = skm.precision_recall_curve(y, s)
        ax.plot(rec, prec, label=f"{name} (AUPRC {skm.average_precision_score(y, s):.3f})")
    ax.axhline(y.mean(), ls=":", c="0.5", lw=1)
    ax.set(xlabel="recall", ylabel="precision", title=title or "precision-recall",
           ylim=(0, 1.02))
    ax.legend(fontsize=8, loc="lower left")
    return fig


def history(hist: dict, terms=None, title=None):
    """One small panel per loss term over training steps."""
    terms = terms or list(hist)
    fig, axes = plt.subplots(1, len(terms), figsize=(3 * len(terms), 2.6), squeeze=False)
    for ax, t in zip(axes[0], terms):
        ax.plot(hist[t], lw=0.8)
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        if min(hist[t]) > 0:
            ax.set_yscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def images(x, nrow: int = 10, ax=None, title=None):
    """A grid of images (n, C, H, W) in [-1, 1], e.g. generated boundary or tail samples.
    Values outside [-1, 1] (a flow's samples can overshoot) are clipped for display."""
    from torchvision.utils import make_grid

    fig, ax = _ax(ax, figsize=(nrow * 0.6, (len(x) + nrow - 1) // nrow * 0.6))
    g = make_grid(torch.as_tensor(x).detach().clamp(-1, 1), nrow=nrow, normalize=True,
                  value_range=(-1, 1), pad_value=1.0)
    ax.imshow(g.permute(1, 2, 0).cpu().numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig
