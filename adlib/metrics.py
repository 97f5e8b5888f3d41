"""Metrics: detection quality (scikit-learn underneath) and boundary quality on 2D toys.

Detection metrics take labels ``y`` (1 = anomaly) and scores (higher = more anomalous).
Boundary metrics take a toy distribution ``dist`` (exact density) and generated samples.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch
from sklearn import metrics as skm

__all__ = ["auroc", "auprc", "threshold_metrics", "best_f1", "minmax", "summary", "toy_report", "boundary_precision",
           "far_share", "mode_coverage", "boundary_report", "grid_mass", "grid_classification",
           "cluster_check", "mode_groups", "class_groups", "classifier", "class_coverage"]


def _np(a) -> np.ndarray:
    if torch.is_tensor(a):
        a = a.detach().cpu().numpy()
    return np.asarray(a).reshape(-1)


def _check(y, scores):
    y, s = _np(y).astype(int), _np(scores).astype(float)
    if len(y) != len(s):
        raise ValueError(f"labels ({len(y)}) and scores ({len(s)}) differ in length")
    if not set(np.unique(y)) <= {0, 1} or len(np.unique(y)) < 2:
        raise ValueError("labels must hold both 0 (normal) and 1 (anomaly)")
    if not np.isfinite(s).all():
        raise ValueError(f"{(~np.isfinite(s)).sum()} scores are NaN or infinite")
    return y, s


def auroc(y, scores) -> float:
    """Area under the ROC curve: the probability that a random anomaly scores higher than
    a random normal point (``sklearn.metrics.roc_auc_score``). 0.5 = chance."""
    return float(skm.roc_auc_score(*_check(y, scores)))


def auprc(y, scores) -> float:
    """Area under the precision-recall curve with anomalies as the positive class, as
    average precision (``sklearn.metrics.average_precision_score``). Chance = the anomaly
    rate of the test set, so always read it next to that rate."""
    return float(skm.average_precision_score(*_check(y, scores)))


def threshold_metrics(y, scores, threshold: float) -> dict:
    """Call ``score >= threshold`` an anomaly; return precision, recall, F1 and accuracy
    (anomaly = positive class; precision is 0 when nothing is flagged)."""
    y, s = _check(y, scores)
    pred = (s >= float(threshold)).astype(int)
    return {
        "precision": float(skm.precision_score(y, pred, zero_division=0)),
        "recall": float(skm.recall_score(y, pred, zero_division=0)),
        "f1": float(skm.f1_score(y, pred, zero_division=0)),
        "accuracy": float(skm.accuracy_score(y, pred)),
    }


def best_f1(y, scores) -> dict:
    """The threshold with the highest F1 over the PR curve, and the metrics there.
    Optimistic (the threshold sees the labels): use it to compare methods, not to deploy."""
    y, s = _check(y, scores)
    prec, rec, thr = skm.precision_recall_curve(y, s)
    f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
    t = float(thr[int(np.argmax(f1))])
    return {"threshold": t, **threshold_metrics(y, s, t)}


def minmax(scores) -> torch.Tensor:
    """GANomaly's eq. 13: scale a *set* of scores to [0, 1], (s - min S) / (max S - min S).
    The result depends on the whole set, so apply it to a finished set of scores, never
    inside ``score`` (a point's score must not depend on its neighbours); AUROC and AUPRC
    are unchanged by it."""
    s = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    span = s.max() - s.min()
    if not torch.isfinite(span):
        raise ValueError("minmax needs finite scores")
    return ((s - s.min()) / span if span > 0 else torch.zeros_like(s)).float()


def summary(y, scores) -> dict:
    """AUROC, AUPRC and the best-threshold F1 of one score (the labs' table row)."""
    return {"auroc": auroc(y, scores), "auprc": auprc(y, scores), "f1": best_f1(y, scores)["f1"]}


def toy_report(split, scores) -> dict:
    """``summary`` on a ``data.toy_split`` test set, then AUROC of the normal points against
    each anomaly kind alone (``auroc_far``, ``auroc_near``): which kind a detector misses."""
    out = summary(split.test_y, scores)
    labels, s = split.test_labels, torch.as_tensor(scores)
    for i, kind in enumerate(split.info["kinds"]):
        keep = (labels == 0) | (labels == 1 + i)
        out[f"auroc_{kind}"] = auroc(split.test_y[keep], s[keep])
    return out


def _density(dist, samples) -> torch.Tensor:
    with torch.no_grad():
        return dist.log_prob(torch.as_tensor(samples, dtype=torch.float32)).double().exp()


def boundary_precision(dist, samples, eps: float = 0.01) -> float:
    """BP1 (BDSG paper sec. 4.2): the share of ``samples`` whose *true* density lies below
    the tail level ``dist.tail_level(eps)``, i.e. outside the region that holds 1 - eps of
    the data mass. A boundary generator wants this high (the paper reports 80 % at 1 %)."""
    return float((_density(dist, samples) < dist.tail_level(eps)).double().mean())


def far_share(dist, samples, eps: float = 0.01) -> float:
    """The share of ``samples`` whose true density lies below ``dist.tail_level(eps / 100)``:
    beyond the contour that holds all but eps/100 of the mass, i.e. samples that wandered
    away from the data instead of sitting on its boundary. Want this low."""
    return float((_density(dist, samples) < dist.tail_level(eps / 100)).double().mean())


def _nearest_mode(dist, x: torch.Tensor) -> torch.Tensor:
    """Index of the nearest mode of toy ``dist`` for every point of ``x``."""
    return torch.cdist(x, torch.as_tensor(dist.modes, dtype=torch.float32)).argmin(dim=1)


def mode_coverage(dist, samples, bin_degrees: float = 10.0) -> dict:
    """How well ``samples`` surround every mode of ``dist``.

    Each sample is assigned to its nearest mode (Euclidean distance to ``dist.modes``).
    ``shares[k]`` = the fraction of samples assigned to mode k. ``angular[k]`` = the
    fraction of the 360 / bin_degrees angular bins around mode k (angle of sample - mode)
    that hold at least one of its samples: 1.0 means mode k is ringed all round, a collapsed
    generator scores near 0. Also returns ``min_share`` and ``min_angular`` over modes.
    """
    x = torch.as_tensor(samples, dtype=torch.float32)
    modes = torch.as_tensor(dist.modes, dtype=torch.float32)
    k = _nearest_mode(dist, x)
    n_bins = int(round(360 / bin_degrees))
    shares, angular = [], []
    for m in range(len(modes)):
        d = x[k == m] - modes[m]
        shares.append(len(d) / max(len(x), 1))
        ang = torch.atan2(d[:, 1], d[:, 0])  # (-pi, pi]
        bins = ((ang + math.pi) / (2 * math.pi) * n_bins).long().clamp(0, n_bins - 1)
        angular.append(len(torch.unique(bins)) / n_bins)
    return {"shares": shares, "angular": angular,
            "min_share": min(shares), "min_angular": min(angular)}


def boundary_report(dist, samples, eps: float = 0.01) -> dict:
    """The lab-01 table row for a set of boundary samples: ``bp1``, ``far_share``,
    ``min_mode_share`` and ``min_angular_coverage`` (definitions above)."""
    cov = mode_coverage(dist, samples)
    return {"bp1": boundary_precision(dist, samples, eps),
            "far_share": far_share(dist, samples, eps),
            "min_mode_share": cov["min_share"], "min_angular_coverage": cov["min_angular"]}


def grid_mass(model, bounds, n: int = 300) -> float:
    """The integral of ``model.prob`` over the box ``bounds`` on an n x n grid (Riemann sum):
    about 1 for a density whose mass lies in the box."""
    from .data import grid

    (x0, x1), (y0, y1) = bounds
    cell = (x1 - x0) * (y1 - y0) / (n - 1) ** 2
    with torch.no_grad():
        return model.prob(grid(bounds, n)).sum().item() * cell


def grid_classification(true, learned, eps: float = 0.01, bounds=None, n: int = 200) -> dict:
    """The BDSG paper's grid evaluation (sec. 4.2): on an n x n grid of equidistant points
    over ``bounds`` (default: the true distribution's), a point is truly anomalous when
    ``true`` density < ``true.tail_level(eps)`` and flagged when the ``learned`` density <
    ``learned.tail_level(eps)``. Returns precision, recall, F1 and accuracy of the flags
    (anomaly = positive class). Most grid points are far from the data and easy, so read
    precision and recall, not accuracy."""
    from .data import grid

    g = grid(bounds or true.bounds, n)
    truth = (_density(true, g) < true.tail_level(eps)).long()
    flagged = (_density(learned, g) < learned.tail_level(eps)).double()
    return threshold_metrics(truth, flagged, 0.5)


def cluster_check(samples, groups, p: float = 2.0) -> dict:
    """TailGAN's clustering check (eq. 2-5) of generated tail samples.

    ``groups`` holds the data of each mode / class: a list of (L_i, d) tensors. A sample is
    assigned to the group k with the nearest data point (eq. 2-3); its distance to that
    group is R (eq. 4); it *passes* when R is below the distance between group k and the
    nearest other group, min_{i != k} min_j ||x_ij - x_k||_p (eq. 5): it is closer to its
    own group than any point of another group is. Returns ``pass_share`` (over all samples),
    ``shares`` (samples per group) and ``pass_by_group``.
    """
    from .boundary import set_distance

    s = torch.as_tensor(samples, dtype=torch.float32).reshape(len(samples), -1)
    gs = [torch.as_tensor(g, dtype=torch.float32).reshape(len(g), -1) for g in groups]
    if len(gs) < 2:
        raise ValueError("cluster_check needs at least two groups")
    dist = torch.stack([set_distance(s, g, p=p) for g in gs], dim=1)  # (n, K)
    k = dist.argmin(dim=1)
    r = dist.gather(1, k[:, None]).squeeze(1)
    gap = torch.full((len(gs),), float("inf"))  # nearest other group, per group
    for a in range(len(gs)):
        for b in range(a + 1, len(gs)):  # the distance between two groups is symmetric
            d = set_distance(gs[b], gs[a], p=p).min().item()
            gap[a], gap[b] = min(gap[a], d), min(gap[b], d)
    ok = r < gap[k]
    shares = [float((k == i).float().mean()) for i in range(len(gs))]
    by_group = [float(ok[k == i].float().mean()) if (k == i).any() else 0.0
                for i in range(len(gs))]
    return {"pass_share": float(ok.float().mean()), "shares": shares, "pass_by_group": by_group}


def mode_groups(dist, x) -> list:
    """The points ``x`` grouped by the nearest mode of toy ``dist`` (``cluster_check``'s
    groups on 2-D data); empty groups are dropped."""
    x = torch.as_tensor(x, dtype=torch.float32)
    k = _nearest_mode(dist, x)
    return [x[k == i] for i in range(len(dist.modes)) if (k == i).any()]


def class_groups(x, labels, per_class: int | None = None) -> list:
    """The points ``x`` grouped by label (``cluster_check``'s groups on images), at most
    ``per_class`` of each (the first ones) to bound the cost of the distances."""
    return [x[labels == c][:per_class] for c in torch.unique(labels)]


# --------------------------------------------------------------------------- mode collapse on images


def _classifier_net(shape, n_classes: int) -> torch.nn.Module:
    from torch import nn

    c, h, _ = shape
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * (h // 4) ** 2, 128), nn.ReLU(), nn.Linear(128, n_classes))


def classifier(dataset: str, quick: bool = False) -> dict:
    """A small CNN that labels images of ``dataset``: an *evaluation tool only* (no detector
    ever sees it or the labels). Trained once on the labelled training split (2 epochs of
    Adam, seed 0; ``quick``: 1 epoch on 5000 images), cached under
    ``<runs root>/classifiers/``, its test accuracy printed when trained.
    Returns {"net", "accuracy", "n_train"}."""
    from . import data, runs, train

    n_train = 5000 if quick else None
    path = runs.run_dir("classifiers") / f"{dataset}{'-quick' if quick else ''}.pt"
    d = data.images(dataset)
    net = _classifier_net(tuple(d.train_x.shape[1:]), len(d.classes))
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=False)
        net.load_state_dict(saved["net"])
        return {"net": net.eval(), "accuracy": saved["accuracy"], "n_train": saved["n_train"]}
    keep = data._stratified(d.train_y, n_train, 0)
    x, y = d.train_x[keep], d.train_y[keep]
    epochs, batch = (1 if quick else 2), 128
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        order = torch.cat([torch.randperm(len(x)) for _ in range(epochs)])

        def step(i):
            idx = order[i * batch:(i + 1) * batch]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            return {"loss": train.update(opt, loss)}

        train.run(step, len(order) // batch, seed=0, progress=False, desc=f"classifier {dataset}")
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(d.test_x[i:i + 1000]).argmax(1) for i in range(0, len(d.test_x), 1000)])
    acc = float((pred == d.test_y).float().mean())
    print(f"coverage classifier for {dataset}: test accuracy {acc:.3f} ({len(x)} training images)")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save({"net": net.state_dict(), "accuracy": acc, "n_train": len(x)}, tmp)
    os.replace(tmp, path)
    return {"net": net, "accuracy": acc, "n_train": len(x)}


def class_coverage(samples, dataset: str, normal=None, quick: bool = False, least: float = 0.05) -> dict:
    """Which classes generated ``samples`` (images in [-1, 1]) look like, by ``classifier``:
    {"shares": share per class, "covered": number of ``normal`` classes (default: all)
    holding at least ``least`` (5 %) of the samples, "n_normal", "accuracy": the
    classifier's test accuracy}. A generator that collapsed onto one digit covers 1."""
    clf = classifier(dataset, quick=quick)
    x = torch.as_tensor(samples, dtype=torch.float32).cpu()
    with torch.no_grad():
        pred = torch.cat([clf["net"](x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    n = clf["net"][-1].out_features
    shares = (torch.bincount(pred, minlength=n).float() / len(pred)).tolist()
    normal = list(range(n)) if normal is None else [int(k) for k in normal]
    return {"shares": shares, "covered": sum(shares[k] >= least for k in normal), "n_normal": len(normal),
            "accuracy": clf["accuracy"]}
