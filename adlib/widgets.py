"""Interactive explorers for the labs' "Explore" sections (ipywidgets).

The pattern: a pure ``render(**knobs) -> figure`` that can be called (and tested) without a
browser, wired to sliders by ``explorer``. Sliders use ``continuous_update=False`` so that
retraining happens once, on release, never on every tick of a drag.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
import time
import traceback

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from . import data, methods, metrics, plots


def explorer(render, **controls) -> W.VBox:
    """Controls ``controls`` (name -> widget) above an output that shows
    ``render(**values)``, drawn once now and again whenever a control is released.

    Under the figure a caption (CSS class ``adlib-caption``) says which values it was drawn
    with and how long that took, so a reader, and the browser tests, can tell a fresh
    figure from a stale one. The box has the CSS class ``adlib-explorer``.

    The figure is put into the Output widget's ``outputs`` directly instead of capturing
    with ``with out:``: headless runners (nbclient, under papermill and nbval) can hang on
    the capture path (jupyter/nbclient#312). A failing render shows its traceback in place.
    """
    out, caption = W.Output(), W.HTML()
    caption.add_class("adlib-caption")
    for w in controls.values():
        if hasattr(w, "continuous_update"):
            w.continuous_update = False

    def show(change=None):
        values = {name: w.value for name, w in controls.items()}
        said = " · ".join(f"{w.description or name} = {_fmt(values[name])}"
                          for name, w in controls.items())
        caption.value = f"drawing with {said} ..."  # the old figure stays until then
        start = time.perf_counter()
        try:
            fig = render(**values)
        except Exception:  # noqa: BLE001 - show the user what went wrong, keep the widget alive
            out.outputs = ()
            out.append_stderr(traceback.format_exc())
            caption.value = f"failed with {said}"
            return
        out.outputs = ()
        out.append_display_data(fig)
        plt.close(fig)
        caption.value = f"{said} (drawn in {time.perf_counter() - start:.1f} s)"

    for w in controls.values():
        w.observe(show, names="value")
    show()
    box = W.VBox([W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap")),
                  out, caption])
    box.add_class("adlib-explorer")
    return box


def _fmt(v) -> str:
    """A control's value for the caption: floats to 3 significant digits."""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def log_slider(value: float, lo: float, hi: float, description: str) -> W.FloatLogSlider:
    """A slider over [lo, hi] on a log scale (weights span decades)."""
    return W.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi),
                            step=0.25, description=description, readout_format=".1e",
                            continuous_update=False)


def bdsg_boundary(toy: str = "bimodal", lambda1: float = 1e-3, lambda2: float = 5e-4,
                  steps: int = 8000, seed: int = 0, n: int = 1500, eps: float = 0.01,
                  density=None):
    """Train BDSG on a toy with the given weights and draw its boundary; the title gives
    BP1, the far share and the worst mode's angular coverage (all judged by the *true*
    density). ``density``: what B is trained against, None for the toy's exact density or
    a fitted ``adlib.density.Flow`` (lab 02). Returns the figure."""
    dist = data.toy(toy)
    b = _fit_cached("bdsg", toy, density, steps, seed, n,
                    (("lambda1", lambda1), ("lambda2", lambda2)))
    r = metrics.boundary_report(dist, b, eps)
    return _draw(dist, b, eps, f"{toy}: λ1={lambda1:.1e}, λ2={lambda2:.1e}", r,
                 f"min angular coverage={r['min_angular_coverage']:.2f}")


def tailgan_tail(density, toy: str = "bimodal", w_d: float = 2e-3, w_sc: float = 5e-3,
                 steps: int = 3000, seed: int = 0, n: int = 1500, eps: float = 0.01):
    """Train TailGAN's T on a fitted flow ``density`` of a toy with the given weights and
    draw its samples; the title gives BP1, the far share and the clustering check's pass
    share (eq. 2-5, modes as the groups). Returns the figure."""
    dist = data.toy(toy)
    t = _fit_cached("tailgan", toy, density, steps, seed, n, (("w_d", w_d), ("w_sc", w_sc)))
    x = dist.sample(10_000, seed=seed + 1)
    check = metrics.cluster_check(t, metrics.mode_groups(dist, x))
    return _draw(dist, t, eps, f"{toy}: w_d={w_d:.1e}, w_sc={w_sc:.1e}",
                 metrics.boundary_report(dist, t, eps), f"cluster check={check['pass_share']:.2f}")


def omasgan_boundary(det, x, split, dist, mu: float = 8.0, nu: float = 20.0,
                     divergence: str | None = None, n: int = 1500, seed: int = 0,
                     eps: float = 0.01):
    """OMASGAN with new Task 2 weights: ``det.refit(x, mu=, nu=)`` retrains Task 2, Task 3
    and J on the fitted detector ``det`` (Task 1 kept). Another ``divergence`` refits from
    Task 1 (once per divergence). Left: the B samples over the toy ``dist``'s contours;
    right: J's scores on ``split``'s test set, normal vs anomalous. Returns the figure."""
    divergence = divergence or det.config.divergence
    key = (det, divergence, mu, nu)
    if key not in _OMASGAN:
        root = det
        if divergence != det.config.divergence:
            if (det, divergence) not in _OMASGAN:
                _OMASGAN[det, divergence] = methods.make("omasgan", **{
                    **vars(det.config), "divergence": divergence, "checkpoint": None,
                    "progress": False}).fit(x)
            root = _OMASGAN[det, divergence]
        same = (mu, nu) == (root.mu, root.nu)
        _OMASGAN[key] = root if same else root.refit(x, mu=mu, nu=nu, progress=False)
    fitted = _OMASGAN[key]
    scores = fitted.score(split.test_x)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    b = fitted.boundary(n, seed=seed)
    r = metrics.boundary_report(dist, b, eps)
    plots.boundary(dist, b, ax=axes[0], eps=eps)
    axes[0].set_title(f"{divergence}: μ={mu:.3g}, ν={nu:.3g}\nBP1={r['bp1']:.2f}  far={r['far_share']:.2f}"
                      f"  min angular coverage={r['min_angular_coverage']:.2f}", fontsize=9)
    plots.score_hist(split.test_y, scores, ax=axes[1],
                     title=f"J's logit: AUROC {metrics.auroc(split.test_y, scores):.3f}")
    fig.tight_layout()
    return fig


_OMASGAN: dict = {}  # (detector, divergence, mu, nu) -> refitted detector (kept alive)


def historyad_tv(det, x, split, dist, alpha: float = 1.0, beta: float = 3.0, lam: float = 10.0,
                 n: int = 2000, seed: int = 0):
    """HistoryAD with other P_Ghist weights: a copy of the fitted detector ``det`` retrains
    only D_TV (``fit_tv(x, alpha=, beta=, lam=)``) on the same WGAN history. Left: the
    P_Ghist cloud coloured by time over the toy ``dist``; right: D_TV's score surface with
    the AUROC on ``split``'s test set. ``det`` itself is left as it was. Returns the figure."""
    key = (det, alpha, beta, lam)
    if (alpha, beta, lam) == (det.alpha, det.beta, det.lam):
        _HISTORYAD[key] = det
    if key not in _HISTORYAD:
        fresh = copy.deepcopy(det)
        fresh.config = dataclasses.replace(fresh.config, progress=False)
        _HISTORYAD[key] = fresh.fit_tv(x, alpha=alpha, beta=beta, lam=lam)
    fitted = _HISTORYAD[key]
    cloud, t = fitted.history_sample(n, seed=seed, alpha=alpha, beta=beta)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    plots.history_cloud(dist, cloud, t, ax=axes[0],
                        title=f"P_Ghist: α={alpha:.3g}, β={beta:.3g}")
    auc = metrics.auroc(split.test_y, fitted.score(split.test_x))
    plots.surface(fitted.score, dist.bounds, ax=axes[1], points=x[:1500],
                  title=f"D_TV (λ={lam:.3g}): AUROC {auc:.3f}")
    fig.tight_layout()
    return fig


_HISTORYAD: dict = {}  # (detector, alpha, beta, lam) -> a copy with D_TV retrained (kept alive)


def anogan_search(det, x, y, search_steps: int = 500, lam: float = 0.1, n_show: int = 8):
    """AnoGAN's test-time search with other Γ (``search_steps``) and λ (``lam``) on the fitted
    detector ``det`` (no retraining): the points ``x`` (labels ``y``, 1 = anomaly) are searched
    again, and the figure shows the score histogram with its AUROC on these points, the
    seconds the search took per 1000 points, and the first ``n_show`` normal and anomalous
    images over their reconstructions G(z_Γ). Returns the figure."""
    key = (det, search_steps, lam, x)
    if key not in _ANOGAN:
        start = time.perf_counter()
        z, loss = det.search(x, search_steps=search_steps, lam=lam)
        _ANOGAN[key] = z, loss, (time.perf_counter() - start) / len(x) * 1000
    z, loss, per_1000 = _ANOGAN[key]
    fig = plt.figure(figsize=(13, 4))
    grid = fig.add_gridspec(2, 2, width_ratios=[1, 1.4])
    plots.score_hist(y, loss, ax=fig.add_subplot(grid[:, 0]),
                     title=f"Γ={search_steps}, λ={lam:.2g}: AUROC {metrics.auroc(y, loss):.3f} "
                           f"on {len(x)} points\n{per_1000:.1f} s per 1000 points")
    for row, label in enumerate((0, 1)):
        pick = (y == label).nonzero().reshape(-1)[:n_show]
        pair = torch.cat([x[pick], det.reconstruct(x[pick], z=z[pick])])
        ax = fig.add_subplot(grid[row, 1])
        plots.images(pair, nrow=len(pick), ax=ax,
                     title=f"{'anomalies' if label else 'normal'}: x (top) and G(z_Γ) (bottom)")
    fig.tight_layout()
    return fig


_ANOGAN: dict = {}  # (detector, Γ, λ, points) -> (z_Γ, L(z_Γ), seconds per 1000)


def ganomaly_toy(x, split, dist, w_con: float = 50.0, latent_dim: int = 2, steps: int = 3000,
                 seed: int = 0, n_arrows: int = 300):
    """GANomaly retrained on the 2-D points ``x`` with the reconstruction weight ``w_con`` and
    bottleneck ``latent_dim`` (w_adv = w_enc = 1; once per setting, cached). Left: the score
    surface with arrows from test points to their reconstructions G(x); right: the scores of
    ``split``'s test set with the AUROC. Returns the figure."""
    key = (x, w_con, latent_dim, steps, seed)
    if key not in _GANOMALY:
        _GANOMALY[key] = methods.make("ganomaly", w_con=w_con, latent_dim=latent_dim, steps=steps,
                                      seed=seed, progress=False).fit(x)
    det = _GANOMALY[key]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    plots.surface(det.score, dist.bounds, ax=axes[0], points=x[:1500],
                  title=f"w_con={w_con:.3g}, latent {latent_dim}: score, x → G(x)")
    pick = torch.randperm(len(split.test_x), generator=torch.Generator().manual_seed(seed))[:n_arrows]
    plots.arrows(split.test_x[pick], det.reconstruct(split.test_x[pick]), ax=axes[0])
    scores = det.score(split.test_x)
    plots.score_hist(split.test_y, scores, ax=axes[1],
                     title=f"test scores: AUROC {metrics.auroc(split.test_y, scores):.3f}")
    fig.tight_layout()
    return fig


_GANOMALY: dict = {}  # (points, w_con, latent_dim, steps, seed) -> fitted detector


def _draw(dist, samples, eps, head: str, report: dict, extra: str):
    """The explorers' figure: samples over the toy's contours, the knobs and metrics above."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    plots.boundary(dist, samples, ax=ax, eps=eps)
    ax.set_title(f"{head}\nBP1={report['bp1']:.2f}  far={report['far_share']:.2f}  {extra}",
                 fontsize=9)
    return fig


@functools.lru_cache(maxsize=32)
def _fit_cached(method, toy, density, steps, seed, n, weights):
    """Fit once per setting: moving a slider back to a value it had redraws at once."""
    dist = data.toy(toy)
    det = methods.make(method, density=dist if density is None else density, steps=steps,
                       seed=seed, progress=False, **dict(weights))
    det.fit(dist.sample(10_000, seed=seed + 1))
    return det.boundary(n, seed=seed)


def loo_table(df, reference=None, dataset: str = "mnist", metric: str = "auroc", methods=(), protocol: str = "loo"):
    """Lab 06's explorer: the per-class bars of ``methods`` (all when empty) on ``dataset``
    for ``metric``, from a tidy results table (``adlib.results``), next to the papers' AUROCs."""
    from . import results

    s = results.summary(df, metric=metric)
    have = sorted(s[(s.dataset == dataset) & (s.protocol == protocol)].method.unique())
    chosen = [m for m in (methods or have) if m in have]
    if not chosen:
        raise ValueError(f"no recorded {dataset} {protocol} rows for {list(methods)}; recorded: {have}")
    fig = plots.loo_bars(s, reference=reference if metric == "auroc" else None, dataset=dataset,
                         protocol=protocol, methods=chosen)
    fig.axes[0].set_ylabel(metric.upper())
    fig.axes[0].set_title(f"{dataset} {protocol}: {metric.upper()} per class (mean over seeds ± SD)")
    return fig
