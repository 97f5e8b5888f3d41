"""The plotly figure builders: hover fields set, numbers equal to scikit-learn's and the table's."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from adlib import iplots


def test_curves_hover_the_threshold_with_the_rates():
    y = np.r_[np.zeros(50), np.ones(50)]
    s = np.r_[np.linspace(0, 1, 50), np.linspace(0.5, 1.5, 50)]
    fig = iplots.curves(y, {"a": s, "b": -s})
    assert isinstance(fig, go.Figure) and isinstance(iplots.curves(y, s, widget=True), go.FigureWidget)
    roc_a, pr_a = fig.data[0], fig.data[1]
    assert "threshold %{customdata" in roc_a.hovertemplate and "FPR %{x" in roc_a.hovertemplate
    assert "recall %{x" in pr_a.hovertemplate and "precision %{y" in pr_a.hovertemplate
    from sklearn.metrics import roc_auc_score, roc_curve
    assert f"AUROC {roc_auc_score(y, s):.3f}" in roc_a.name and "AUROC" in fig.data[2].name
    fpr, tpr, thr = roc_curve(y, s)
    assert np.allclose(roc_a.x, fpr) and np.allclose(roc_a.y, tpr) and np.allclose(roc_a.customdata[1:], thr[1:])
    assert roc_a.customdata[0] is None  # sklearn's first threshold is inf: JSON cannot carry it
    assert len(pr_a.x) == len(pr_a.customdata)  # one threshold per hovered point


def test_surface_hovers_the_score():
    fig = iplots.surface(lambda x: x[:, 0] ** 2 + x[:, 1], ((-1, 1), (-2, 2)), n=11,
                         points=torch.zeros(5, 2))
    heat = fig.data[0]
    assert "score %{z" in heat.hovertemplate and np.asarray(heat.z).shape == (11, 11)
    assert heat.z[0][0] == pytest.approx(1 - 2)  # (x, y) = (-1, -2): rows are y, columns x


def test_loo_chart_shows_each_seed_on_hover_and_the_paper():
    df = pd.DataFrame({"method": ["knn"] * 4 + ["vae"] * 4, "dataset": "mnist", "protocol": "loo",
                       "cls": [0, 0, 1, 1] * 2, "seed": [0, 1] * 4,
                       "auroc": [0.9, 0.8, 0.4, 0.5, 0.7, 0.7, 0.6, 0.8]})
    ref = pd.DataFrame({"method": ["vae"], "dataset": ["mnist"], "protocol": ["loo"], "cls": ["0"], "auroc": [0.96]})
    fig = iplots.loo_chart(df, ref)
    knn = fig.data[0]
    assert list(knn.x) == ["0", "1", "mean"] and knn.y[0] == pytest.approx(0.85)
    assert knn.error_y.array[0] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert "seed 0: 0.900<br>seed 1: 0.800" == knn.customdata[0] and "%{customdata}" in knn.hovertemplate
    assert fig.data[-1].name == "paper" and list(fig.data[-1].y) == [0.96]
    assert [t.name for t in iplots.loo_chart(df, ref, methods=["vae"]).data] == ["vae", "paper"]
    assert fig.layout.shapes[0].y0 == pytest.approx(np.mean([0.85, 0.45]))  # the kNN line
    with pytest.raises(ValueError, match="cifar10"):
        iplots.loo_chart(df, dataset="cifar10")


def test_lab06_explorer_redraws_its_plotly_chart_on_a_choice():
    from adlib import results, widgets
    kit = results.recorded("course")
    box = widgets.loo_explorer(kit, results.reference(), methods=["knn", "vae"])
    (ds, metric, _), out, caption = box.children[0].children, box.children[1], box.children[2]

    def shown():
        (item,) = out.outputs
        return item["data"]["application/vnd.plotly.v1+json"]

    first = shown()
    assert [t["name"] for t in first["data"]][:2] == ["knn", "vae"] and "mnist" in first["layout"]["title"]["text"]
    ds.value = "cifar10"
    assert "cifar10" in shown()["layout"]["title"]["text"] and shown()["data"][0]["y"] != first["data"][0]["y"]
    metric.value = "auprc"
    assert shown()["layout"]["yaxis"]["title"]["text"] == "AUPRC"
    assert caption.value.startswith("dataset = cifar10 · metric = auprc")


def test_show_displays_plotly_json_only(monkeypatch):
    """Offline and light: the plotly MIME type (drawn by the installed extension), never
    plotly's HTML with all of plotly.js inline."""
    import IPython.display
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    fig = iplots.curves(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    iplots.show(fig)
    ((obj, raw),) = shown
    assert raw and set(obj) == {"application/vnd.plotly.v1+json", "text/plain"}
    assert obj["application/vnd.plotly.v1+json"]["data"][0]["hovertemplate"].startswith("threshold")
