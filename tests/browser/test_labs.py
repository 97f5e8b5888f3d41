"""Every lab's Explore section in a real browser (Chromium via Playwright).

Each lab is served as an app with Voila, at tiny settings so that a cycle (load, first
render, two slider moves per explorer) stays under a minute on 2 cores. On every explorer
(``adlib.widgets.explorer``, CSS class ``adlib-explorer``) one slider is moved with the
keyboard on its handle and another with a mouse drag; after each move the figure's bytes
must differ and the caption (written by the kernel) must report the value the slider's
readout shows. Each lab runs once in the browser (every run executes the whole lab): lab 01
in JupyterLab (Run All from the Run menu, the notebook interface), labs 02-05 in Voila (the
app interface, ``make app``).

Live training (lab 03 in Voila, lab 01 in JupyterLab): one more release must show at least
three distinct live figures before the caption says the training finished, and a release
after that is stopped with the Stop button, whose caption must say so within 2 s. JupyterLab
runs lab 01 with MPLBACKEND=Agg (the explorers must not depend on the backend). No page
may request anything outside 127.0.0.1 (the kit's Voila template drops Voila's CDN
stylesheets). In lab 05 the mouse on a point of the plotly ROC curve must bring up its hover
label (threshold, FPR, TPR). Screenshots go to runs/browser/ (<lab>-app-top.png,
<lab>-<explorer>-<step>.png, <lab>-live-{first,mid,final,stopped}.png, 05-plotly-hover.png,
01-jupyterlab*.png) and the
measured frame counts and Stop latencies to runs/browser/timings.json.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import time
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from adlib import app

# Tiny settings per lab: every cell still runs, figures are rough. The number of explorers
# each lab must show.
LABS = {
    "01": (dict(steps=800, n_train=2000, n_boundary=800), 1),
    "02": (dict(flow_steps=60, bdsg_steps=150, tailgan_steps=60, n_train=1000, n_boundary=400,
                mnist_max_train=300, mnist_max_test=200, mnist_flow_steps=30, mnist_bdsg_steps=20,
                mnist_tailgan_steps=20), 2),
    "03": (dict(steps=[300, 200, 200, 200], n_train=2000, n_test=500, n_samples=500,
                mnist_steps=[10, 5, 5, 5], mnist_max_train=300, mnist_max_test=200), 1),
    "04": (dict(toy1d_n=640, toy1d_epochs=3, n_train=1000, n_test=400, toy_epochs=3, toy_saves=5,
                toy_tv_steps=300, toy_pool=2000, mnist_epochs=2, mnist_saves=2, mnist_tv_steps=50,
                mnist_max_train=300, mnist_max_test=200, ablation_saves=[1]), 1),
    "05": (dict(steps=200, n_train=1000, n_test=400, mnist_steps=30, search_steps=5, explore_n=20,
                mnist_max_train=300, mnist_max_test=200), 2),
}
BAD_TEXT = ("Traceback (most recent call last)", "Error displaying widget",
            "There was an error when executing cell")
LOAD_TIMEOUT_MS = 300_000  # the whole lab runs before the last explorer appears (a slow, shared CPU: 2-3 min)
MOVE_TIMEOUT_MS = 120_000  # one retrain at tiny settings


def _timings(shots, lab: str, **values):
    """Keep the measured seconds in runs/browser/timings.json (for the README and issues)."""
    path = shots / "timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[lab] = {k: round(v, 1) for k, v in values.items()}
    path.write_text(json.dumps(data, indent=2))


def wait_for_explorers(page, n: int):
    """The page's ``n`` explorers, once each shows a figure and a finished caption."""
    try:
        page.wait_for_function(
            """n => {
                const boxes = document.querySelectorAll('.adlib-explorer');
                return boxes.length === n && [...boxes].every(b =>
                    b.querySelector('.widget-output img') &&
                    /drawn in/.test(b.querySelector('.adlib-caption')?.innerText || ''));
            }""", arg=n, timeout=LOAD_TIMEOUT_MS)
    except PlaywrightTimeout:
        assert_clean(page)  # a traceback on the page says more than the timeout
        captions = page.locator(".adlib-caption").all_inner_texts()
        pytest.fail(f"{n} explorer(s) with a figure expected within {LOAD_TIMEOUT_MS / 1000:.0f} s; "
                    f"found {page.locator('.adlib-explorer').count()}, captions {captions}")
    return [page.locator(".adlib-explorer").nth(i) for i in range(n)]


def _state(ex, slider):
    """(a digest of the figure's bytes, the caption, the slider's readout)."""
    src = ex.locator(".widget-output img").first.get_attribute("src") or ""
    return (hashlib.sha1(src.encode()).hexdigest()[:12],
            ex.locator(".adlib-caption").inner_text(),
            slider.locator(".widget-readout").inner_text())


def _caption_value(caption: str, label: str) -> str:
    m = re.search(rf"(?:^|· ){re.escape(label)} = ([^ ·]+)", caption)
    assert m, f"the caption {caption!r} does not report {label}"
    return m.group(1)


def move_slider(page, ex, slider, how: str):
    """Move ``slider`` one way or the other; wait for the kernel to redraw; check the figure
    changed and the caption reports the readout's new value."""
    src0, cap0, read0 = _state(ex, slider)
    handle = slider.locator(".noUi-handle")
    handle.scroll_into_view_if_needed()
    if how == "keyboard":
        handle.focus()
        page.keyboard.press("ArrowRight")
    else:  # drag the handle a quarter of the track to the right
        hb, track = handle.bounding_box(), slider.locator(".noUi-base").bounding_box()
        x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + track["width"] / 4, y, steps=8)
        page.mouse.up()
    label = slider.locator(".widget-label").inner_text()
    try:
        page.wait_for_function(
            """([box, cap0]) => {
                const c = box.querySelector('.adlib-caption').innerText;
                return c !== cap0 && /drawn in|failed with/.test(c);
            }""", arg=[ex.element_handle(), cap0], timeout=MOVE_TIMEOUT_MS)
    except PlaywrightTimeout:
        _, cap, read = _state(ex, slider)
        pytest.fail(f"{how} on {label} (readout {read0} -> {read}): no redraw within "
                    f"{MOVE_TIMEOUT_MS / 1000:.0f} s; the caption still says {cap!r}")
    src1, cap1, read1 = _state(ex, slider)
    assert read1 != read0, f"{how}: the {label} readout did not move ({read0})"
    assert not cap1.startswith("failed"), f"{how} on {label}: the render failed: {cap1}"
    assert src1 != src0, f"{how} on {label}: the caption changed but the figure did not"
    shown = _caption_value(cap1, label)
    assert math.isclose(float(shown), float(read1), rel_tol=0.06), \
        f"{how}: the slider reads {read1} but the figure was drawn with {label} = {shown}"
    return cap1


def assert_clean(page):
    text = page.locator("body").inner_text()
    for bad in BAD_TEXT:
        assert bad not in text, f"the page shows {bad!r}:\n{text[text.find(bad) - 200:][:1500]}"
    assert not page.js_errors, f"JavaScript errors: {page.js_errors}"
    outside = sorted({u for u in page.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                      and urlparse(u).hostname != "127.0.0.1"})
    assert len(page.requests) > 5 and not outside, f"requests left 127.0.0.1: {outside}"


_WATCH = """box => {
    const w = window.__adlib = {images: [], captions: []};
    const seen = new Set([box.querySelector('.widget-output img')?.src]);  // not the figure shown now
    const grab = () => {
        const img = box.querySelector('.widget-output img');
        const cap = box.querySelector('.adlib-caption')?.innerText || '';
        if (img && img.src && !seen.has(img.src)) { seen.add(img.src); w.images.push(cap); }
        if (w.captions[w.captions.length - 1] !== cap) w.captions.push(cap);
    };
    w.observer = new MutationObserver(grab);
    w.observer.observe(box, {subtree: true, childList: true, attributes: true, characterData: true});
}"""

_MIDWAY = """() => {  // a figure drawn a third of the way through the training or later; or the end
    const w = window.__adlib, m = /step (\\d+) \\/ (\\d+)/.exec(w.captions.at(-1) || '');
    if (m && +m[1] >= m[2] / 3 && w.midway === undefined) w.midway = w.images.length;
    return w.images.length > (w.midway ?? Infinity) || /trained and drawn/.test(w.captions.at(-1));
}"""


def live_training(page, ex, slider, shots, name: str) -> dict:
    """Release ``slider`` one step to the right twice: the first training must show at least
    three distinct live figures before its caption says it finished; the second is stopped
    with the Stop button, and its caption must say so within 2 s. Screenshots of the first
    training's start, middle and end, and of the stop. Returns the measured numbers."""
    handle = slider.locator(".noUi-handle")
    handle.scroll_into_view_if_needed()
    ex.evaluate(_WATCH)
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => /step \\d+ \\/ \\d+/.test(window.__adlib.captions.join(' '))",
                           timeout=MOVE_TIMEOUT_MS)
    ex.screenshot(path=shots / f"{name}-live-first.png")
    page.wait_for_function(_MIDWAY, timeout=MOVE_TIMEOUT_MS)
    ex.screenshot(path=shots / f"{name}-live-mid.png")
    page.wait_for_function("() => /trained and drawn/.test(window.__adlib.captions.at(-1) || '')",
                           timeout=MOVE_TIMEOUT_MS)
    ex.screenshot(path=shots / f"{name}-live-final.png")
    seen = ex.evaluate("() => window.__adlib")
    live = len(seen["images"]) - 1  # the last distinct figure is the final one
    assert live >= 3, f"{name}: {live} live figures before the end of the training; captions {seen['captions']}"
    assert any("training with" in c for c in seen["captions"]), seen["captions"]

    handle.focus()
    page.keyboard.press("ArrowRight")
    caption = ex.locator(".adlib-caption")
    page.wait_for_function("c => /^training with .*step \\d+/.test(c.innerText)", arg=caption.element_handle(),
                           timeout=MOVE_TIMEOUT_MS)
    clicked = time.monotonic()
    ex.locator(".adlib-stop").click()
    page.wait_for_function("c => /^stopped at step/.test(c.innerText)", arg=caption.element_handle(), timeout=5_000)
    latency = time.monotonic() - clicked
    ex.screenshot(path=shots / f"{name}-live-stopped.png")
    assert latency < 2.0, f"{name}: Stop took {latency:.2f} s"
    return {"live_figures": live, "stop_latency_s": latency}


_POINT = """gd => {  // the page position of the middle point of the plot's first curve
    const fl = gd._fullLayout, tr = gd._fullData[0], i = Math.floor(tr.x.length / 2), r = gd.getBoundingClientRect();
    return {x: r.left + fl.xaxis._offset + fl.xaxis.l2p(tr.x[i]), y: r.top + fl.yaxis._offset + fl.yaxis.l2p(tr.y[i])};
}"""


def plotly_hover(page, shots, name: str) -> str:
    """Lab 05's interactive ROC (``adlib.iplots.curves``): it must be drawn by plotly.js (from
    the installed extension; assert_clean checks that nothing left 127.0.0.1), and the mouse
    on a point of its first curve must bring up the hover label with that point's threshold."""
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(timeout=MOVE_TIMEOUT_MS)
    plot.scroll_into_view_if_needed()
    at = plot.evaluate(_POINT)
    page.mouse.move(at["x"] + 40, at["y"] + 40)
    page.mouse.move(at["x"], at["y"], steps=5)
    label = page.locator(".js-plotly-plot .hoverlayer .hovertext").first
    label.wait_for(timeout=10_000)
    plot.screenshot(path=shots / f"{name}-plotly-hover.png")
    text = label.text_content()  # an SVG group: text_content, not inner_text
    assert "threshold" in text and "FPR" in text and "TPR" in text, text
    return text


@pytest.mark.parametrize("lab", [lab for lab in LABS if lab != "01"])  # lab 01: JupyterLab below
def test_explorers_redraw_in_voila(lab, serve, page, shots, tmp_path):
    parameters, n_explorers = LABS[lab]
    nb = app.with_parameters(lab, parameters, tmp_path / "nb")
    server = serve(lambda port: app.voila_command(nb, port, tmp_path / "connections"), "/api/status")
    start = time.monotonic()
    page.goto(server.url + "/", timeout=LOAD_TIMEOUT_MS)
    explorers = wait_for_explorers(page, n_explorers)
    loaded = time.monotonic() - start
    page.screenshot(path=shots / f"{lab}-app-top.png", full_page=True)
    for i, ex in enumerate(explorers):
        sliders = ex.locator(".widget-hslider")
        assert sliders.count() >= 1, f"explorer {i} of lab {lab} has no slider"
        ex.screenshot(path=shots / f"{lab}-{i}-0-first.png")
        move_slider(page, ex, sliders.nth(0), "keyboard")
        ex.screenshot(path=shots / f"{lab}-{i}-1-keyboard.png")
        move_slider(page, ex, sliders.nth(min(1, sliders.count() - 1)), "drag")
        ex.screenshot(path=shots / f"{lab}-{i}-2-drag.png")
    live = live_training(page, explorers[0], explorers[0].locator(".widget-hslider").nth(0), shots, lab) \
        if lab == "03" else {}
    if lab == "05":
        plotly_hover(page, shots, lab)
    assert_clean(page)
    _timings(shots, f"voila-{lab}", first_render_s=loaded, cycle_s=time.monotonic() - start, **live)


def test_lab01_runs_and_redraws_in_jupyterlab(serve, page, shots, tmp_path):
    nb = app.with_parameters("01", LABS["01"][0], tmp_path / "nb")
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')  # no "get notified about Jupyter news?" toast
    server = serve(lambda port: [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.root_dir={nb.parent}", "--IdentityProvider.token=", "--ServerApp.password=",
        "--allow-root", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}"], "/api/status",
        MPLBACKEND="Agg")  # servers and Docker images often set it: the explorers must not need inline
    start = time.monotonic()
    page.goto(f"{server.url}/lab/tree/{nb.name}", timeout=LOAD_TIMEOUT_MS)
    # the execution indicator says idle before the kernel connects: wait for the status bar
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=LOAD_TIMEOUT_MS)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    (ex,) = wait_for_explorers(page, 1)
    loaded = time.monotonic() - start
    ex.scroll_into_view_if_needed()
    page.screenshot(path=shots / "01-jupyterlab.png")
    sliders = ex.locator(".widget-hslider")
    move_slider(page, ex, sliders.nth(0), "keyboard")
    move_slider(page, ex, sliders.nth(1), "drag")
    ex.screenshot(path=shots / "01-jupyterlab-after.png")
    live = live_training(page, ex, sliders.nth(0), shots, "01-jupyterlab")
    assert_clean(page)
    _timings(shots, "jupyterlab-01", first_render_s=loaded, cycle_s=time.monotonic() - start, **live)
