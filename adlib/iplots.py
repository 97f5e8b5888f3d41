"""Plotly figures, where a reader would rather hover or zoom than read.

* ``curves(y, scores)``: ROC and precision-recall curves side by side; hovering a point shows
  its threshold with the FPR / TPR or the recall / precision there.
* ``surface(score, bounds)``: a 2-D score function as a heatmap, the score on hover.
* ``loo_chart(df, ...)``: lab 06's per-class results, mean over seeds ± SD, every seed's
  value on hover, the papers' numbers as black ticks.

Each returns a plain ``plotly.graph_objects.Figure``; ``widget=True`` returns a
``FigureWidget`` (an anywidget) instead. ``show(fig)`` (a lab cell) and lab 06's explorer
(``adlib.widgets.loo_explorer``) both display them through plotly's MIME type only
(``bundle``), drawn by the ``jupyterlab-plotly`` extension installed with plotly (plotly.js
from the installed package, offline, in JupyterLab and Voila). Known
problem, worked around: a FigureWidget constructed with data stayed empty in Voila (plotly
7.1, anywidget 0.11, Voila 0.5.13), so ``widget=True`` adds the traces after construction.
(A plotly figure in lab 05 once seemed to stall Voila; that was Voila's websocket ping
timeout, which stalls any lab running longer than 90 s, now turned off in
``adlib.app.voila_command``.) Lab 05 shows its MNIST ROC / PR curves this way; the other
labs' figures are matplotlib still. Matplotlib
(``adlib.plots``) stays where a static figure teaches better: density contours, image grids.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots
from sklearn import metrics as skm

from .data import grid


def bundle(fig) -> dict:
    """``fig`` as a display bundle of plotly's MIME type only, drawn by the jupyterlab-plotly
    renderer (plotly's default in a kernel also inlines all of plotly.js, 4.6 MB, as HTML)."""
    return {**pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict()), "text/plain": "<plotly figure>"}


def show(fig) -> None:
    """Display ``fig`` in a notebook or Voila (hover, zoom), offline, as ``bundle``."""
    from IPython.display import display
    display(bundle(fig), raw=True)


def _np(a):
    return (a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)).reshape(-1)


def _list(a) -> list:
    """Plain floats for the widget's JSON messages, NaN / inf as None (JSON has no NaN: a
    message holding one is dropped by the browser, and the figure stays empty)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=float).reshape(-1)]


def _new(fig, widget: bool):
    """``fig``, or as a FigureWidget. Its traces and layout are added *after* construction: a
    FigureWidget constructed with data stayed empty in Voila (plotly 7.1, anywidget 0.11)."""
    if not widget:
        return fig
    w = go.FigureWidget()
    w.add_traces(list(fig.data))
    w.update_layout(fig.layout.to_plotly_json())
    return w


def curves(y, scores, widget: bool = False, title: str | None = None):
    """ROC (left) and precision-recall (right) curves of ``scores`` (one array or a dict
    {name: scores}) against the labels ``y`` (1 = anomaly)."""
    y = _np(y)
    scores = scores if isinstance(scores, dict) else {"score": scores}
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ROC", "precision-recall"))
    for i, (name, s) in enumerate(scores.items()):
        s = _np(s)
        colour = _PALETTE[i % len(_PALETTE)]
        fpr, tpr, thr = skm.roc_curve(y, s)
        fig.add_scatter(x=_list(fpr), y=_list(tpr), customdata=_list(thr), mode="lines",
                        name=f"{name} (AUROC {skm.roc_auc_score(y, s):.3f})", legendgroup=name,
                        line={"color": colour},
                        hovertemplate="threshold %{customdata:.4g}<br>FPR %{x:.3f}<br>TPR %{y:.3f}"
                                      "<extra>%{fullData.name}</extra>", row=1, col=1)
        precision, recall, thr = skm.precision_recall_curve(y, s)
        fig.add_scatter(x=_list(recall[:-1]), y=_list(precision[:-1]), customdata=_list(thr), mode="lines",
                        showlegend=False,
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


def surface(score, bounds, n: int = 120, points=None, widget: bool = False, title: str | None = None,
            points_name: str = "data"):
    """The 2-D function ``score`` (e.g. a detector's ``score``) as a heatmap over the box
    ``bounds``, the score at the mouse on hover; optional ``points`` (e.g. the data, named
    ``points_name`` in the legend) on top."""
    (x0, x1), (y0, y1) = bounds
    values = _np(score(grid(bounds, n))).reshape(n, n)
    fig = go.Figure(go.Heatmap(x=_list(np.linspace(x0, x1, n)), y=_list(np.linspace(y0, y1, n)),
                               z=[_list(row) for row in values],
                               colorscale="Magma", colorbar={"title": {"text": "score"}},
                               hovertemplate="x %{x:.2f}, y %{y:.2f}<br>score %{z:.4g}<extra></extra>"))
    if points is not None:
        p = points.detach().cpu().numpy() if hasattr(points, "detach") else np.asarray(points)
        fig.add_scatter(x=_list(p[:, 0]), y=_list(p[:, 1]), mode="markers",
                        marker={"size": 2, "color": "cyan", "opacity": 0.4},
                        name=points_name, hoverinfo="skip")
    fig.update_layout(height=420, width=520, title=title or "score surface", showlegend=False)
    return _new(fig, widget)


def loo_chart(df, reference=None, dataset: str = "mnist", metric: str = "auroc", methods=(),
              protocol: str = "loo", widget: bool = False):
    """Per-class bars of ``metric`` for ``methods`` (all when empty) from a tidy results table
    (``adlib.results.table`` / ``recorded``): the mean over seeds with an SD whisker, every
    seed's value on hover, the papers' AUROCs (``reference``) as black ticks and the kNN mean
    as a dashed line."""
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
        traces.append(go.Bar(x=[str(c) for c in classes] + ["mean"], y=_list(means + [cm]), name=m,
                             error_y={"type": "data",
                                      "array": _list(sds + [float(np.std(means, ddof=1)) if len(means) > 1 else 0.0])},
                             customdata=seeds + [f"mean over {len(classes)} classes"],
                             hovertemplate=f"{m}, class %{{x}}<br>{metric.upper()} %{{y:.3f}} ± %{{error_y.array:.3f}}"
                                           "<br>%{customdata}<extra></extra>"))
    if reference is not None and metric == "auroc":
        ref = reference[(reference.dataset == dataset) & (reference.protocol == protocol)
                        & reference.method.isin(chosen) & reference.auroc.notna()]
        if len(ref):
            traces.append(go.Scatter(x=[str(c) for c in ref.cls], y=_list(ref.auroc), mode="markers", name="paper",
                                     marker={"symbol": "line-ew-open", "size": 18, "color": "black",
                                             "line": {"width": 3}},
                                     customdata=list(ref.method),
                                     hovertemplate="paper, %{customdata}, class %{x}: %{y:.3f}<extra></extra>"))
    fig = go.Figure(traces)
    if "knn" in chosen:
        v = float(rows[rows.method == "knn"].groupby("cls")[metric].mean().mean())
        fig.add_hline(y=v, line={"dash": "dash", "color": "grey"}, annotation_text=f"knn mean {v:.2f}",
                      annotation_position="top right")
    fig.update_layout(barmode="group", height=420, yaxis={"range": [0, 1.05], "title": metric.upper()},
                      xaxis={"title": "left-out class" if protocol == "loo" else "class"},
                      title=f"{dataset} {protocol}: {metric.upper()} per class "
                            "(mean over seeds ± SD; hover for seeds)")
    return _new(fig, widget)
