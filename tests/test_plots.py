"""Each plot returns its figure and draws what it claims."""
import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

from adlib import data, metrics, plots

matplotlib.use("Agg")
Y = torch.tensor([0] * 50 + [1] * 50)
S = torch.cat([torch.randn(50, generator=torch.Generator().manual_seed(0)),
               torch.randn(50, generator=torch.Generator().manual_seed(1)) + 2])


def test_roc_and_pr_legends_carry_the_metric():
    fig = plots.roc(Y, {"a": S, "b": -S})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == f"a (AUROC {metrics.auroc(Y, S):.3f})"
    assert labels[1] == f"b (AUROC {metrics.auroc(Y, -S):.3f})"
    fig = plots.pr(Y, S)
    assert f"{metrics.auprc(Y, S):.3f}" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_score_hist_draws_both_classes():
    fig = plots.score_hist(Y, S)
    assert isinstance(fig, Figure)
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} == {"normal", "anomaly"}


def test_boundary_draws_data_samples_and_the_tail_contour():
    toy = data.toy("gaussian")
    b = torch.tensor([[3.5, 0.0], [0.0, -3.5]])
    fig = plots.boundary(toy, b, eps=0.01)
    ax = fig.axes[0]
    assert (ax.collections[-1].get_offsets() == b.numpy()).all()  # B(z) drawn last
    tail = [c for c in ax.collections if hasattr(c, "levels") and len(c.levels) == 1]
    assert pytest.approx(tail[0].levels[0], rel=1e-6) == torch.tensor(toy.tail_level(0.01)).log().item()


def test_history_has_one_panel_per_term():
    fig = plots.history({"L0": [3, 2, 1], "L1": [1, 2, 3]})
    assert [a.get_title() for a in fig.axes] == ["L0", "L1"]


def test_architectures_draw_one_diagram_per_method():
    fig = plots.architectures()
    assert [ax.get_title() for ax in fig.axes] == ["AnoGAN", "EGBAD (BiGAN)", "GANomaly", "kNN"]
    labels = {t.get_text() for t in fig.axes[2].texts}
    assert {"G_E", "G_D", "E", "D", "x̂", "ẑ"} <= labels


def test_reconstructions_and_arrows():
    x = torch.rand(12, 1, 28, 28) * 2 - 1
    fig = plots.reconstructions({"x": x, "rec": -x}, nrow=6)
    assert [ax.get_ylabel() for ax in fig.axes] == ["x", "rec"]
    p = torch.randn(5, 2)
    q = plots.arrows(p, p + 1).axes[0].collections[-1]
    assert abs(q.U - 1).max() < 1e-5 and abs(q.V - 1).max() < 1e-5  # each arrow spans rec - x
