"""Metrics against values computed by hand."""
import math

import pytest
import torch

from adlib import data, metrics

Y = [0, 0, 1, 1]
S = [0.1, 0.4, 0.35, 0.8]


def test_auroc_and_auprc_by_hand():
    assert metrics.auroc(Y, S) == pytest.approx(0.75)
    # ranked: 0.8 (anomaly) 0.4 (normal) 0.35 (anomaly): AP = 0.5 * 1 + 0.5 * 2/3
    assert metrics.auprc(Y, S) == pytest.approx(0.5 + 1 / 3)


def test_threshold_metrics_by_hand():
    m = metrics.threshold_metrics(Y, S, 0.35)  # flags 0.4, 0.35, 0.8
    assert m == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "accuracy": 0.75})


def test_best_f1_finds_the_separating_threshold():
    m = metrics.best_f1([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9])
    assert m["f1"] == 1.0 and m["threshold"] == pytest.approx(0.7)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="both 0"):
        metrics.auroc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="length"):
        metrics.auroc([0, 1], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        metrics.auroc([0, 1], [0.1, float("nan")])


def test_boundary_precision_and_far_share_on_known_radii():
    toy = data.toy("gaussian")  # tail levels: eps=1 % at r=3.03, eps=0.01 % at r=4.29
    pts = torch.tensor([[0.0, 0.0], [3.5, 0.0], [0.0, 6.0]])
    assert metrics.boundary_precision(toy, pts, 0.01) == pytest.approx(2 / 3)
    assert metrics.far_share(toy, pts, 0.01) == pytest.approx(1 / 3)


def test_mode_coverage_counts_shares_and_angles():
    toy = data.toy("bimodal")  # modes at (-5, 0) and (5, 0)
    a = torch.linspace(0, 2 * math.pi, 361)[:-1]
    full = torch.stack([a.cos(), a.sin()], 1) * 3 + toy.modes[0]
    half = full[a < math.pi] - toy.modes[0] + toy.modes[1]
    cov = metrics.mode_coverage(toy, torch.cat([full, half]))
    assert cov["shares"] == pytest.approx([2 / 3, 1 / 3])
    assert cov["angular"] == pytest.approx([1.0, 0.5])
    assert cov["min_share"] == pytest.approx(1 / 3) and cov["min_angular"] == pytest.approx(0.5)


def test_cluster_check_by_hand():
    # two groups on a line; nearest points of the groups are 4 apart (x = 1 and x = 5)
    g0 = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    g1 = torch.tensor([[5.0, 0.0], [6.0, 0.0]])
    samples = torch.tensor([[-1.0, 0.0],   # group 0, R = 1 < 4: pass
                            [6.0, 3.5],    # group 1, R = 3.5 < 4: pass
                            [1.0, 4.5],    # group 0, R = 4.5 >= 4: fail
                            [3.0, 0.0]])   # ties to group 0 (R = 2 < 4): pass
    m = metrics.cluster_check(samples, [g0, g1])
    assert m["pass_share"] == pytest.approx(0.75)
    assert m["shares"] == pytest.approx([0.75, 0.25])
    assert m["pass_by_group"] == pytest.approx([2 / 3, 1.0])
    with pytest.raises(ValueError, match="two groups"):
        metrics.cluster_check(samples, [g0])


def test_summary_and_toy_report_split_the_anomaly_kinds():
    split = data.toy_split(data.toy("gaussian"), n_normal=40, n_anomalies=20, seed=0, n_train=10)
    assert split.test_labels.tolist() == [0] * 40 + [1] * 10 + [2] * 10  # normal, far, near
    assert torch.equal(split.test_y, (split.test_labels > 0).long())
    # a score that ranks far anomalies on top, near ones below every normal point
    s = torch.cat([torch.linspace(0, 1, 40), torch.full((10,), 5.0), torch.full((10,), -1.0)])
    r = metrics.toy_report(split, s)
    assert r["auroc_far"] == 1.0 and r["auroc_near"] == 0.0
    assert r["auroc"] == pytest.approx(0.5)  # half the anomalies above, half below all normals
    assert r == pytest.approx({**metrics.summary(split.test_y, s), "auroc_far": 1.0, "auroc_near": 0.0})
    assert set(metrics.summary(split.test_y, s)) == {"auroc", "auprc", "f1"}
