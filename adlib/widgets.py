"""Interactive explorers for the labs' "Explore" sections (ipywidgets).

The pattern: a pure ``render(**knobs) -> figure`` that can be called (and tested) without a
browser, wired to sliders by ``explorer``. Sliders use ``continuous_update=False`` so that
retraining happens once, on release, never on every tick of a drag.

Live training. An explorer whose render function retrains (marked ``@_live``) trains in a
**worker thread** after a release: the training loop stays an ordinary synchronous
``adlib.train.run``, the kernel stays free to receive the Stop button and the next release,
and the watch hook (``adlib.train.watch``) hands the thread a progress record every few
steps, from which it draws the figure of that moment. We chose a thread over asyncio
because asyncio would need every method's loop to yield (``await``) between steps, and
torch releases the GIL in its kernels, so the kernel's main thread stays responsive. Widget
updates from the thread are plain trait assignments: ipykernel sends their messages through
its I/O thread, and a lock plus a run token make sure only the current run writes. The
thread draws on ``matplotlib.figure.Figure`` objects, never pyplot (whose global figure
list is not thread-safe and whose inline backend would flush stray figures into another
cell). The first render, when the cell runs, is synchronous, so headless runs (papermill,
nbval) render once, as before.

Figures are turned into PNG explicitly (``plots.png``), so the explorers work under any
matplotlib backend (``MPLBACKEND=Agg`` on servers and in Docker included).

Caching. One bounded least-recently-used cache (``CACHE``) holds the explorers' fitted
detectors: moving a slider back to a value it had redraws at once, and old detectors (from a
rerun of a lab's cells) drop out once ``CACHE.maxsize`` newer ones are in.
"""
from __future__ import annotations

import base64
import collections
import contextvars
import copy
import dataclasses
import math
import threading
import time
import traceback

import ipywidgets as W
import torch
from matplotlib.figure import Figure

from . import data, methods, metrics, plots, train


class Cache:
    """A bounded least-recently-used map: ``get(key, make)`` returns the stored value or
    stores ``make()`` (evicting the oldest beyond ``maxsize``). A ``make`` that raises (e.g.
    a stopped training) stores nothing. Thread-safe for the explorers' worker threads."""

    def __init__(self, maxsize: int = 8):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize, self._items, self._lock = maxsize, collections.OrderedDict(), threading.Lock()

    def get(self, key, make):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()  # outside the lock: a long training must not block other explorers
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key) -> bool:
        return key in self._items

    def __getitem__(self, key):
        return self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = Cache(8)  # every explorer's fitted detectors and searches, keyed by (explorer, knobs)


def _display(data: dict) -> dict:
    """One Output widget display item holding the MIME bundle ``data``."""
    return {"output_type": "display_data", "metadata": {}, "data": data}


def _output(fig) -> dict:
    """A matplotlib figure as one Output widget display item (an explicit PNG)."""
    return _display({"image/png": base64.b64encode(plots.png(fig)).decode(), "text/plain": "<figure>"})


def _figure(figsize) -> Figure:
    """A figure outside pyplot (safe in a worker thread, never flushed into another cell)."""
    return Figure(figsize=figsize)


def _live(render):
    """Mark a render function whose explorer trains live (in a worker thread)."""
    render.live = True
    return render


@dataclasses.dataclass
class _Run:
    """One live training of one explorer: its cancel flag, its frame count and its time."""
    post: object  # post(fig, text, run) -> bool: draws if this run is still the current one
    said: str
    interval: float = 0.4  # seconds between live frames at most ... at least
    cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)
    frames: int = 0
    last: float = 0.0
    started: float = dataclasses.field(default_factory=time.perf_counter)
    at: train.Progress | None = None

    def frame(self, draw, p: train.Progress) -> bool:
        """Draw the figure of this moment (at most every ``interval`` s); True = stop."""
        self.at = p
        if self.cancelled.is_set():
            return True
        if time.perf_counter() - self.last >= self.interval or p.step == p.steps:
            try:
                fig = draw()
            except AttributeError:  # a part that has not built what the figure shows yet
                return self.cancelled.is_set()
            terms = " · ".join(f"{k} {v[-1]:.3g}" for k, v in list(p.history.items())[:4] if v)
            if self.post(fig, f"training with {self.said}: {p.desc} step {p.step} / {p.steps} · "
                              f"{terms} · {time.perf_counter() - self.started:.1f} s", self):
                self.frames += 1
            self.last = time.perf_counter()
        return self.cancelled.is_set()


_LIVE: contextvars.ContextVar = contextvars.ContextVar("adlib_live", default=None)


def _live_fit(fit, draw, every: int = 5):
    """``fit()``; inside a live explorer's thread, with ``draw(detector, progress)`` shown
    every few steps (at most every ``_Run.interval`` s). Raises ``adlib.train.Stopped`` when
    the run is cancelled (so that the cache keeps nothing half-trained)."""
    run = _LIVE.get()
    if run is None:
        return fit()

    def callback(p: train.Progress):
        if p.owner is None or not hasattr(p.owner, "_modules"):  # e.g. a flow fitted inside
            return run.cancelled.is_set()
        return run.frame(lambda: _peek(draw, p.owner, p), p)

    with train.watch(callback, every=every):
        return fit()


def _peek(draw, det, p):
    """``draw(det, p)`` on a detector in the middle of its fit (scoring and sampling refuse
    an unfitted detector; ``train.run`` restores the networks' modes afterwards)."""
    fitted, det.fitted = det.fitted, True
    try:
        with torch.no_grad():
            return draw(det, p)
    finally:
        det.fitted = fitted


def _at(p) -> str:
    return "" if p is None else f" · step {p.step}/{p.steps}"


_OPEN: dict = {}  # render function name -> its latest explorer (an older one is closed)


def explorer(render, **controls) -> W.VBox:
    """Controls ``controls`` (name -> widget) above an output that shows
    ``render(**values)``, drawn once now and again whenever a control is released.

    Under the figure a caption (CSS class ``adlib-caption``) says which values it was drawn
    with and how long that took, so a reader, and the browser tests, can tell a fresh
    figure from a stale one. The box has the CSS class ``adlib-explorer``.

    A render function marked live (the ones that retrain) trains in a worker thread after a
    release, redrawing as it goes (caption "training with ... step i / n ..."); the **Stop**
    button (CSS class ``adlib-stop``) ends it within a few steps and keeps the last figure
    (caption "stopped at step ..."); a new release cancels the running training and starts
    the new one. The first render is synchronous (headless runs render once).

    The figure is put into the Output widget's ``outputs`` directly instead of capturing
    with ``with out:``: headless runners (nbclient, under papermill and nbval) can hang on
    the capture path (jupyter/nbclient#312). A failing render shows its traceback in place.
    Creating an explorer for the same render function again (rerunning the cell) closes the
    old one, so its widgets and what they hold are released.
    """
    out, caption = W.Output(), W.HTML()
    caption.add_class("adlib-caption")
    base = getattr(render, "func", render)
    live = getattr(base, "live", False)
    stop = W.Button(description="Stop", disabled=True, tooltip="stop the training",
                    layout=W.Layout(width="80px", display="" if live else "none"))
    stop.add_class("adlib-stop")
    for w in controls.values():
        if hasattr(w, "continuous_update"):
            w.continuous_update = False
    lock, current = threading.Lock(), {"run": None}

    def post(fig, text, run=None) -> bool:
        with lock:
            if run is not None and current["run"] is not run:
                return False  # a superseded or stopped run draws nothing
            if fig is not None:
                out.outputs = (_output(fig),)
            caption.value = text
            return True

    def failed(said, run=None):
        with lock:
            if run is None or current["run"] is run:
                out.outputs = ()
                out.append_stderr(traceback.format_exc())
                caption.value = f"failed with {said}"

    def train_live(run: _Run, values: dict) -> None:
        token = _LIVE.set(run)
        try:
            fig = render(**values)
        except train.Stopped as err:
            p = err.progress
            post(None, f"stopped at step {p.step} of {p.steps} ({p.desc}) after "
                       f"{time.perf_counter() - run.started:.1f} s with {run.said}; "
                       f"the figure shows the last step drawn", run)
        except Exception:  # noqa: BLE001 - show the user what went wrong, keep the widget alive
            failed(run.said, run)
        else:
            post(fig, f"{run.said} (trained and drawn in {time.perf_counter() - run.started:.1f} s, "
                      f"{run.frames} live frames)", run)
        finally:
            _LIVE.reset(token)
            with lock:
                if current["run"] is run:
                    current["run"] = None
                    stop.disabled = True

    def show(change=None):
        values = {name: w.value for name, w in controls.items()}
        said = " · ".join(f"{w.description or name} = {_fmt(values[name])}"
                          for name, w in controls.items())
        with lock:
            if current["run"] is not None:
                current["run"].cancelled.set()
                current["run"] = None
        if live and change is not None:
            run = _Run(post, said)
            with lock:
                current["run"] = run
                stop.disabled = False
                caption.value = f"training with {said} ..."
            threading.Thread(target=train_live, args=(run, values), daemon=True,
                             name=f"adlib-explorer-{base.__name__}").start()
            return
        caption.value = f"drawing with {said} ..."  # the old figure stays until then
        start = time.perf_counter()
        try:
            fig = render(**values)
        except Exception:  # noqa: BLE001
            failed(said)
            return
        post(fig, f"{said} (drawn in {time.perf_counter() - start:.1f} s)")

    def stop_clicked(_):
        with lock:
            run = current["run"]
        if run is not None:
            run.cancelled.set()

    stop.on_click(stop_clicked)
    for w in controls.values():
        w.observe(show, names="value")
    show()
    box = W.VBox([W.HBox([*controls.values(), stop], layout=W.Layout(flex_flow="row wrap")),
                  out, caption])
    box.add_class("adlib-explorer")
    old = _OPEN.pop(base.__name__, None)
    if old is not None:
        old.close_all()
    _OPEN[base.__name__] = _Explorer(box, [out, caption, stop, *controls.values()], current)
    return box


@dataclasses.dataclass
class _Explorer:
    box: W.VBox
    parts: list
    current: dict

    def close_all(self) -> None:
        """Cancel a running training and close every widget (rerunning the lab's cell)."""
        if self.current["run"] is not None:
            self.current["run"].cancelled.set()
        for w in [*self.parts, *self.box.children, self.box]:
            w.close()


def _fmt(v) -> str:
    """A control's value for the caption: floats to 3 significant digits."""
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def log_slider(value: float, lo: float, hi: float, description: str) -> W.FloatLogSlider:
    """A slider over [lo, hi] on a log scale (weights span decades)."""
    return W.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi),
                            step=0.25, description=description, readout_format=".1e",
                            continuous_update=False)


@_live
def bdsg_boundary(toy: str = "bimodal", lambda1: float = 1e-3, lambda2: float = 5e-4,
                  steps: int = 8000, seed: int = 0, n: int = 1500, eps: float = 0.01,
                  density=None):
    """Train BDSG on a toy with the given weights and draw its boundary; the title gives
    BP1, the far share and the worst mode's angular coverage (all judged by the *true*
    density). ``density``: what B is trained against, None for the toy's exact density or
    a fitted ``adlib.density.Flow`` (lab 02). Returns the figure."""
    dist = data.toy(toy)

    def fit():
        det = methods.make("bdsg", density=dist if density is None else density, steps=steps,
                           seed=seed, progress=False, lambda1=lambda1, lambda2=lambda2)
        return det.fit(dist.sample(10_000, seed=seed + 1))

    def picture(det, p=None):
        b = det.boundary(n, seed=seed)
        r = metrics.boundary_report(dist, b, eps)
        return _draw(dist, b, eps, f"{toy}: λ1={lambda1:.1e}, λ2={lambda2:.1e}{_at(p)}", r,
                     f"min angular coverage={r['min_angular_coverage']:.2f}")

    key = ("bdsg", toy, density, steps, seed, lambda1, lambda2)
    return picture(CACHE.get(key, lambda: _live_fit(fit, picture)))


@_live
def tailgan_tail(density, toy: str = "bimodal", w_d: float = 2e-3, w_sc: float = 5e-3,
                 steps: int = 3000, seed: int = 0, n: int = 1500, eps: float = 0.01):
    """Train TailGAN's T on a fitted flow ``density`` of a toy with the given weights and
    draw its samples; the title gives BP1, the far share and the clustering check's pass
    share (eq. 2-5, modes as the groups). Returns the figure."""
    dist = data.toy(toy)
    groups = metrics.mode_groups(dist, dist.sample(10_000, seed=seed + 1))

    def fit():
        det = methods.make("tailgan", density=density, steps=steps, seed=seed, progress=False,
                           w_d=w_d, w_sc=w_sc)
        return det.fit(dist.sample(10_000, seed=seed + 1))

    def picture(det, p=None):
        t = det.boundary(n, seed=seed)
        check = metrics.cluster_check(t, groups)
        return _draw(dist, t, eps, f"{toy}: w_d={w_d:.1e}, w_sc={w_sc:.1e}{_at(p)}",
                     metrics.boundary_report(dist, t, eps), f"cluster check={check['pass_share']:.2f}")

    key = ("tailgan", toy, density, steps, seed, w_d, w_sc)
    return picture(CACHE.get(key, lambda: _live_fit(fit, picture)))


@_live
def omasgan_boundary(det, x, split, dist, mu: float = 8.0, nu: float = 20.0,
                     divergence: str | None = None, n: int = 1500, seed: int = 0,
                     eps: float = 0.01):
    """OMASGAN with new Task 2 weights: ``det.refit(x, mu=, nu=)`` retrains Task 2, Task 3
    and J on the fitted detector ``det`` (Task 1 kept). Another ``divergence`` refits from
    Task 1 (once per divergence). Left: the B samples over the toy ``dist``'s contours;
    right: J's scores on ``split``'s test set, normal vs anomalous. Returns the figure."""
    divergence = divergence or det.config.divergence

    def picture(fitted, p=None):
        scores = fitted.score(split.test_x)
        fig = _figure((11, 4.2))
        axes = fig.subplots(1, 2)
        b = fitted.boundary(n, seed=seed)
        r = metrics.boundary_report(dist, b, eps)
        plots.boundary(dist, b, ax=axes[0], eps=eps)
        axes[0].set_title(f"{divergence}: μ={mu:.3g}, ν={nu:.3g}{_at(p)}\nBP1={r['bp1']:.2f}  "
                          f"far={r['far_share']:.2f}  min angular coverage={r['min_angular_coverage']:.2f}",
                          fontsize=9)
        waiting = p is not None and not p.desc.endswith("final")  # J trains last, after Task 3
        plots.score_hist(split.test_y, scores, ax=axes[1],
                         title=f"J's logit{' (J not retrained yet)' if waiting else ''}: "
                               f"AUROC {metrics.auroc(split.test_y, scores):.3f}")
        fig.tight_layout()
        return fig

    def root():
        if divergence == det.config.divergence:
            return det
        return CACHE.get(("omasgan", det, divergence), lambda: _live_fit(
            lambda: methods.make("omasgan", **{**vars(det.config), "divergence": divergence,
                                               "checkpoint": None, "progress": False}).fit(x), picture))

    def refit():
        r = root()
        return r if (mu, nu) == (r.mu, r.nu) else _live_fit(lambda: r.refit(x, mu=mu, nu=nu, progress=False),
                                                           picture)

    return picture(CACHE.get(("omasgan", det, divergence, mu, nu), refit))


@_live
def historyad_tv(det, x, split, dist, alpha: float = 1.0, beta: float = 3.0, lam: float = 10.0,
                 n: int = 2000, seed: int = 0):
    """HistoryAD with other P_Ghist weights: a copy of the fitted detector ``det`` retrains
    only D_TV (``fit_tv(x, alpha=, beta=, lam=)``) on the same WGAN history. Left: the
    P_Ghist cloud coloured by time over the toy ``dist``; right: D_TV's score surface with
    the AUROC on ``split``'s test set. ``det`` itself is left as it was. Returns the figure."""
    def fit():
        if (alpha, beta, lam) == (det.alpha, det.beta, det.lam):
            return det
        fresh = copy.deepcopy(det)
        fresh.config = dataclasses.replace(fresh.config, progress=False)
        return _live_fit(lambda: fresh.fit_tv(x, alpha=alpha, beta=beta, lam=lam), picture)

    def picture(fitted, p=None):
        cloud, t = fitted.history_sample(n, seed=seed, alpha=alpha, beta=beta)
        fig = _figure((12, 4.5))
        axes = fig.subplots(1, 2)
        plots.history_cloud(dist, cloud, t, ax=axes[0], title=f"P_Ghist: α={alpha:.3g}, β={beta:.3g}")
        auc = metrics.auroc(split.test_y, fitted.score(split.test_x))
        plots.surface(fitted.score, dist.bounds, ax=axes[1], points=x[:1500],
                      title=f"D_TV (λ={lam:.3g}){_at(p)}: AUROC {auc:.3f}")
        fig.tight_layout()
        return fig

    return picture(CACHE.get(("historyad", det, alpha, beta, lam), fit))


def anogan_search(det, x, y, search_steps: int = 500, lam: float = 0.1, n_show: int = 8):
    """AnoGAN's test-time search with other Γ (``search_steps``) and λ (``lam``) on the fitted
    detector ``det`` (no retraining): the points ``x`` (labels ``y``, 1 = anomaly) are searched
    again, and the figure shows the score histogram with its AUROC on these points, the
    seconds the search took per 1000 points, and the first ``n_show`` normal and anomalous
    images over their reconstructions G(z_Γ). Returns the figure."""
    def search():
        start = time.perf_counter()
        z, loss = det.search(x, search_steps=search_steps, lam=lam)
        return z, loss, (time.perf_counter() - start) / len(x) * 1000

    z, loss, per_1000 = CACHE.get(("anogan", det, search_steps, lam, x), search)
    fig = _figure((13, 4))
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


@_live
def ganomaly_toy(x, split, dist, w_con: float = 50.0, latent_dim: int = 2, steps: int = 3000,
                 seed: int = 0, n_arrows: int = 300):
    """GANomaly retrained on the 2-D points ``x`` with the reconstruction weight ``w_con`` and
    bottleneck ``latent_dim`` (w_adv = w_enc = 1; once per setting, cached). Left: the score
    surface with arrows from test points to their reconstructions G(x); right: the scores of
    ``split``'s test set with the AUROC. Returns the figure."""
    pick = torch.randperm(len(split.test_x), generator=torch.Generator().manual_seed(seed))[:n_arrows]

    def fit():
        return methods.make("ganomaly", w_con=w_con, latent_dim=latent_dim, steps=steps, seed=seed,
                            progress=False).fit(x)

    def picture(det, p=None):
        fig = _figure((12, 4.5))
        axes = fig.subplots(1, 2)
        plots.surface(det.score, dist.bounds, ax=axes[0], points=x[:1500],
                      title=f"w_con={w_con:.3g}, latent {latent_dim}{_at(p)}: score, x → G(x)")
        plots.arrows(split.test_x[pick], det.reconstruct(split.test_x[pick]), ax=axes[0])
        scores = det.score(split.test_x)
        plots.score_hist(split.test_y, scores, ax=axes[1],
                         title=f"test scores: AUROC {metrics.auroc(split.test_y, scores):.3f}")
        fig.tight_layout()
        return fig

    return picture(CACHE.get(("ganomaly", x, w_con, latent_dim, steps, seed), lambda: _live_fit(fit, picture)))


def _draw(dist, samples, eps, head: str, report: dict, extra: str):
    """The explorers' figure: samples over the toy's contours, the knobs and metrics above."""
    fig = _figure((5.5, 4.5))
    ax = fig.subplots()
    plots.boundary(dist, samples, ax=ax, eps=eps)
    ax.set_title(f"{head}\nBP1={report['bp1']:.2f}  far={report['far_share']:.2f}  {extra}",
                 fontsize=9)
    return fig


def loo_explorer(df, reference=None, dataset: str = "mnist", metric: str = "auroc", methods=(),
                 protocol: str = "loo") -> W.VBox:
    """Lab 06's chart as a plotly figure (``adlib.iplots.loo_chart``: each seed's value on
    hover, zoom by dragging) under dataset, metric and methods choosers; a choice redraws it."""
    from . import iplots

    have = sorted(df.method.unique())
    ds = W.Dropdown(options=sorted(df.dataset.unique()), value=dataset, description="dataset")
    me = W.Dropdown(options=["auroc", "auprc", "f1"], value=metric, description="metric")
    ms = W.SelectMultiple(options=have, value=[m for m in methods if m in have] or have, rows=5,
                          description="methods")
    out, caption = W.Output(), W.HTML()
    caption.add_class("adlib-caption")

    def update(change=None):
        try:
            fig = iplots.loo_chart(df, reference, ds.value, me.value, ms.value, protocol)
        except ValueError as err:
            caption.value = f"nothing to show: {err}"
            return
        out.outputs = (_display(iplots.bundle(fig)),)
        caption.value = f"dataset = {ds.value} · metric = {me.value} · {len(ms.value)} methods"

    for w in (ds, me, ms):
        w.observe(update, names="value")
    update()
    box = W.VBox([W.HBox([ds, me, ms]), out, caption])
    box.add_class("adlib-explorer")
    return box
