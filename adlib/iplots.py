"""Plotly figures, where a reader would rather hover or zoom than read.

* ``curves(y, scores)``: ROC and precision-recall curves side by side; hovering a point shows
  its threshold with the FPR / TPR or the recall / precision there.
* ``surface(score, bounds)``: a 2-D score function as a heatmap, the score on hover.
* ``loo_chart(df, ...)``: lab 06's per-class results, mean over seeds ± SD, every seed's
  value on hover, the papers' numbers as black ticks.

Each returns a ``plotly.graph_objects.FigureWidget`` (``widget=False``: a plain ``Figure``).
The widget is an anywidget whose JavaScript, plotly.js included, ships inside the plotly
package: it renders in JupyterLab and Voila offline, never from a CDN. Matplotlib
(``adlib.plots``) stays where a static figure teaches better: density contours, image grids.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sklearn import metrics as skm

from .data import grid


def _np(a):
    return (a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)).reshape(-1)


def _new(fig, widget: bool):
    return go.FigureWidget(fig) if widget else fig


def curves(y, scores, widget: bool = True, title: str | None = None):
    """ROC (left) and precision-recall (right) curves of ``scores`` (one array or a dict
    {name: scores}) against the labels ``y`` (1 = anomaly)."""
    y = _np(y)
    scores = scores if isinstance(scores, dict) else {"score": scores}
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ROC", "precision-recall"))
    for i, (name, s) in enumerate(scores.items()):
        s = _np(s)
        colour = _PALETTE[i % len(_PALETTE)]
        fpr, tpr, thr = skm.roc_curve(y, s)
        fig.add_scatter(x=fpr, y=tpr, customdata=np.where(np.isfinite(thr), thr, np.nan), mode="lines",
                        name=f"{name} (AUROC {skm.roc_auc_score(y, s):.3f})", legendgroup=name,
                        line={"color": colour},
                        hovertemplate="threshold %{customdata:.4g}<br>FPR %{x:.3f}<br>TPR %{y:.3f}"
                                      "<extra>%{fullData.name}</extra>", row=1, col=1)
        precision, recall, thr = skm.precision_recall_curve(y, s)
        fig.add_scatter(x=recall[:-1], y=precision[:-1], customdata=thr, mode="lines", showlegend=False,
                        name=f"{name} (AUPRC {skm.average_precision_score(y, s):.3f})", legendgroup=name,
                        line={"color": colour},
                        hovertemplate="threshold %{customdata:.4g}<br>recall %{x:.3f}<br>precision %{y:.3f}"
                                      "<extra>%{fullData.name}</extra>", row=1, col=2)
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"},
                    showlegend=False, hoverinfo="skip", row=1, col=1)
    fig.update_xaxes(title_text="false positive rate", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="true positive rate", range=[0, 1.02], row=1, col=1)
    fig.update_xaxes(title_text="recall", range=[0, 1], row=1, col=2)
    fig.update_yaxes(title_text="precision", range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=380, width=900, title=title, hovermode="closest", margin={"t": 60})
    return _new(fig, widget)


_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]


def surface(score, bounds, n: int = 120, points=None, widget: bool = True, title: str | None = None):
    """The 2-D function ``score`` (e.g. a detector's ``score``) as a heatmap over the box
    ``bounds``, the score at the mouse on hover; optional ``points`` (e.g. the data) on top."""
    (x0, x1), (y0, y1) = bounds
    values = _np(score(grid(bounds, n))).reshape(n, n)
    fig = go.Figure(go.Heatmap(x=np.linspace(x0, x1, n), y=np.linspace(y0, y1, n), z=values,
                               colorscale="Magma", colorbar={"title": {"text": "score"}},
                               hovertemplate="x %{x:.2f}, y %{y:.2f}<br>score %{z:.4g}<extra></extra>"))
    if points is not None:
        p = points.detach().cpu().numpy() if hasattr(points, "detach") else np.asarray(points)
        fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="markers", marker={"size": 2, "color": "cyan", "opacity": 0.4},
                        name="data", hoverinfo="skip")
    fig.update_layout(height=420, width=520, title=title or "score surface", showlegend=False)
    return _new(fig, widget)


def loo_chart(df, reference=None, dataset: str = "mnist", metric: str = "auroc", methods=(),
              protocol: str = "loo", widget: bool = True, fig=None):
    """Per-class bars of ``metric`` for ``methods`` (all when empty) from a tidy results table
    (``adlib.results.table`` / ``recorded``): the mean over seeds with an SD whisker, every
    seed's value on hover, the papers' AUROCs (``reference``) as black ticks and the kNN mean
    as a dashed line. ``fig``: a FigureWidget to update in place (lab 06's choosers)."""
    rows = df[(df.dataset == dataset) & (df.protocol == protocol)]
    have = sorted(rows.method.unique())
    chosen = [m for m in (methods or have) if m in have]
    if not chosen:
        raise ValueError(f"no recorded {dataset} {protocol} rows for {list(methods)}; recorded: {have}")
    traces = []
    for m in chosen:
        part = rows[rows.method == m]
        per = part.groupby("cls")[metric]
        classes = sorted(per.groups, key=int)
        means = [per.get_group(c).mean() for c in classes]
        sds = [per.get_group(c).std(ddof=1) if len(per.get_group(c)) > 1 else 0.0 for c in classes]
        seeds = ["<br>".join(f"seed {int(s)}: {v:.3f}" for s, v in zip(g.seed, g[metric]))
                 for g in (part[part.cls == c] for c in classes)]
        cm = float(np.mean(means))
        traces.append(go.Bar(x=[str(c) for c in classes] + ["mean"], y=means + [cm], name=m,
                             error_y={"type": "data",
                                      "array": sds + [float(np.std(means, ddof=1)) if len(means) > 1 else 0.0]},
                             customdata=seeds + [f"mean over {len(classes)} classes"],
                             hovertemplate=f"{m}, class %{{x}}<br>{metric.upper()} %{{y:.3f}} ± %{{error_y.array:.3f}}"
                                           "<br>%{customdata}<extra></extra>"))
    if reference is not None and metric == "auroc":
        ref = reference[(reference.dataset == dataset) & (reference.protocol == protocol)
                        & reference.method.isin(chosen) & reference.auroc.notna()]
        if len(ref):
            traces.append(go.Scatter(x=[str(c) for c in ref.cls], y=ref.auroc, mode="markers", name="paper",
                                     marker={"symbol": "line-ew-open", "size": 18, "color": "black",
                                             "line": {"width": 3}},
                                     customdata=ref.method,
                                     hovertemplate="paper, %{customdata}, class %{x}: %{y:.3f}<extra></extra>"))
    fig = fig if fig is not None else _new(go.Figure(), widget)
    with fig.batch_update() if hasattr(fig, "batch_update") else _Null():
        fig.data = ()
        fig.add_traces(traces)
        line, note = [], []
        if "knn" in chosen:
            v = float(rows[rows.method == "knn"].groupby("cls")[metric].mean().mean())
            line = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": v, "y1": v,
                     "line": {"dash": "dash", "color": "grey"}}]
            note = [{"xref": "paper", "x": 1, "yref": "y", "y": v, "text": f"knn mean {v:.2f}",
                     "showarrow": False, "xanchor": "right", "yanchor": "bottom"}]
        fig.layout.shapes, fig.layout.annotations = line, note
        fig.update_layout(barmode="group", height=420, yaxis={"range": [0, 1.05], "title": metric.upper()},
                          xaxis={"title": "left-out class" if protocol == "loo" else "class"},
                          title=f"{dataset} {protocol}: {metric.upper()} per class "
                                "(mean over seeds ± SD; hover for seeds)")
    return fig


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
