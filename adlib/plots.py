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


def png(fig) -> bytes:
    """A matplotlib figure as PNG bytes, whatever the backend (closed if pyplot holds it)."""
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def picture(fig):
    """A figure as an image a notebook shows under any matplotlib backend (``MPLBACKEND=Agg``
    on a server included): the last line of a cell, ``adlib.plots.picture(fig)``."""
    from IPython.display import Image
    return Image(data=png(fig), format="png")


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


# The survey's figure 4 as block diagrams: (label, x, y, kind) per node; kind "net" is a
# trained network (a box), "var" a tensor; edges are (from, to) or (from, to, "dashed").
_ARCHITECTURES = {
    "AnoGAN": ({"z": ("z", 0, 1, "var"), "G": ("G", 1, 1, "net"), "Gz": ("G(z)", 2, 1, "var"),
                "x": ("x", 2, 0, "var"), "D": ("D", 3, 0.5, "net"), "L": ("L(z)", 2, 2, "var")},
               [("z", "G"), ("G", "Gz"), ("Gz", "D"), ("x", "D"), ("Gz", "L"), ("L", "z", "dashed")],
               "test: Γ steps of\nz ← z − ∇L(z), score L(z_Γ)"),
    "EGBAD (BiGAN)": ({"x": ("x", 0, 0, "var"), "E": ("E", 1, 0, "net"), "Ex": ("E(x)", 2, 0, "var"),
                       "z": ("z", 0, 2, "var"), "G": ("G", 1, 2, "net"), "Gz": ("G(z)", 2, 2, "var"),
                       "D": ("D(x, z)", 3, 1, "net")},
                      [("x", "E"), ("E", "Ex"), ("z", "G"), ("G", "Gz"), ("Ex", "D"), ("Gz", "D")],
                      "test: one pass, score\nα‖x − G(E(x))‖₁ + (1 − α) L_D"),
    "GANomaly": ({"x": ("x", 0, 1, "var"), "GE": ("G_E", 0.75, 1, "net"), "z": ("z", 1.5, 1, "var"),
                  "GD": ("G_D", 2.25, 1, "net"), "xh": ("x̂", 3, 1, "var"), "E": ("E", 3, 2, "net"),
                  "zh": ("ẑ", 1.5, 2, "var"), "D": ("D", 3, 0, "net")},
                 [("x", "GE"), ("GE", "z"), ("z", "GD"), ("GD", "xh"), ("xh", "E"), ("E", "zh"),
                  ("xh", "D"), ("z", "zh", "dashed")],
                 "test: one pass, score\n‖G_E(x) − E(x̂)‖₂"),
    "kNN": ({"x": ("x*", 1.5, 1, "var"), **{f"n{i}": ("x_j", 1.5 + 1.1 * np.cos(a), 1 + 0.9 * np.sin(a), "data")
                                            for i, a in enumerate(np.linspace(0.3, 5.5, 5))}},
            [("x", f"n{i}", "dashed") for i in range(5)],
            "no training; score = mean distance\nto the k nearest training points"),
}


def architectures(names=None):
    """The methods of lab 05 as block diagrams (the survey's figure 4): boxes are trained
    networks, plain labels tensors, dashed arrows what happens at test time."""
    names = names or list(_ARCHITECTURES)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4))
    style = {"net": dict(boxstyle="round,pad=0.4", fc="#cfe2f3", ec="#3d85c6"),
             "var": dict(boxstyle="circle,pad=0.2", fc="white", ec="0.6"),
             "data": dict(boxstyle="circle,pad=0.2", fc="#d9ead3", ec="#6aa84f")}
    for ax, name in zip(np.atleast_1d(axes), names):
        nodes, edges, note = _ARCHITECTURES[name]
        for label, x, y, kind in nodes.values():
            ax.text(x, y, label, ha="center", va="center", fontsize=11, bbox=style[kind], zorder=3)
        for a, b, *how in edges:
            ax.annotate("", xy=nodes[b][1:3], xytext=nodes[a][1:3], zorder=2,
                        arrowprops=dict(arrowstyle="->", ls="--" if how else "-", shrinkA=16, shrinkB=16,
                                        color="tab:red" if how else "0.2"))
        ax.set(xlim=(-0.5, 3.5), ylim=(-0.6, 2.6), title=name)
        ax.text(1.5, -0.55, note, ha="center", va="bottom", fontsize=8.5, color="tab:red")
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def reconstructions(rows: dict, nrow: int = 10, title=None):
    """Image rows under each other, one per entry of ``rows`` (label -> images (n, C, H, W)):
    e.g. test images and what each method reconstructs them as."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(nrow * 0.62, 0.9 * len(rows)), squeeze=False)
    for ax, (label, x) in zip(axes[:, 0], rows.items()):
        images(x[:nrow], nrow=nrow, ax=ax)
        ax.set_axis_on()
        ax.set(xticks=[], yticks=[])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def arrows(x, rec, ax=None, title=None, color="tab:green"):
    """2-D points ``x`` joined by arrows to their reconstructions ``rec`` (e.g. AnoGAN's
    G(z_Γ), EGBAD's G(E(x)), GANomaly's G(x)) on ``ax``."""
    fig, ax = _ax(ax)
    p, r = _np(x), _np(rec)
    ax.quiver(p[:, 0], p[:, 1], r[:, 0] - p[:, 0], r[:, 1] - p[:, 1], angles="xy", scale_units="xy",
              scale=1, width=0.004, color=color, alpha=0.8)
    if title:
        ax.set_title(title)
    return fig


def loo_bars(summary, reference=None, dataset: str = "mnist", protocol: str = "loo", methods=None,
             line: str = "knn", ax=None, title=None):
    """Per-class bars of each method (``adlib.results.summary`` rows, the mean over seeds)
    with whiskers of the SD over seeds, the papers' numbers for the same class as black
    ticks (``reference``: ``adlib.results.reference()``), and the mean of ``line`` (kNN)
    as a dashed line. The last group, "mean", is the mean ± SD over classes."""
    s = summary[(summary.dataset == dataset) & (summary.protocol == protocol)]
    if s.empty:
        raise ValueError(f"no {dataset} {protocol} rows in the summary")
    methods = list(methods or sorted(s.method.unique()))
    classes = sorted(c for c in s.cls.unique() if c != "mean") + ["mean"]
    fig, ax = _ax(ax, figsize=(max(8, 0.9 * len(classes) * max(1, len(methods)) / 3), 4))
    width = 0.8 / len(methods)
    colours = sns.color_palette("tab10", len(methods))
    for j, m in enumerate(methods):
        rows = s[s.method == m].set_index("cls")
        xs = [i + (j - (len(methods) - 1) / 2) * width for i, c in enumerate(classes) if c in rows.index]
        ys = [rows.loc[c, "mean"] for c in classes if c in rows.index]
        err = [rows.loc[c, "sd"] for c in classes if c in rows.index]
        ax.bar(xs, ys, width, yerr=err, capsize=2, color=colours[j], label=m, error_kw={"lw": 0.8})
        if reference is not None:
            ref = reference[(reference.method == m) & (reference.dataset == dataset)
                            & (reference.protocol == protocol) & reference.auroc.notna()]
            for c, v in zip(ref.cls, ref.auroc):
                if c in classes:
                    x = classes.index(c) + (j - (len(methods) - 1) / 2) * width
                    ax.plot([x - width / 2, x + width / 2], [v, v], color="black", lw=2)
    if reference is not None:
        ax.plot([], [], color="black", lw=2, label="paper")
    if line in set(s.method):
        v = float(s[(s.method == line) & (s.cls == "mean")]["mean"].iloc[0])
        ax.axhline(v, color="grey", ls="--", lw=1, label=f"{line} mean {v:.2f}")
    ax.axhline(0.5, color="lightgrey", lw=0.8)
    ax.set_xticks(range(len(classes)), [str(c) for c in classes])
    ax.set(ylim=(0, 1.05), ylabel="AUROC", xlabel="left-out class" if protocol == "loo" else "class",
           title=title or f"{dataset} {protocol}: AUROC per class (mean over seeds ± SD)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
