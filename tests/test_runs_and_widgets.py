"""Recorded metrics, the collect table, and the lab widgets' callbacks (no browser)."""
import json

import matplotlib
import numpy as np
import pytest

from adlib import cli, runs, widgets

matplotlib.use("Agg")


def test_record_read_and_collect(runs_root):
    path = runs.record("lab99", bp1=0.8, far_share=0.05, curve=[1, 2])
    assert path == runs_root / "lab99" / "metrics.json"
    raw = json.loads(path.read_text())
    assert raw["bp1"] == 0.8 and "_meta" in raw
    assert runs.read("lab99") == {"bp1": 0.8, "far_share": 0.05, "curve": [1, 2]}
    df = runs.collect()
    assert set(df["metric"]) == {"bp1", "far_share"}  # scalars only


def test_record_never_overwrites_a_different_run_silently(runs_root):
    runs.record("lab99", bp1=0.8)
    runs.record("lab99", bp1=0.8)  # same values: nothing to keep
    assert not (runs_root / "lab99" / "previous").exists()
    with pytest.warns(UserWarning, match="different run"):
        runs.record("lab99", bp1=0.7)
    kept = list((runs_root / "lab99" / "previous").glob("*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["bp1"] == 0.8
    assert runs.read("lab99")["bp1"] == 0.7


def test_record_rejects_bad_values(runs_root):
    with pytest.raises(ValueError, match="non-finite"):
        runs.record("lab99", x=float("nan"))
    with pytest.raises(ValueError, match="run name"):
        runs.record("../evil", x=1)
    with pytest.raises(FileNotFoundError, match="no recorded run"):
        runs.read("never")


def test_cli_collect_prints_the_table(runs_root, capsys):
    assert cli.main(["collect"]) == 1  # nothing recorded yet
    runs.record("lab98", auroc=0.91234)
    assert cli.main(["collect"]) == 0
    out = capsys.readouterr().out
    assert "lab98" in out and "auroc" in out and "0.9123" in out


def test_explorer_rerenders_when_a_control_changes():
    import ipywidgets as W
    import matplotlib.pyplot as plt

    calls = []

    def render(a, b):
        calls.append((a, b))
        return plt.figure()

    sa, sb = W.FloatSlider(value=1.0), W.Dropdown(options=["x", "y"], value="x")
    box = widgets.explorer(render, a=sa, b=sb)
    assert sa.continuous_update is False  # retrain on release only
    assert calls == [(1.0, "x")]
    sa.value = 2.0
    sb.value = "y"
    assert calls[-2:] == [(2.0, "x"), (2.0, "y")]
    out, caption = box.children[1:]
    assert len(out.outputs) == 1 and out.outputs[0]["output_type"] == "display_data"
    assert caption.value.startswith("a = 2 · b = y (drawn in ")  # the values it was drawn with
    assert "adlib-explorer" in box._dom_classes and "adlib-caption" in caption._dom_classes


def test_explorer_shows_a_failing_render_as_a_traceback():
    import ipywidgets as W
    import matplotlib.pyplot as plt

    def render(a):
        if a > 1:
            raise RuntimeError("boom at a=%s" % a)
        return plt.figure()

    s = W.FloatSlider(value=1.0)
    out, caption = widgets.explorer(render, a=s).children[1:]
    s.value = 2.0
    assert out.outputs[0]["name"] == "stderr" and "boom at a=2.0" in out.outputs[0]["text"]
    assert caption.value == "failed with a = 2"
    s.value = 0.5  # recovers
    assert out.outputs[0]["output_type"] == "display_data"


def test_bdsg_render_reflects_its_knobs():
    a = widgets.bdsg_boundary("bimodal", lambda1=1e-3, lambda2=5e-4, steps=60, n=200)
    b = widgets.bdsg_boundary("bimodal", lambda1=1e-3, lambda2=0.0, steps=60, n=200)
    ta, tb = a.axes[0].get_title(), b.axes[0].get_title()
    assert "λ2=5.0e-04" in ta and "λ2=0.0e+00" in tb
    pa, pb = (f.axes[0].collections[-1].get_offsets() for f in (a, b))
    assert pa.shape == (200, 2) and (pa != pb).any()


def test_mean_sd_over_seeds_by_hand():
    from adlib import runs
    out = runs.mean_sd([{"auroc": 0.9, "f1": 0.5}, {"auroc": 0.8, "f1": 0.7}, {"auroc": 1.0, "f1": 0.6}])
    assert out["auroc"]["mean"] == pytest.approx(0.9) and out["auroc"]["sd"] == pytest.approx(0.1)
    assert runs.mean_sd([{"auroc": 0.7}])["auroc"] == {"mean": 0.7, "sd": 0.0}
    with pytest.raises(ValueError, match="at least one row"):
        runs.mean_sd([])


def test_anogan_explorer_searches_again_with_its_knobs():
    import torch

    from adlib import data, methods

    toy = data.toy("bimodal")
    split = data.toy_split(toy, 40, 40, seed=0, n_train=400)
    det = methods.make("anogan", steps=100, search_steps=5, seed=0, progress=False).fit(split.train_x)
    x, y = split.test_x, split.test_y
    fig = widgets.anogan_search(det, x, y, search_steps=0, lam=0.0, n_show=3)
    assert "Γ=0, λ=0" in fig.axes[0].get_title() and "s per 1000" in fig.axes[0].get_title()
    z0, loss0, _ = widgets.CACHE["anogan", det, 0, 0.0, x]
    assert torch.equal(z0, torch.zeros_like(z0))  # no steps: the search stays at its start
    widgets.anogan_search(det, x, y, search_steps=20, lam=0.0, n_show=3)
    _, loss20, _ = widgets.CACHE["anogan", det, 20, 0.0, x]
    assert loss20.mean() < loss0.mean()  # the render really searched with the new Γ
    assert det.config.search_steps == 5  # the detector itself is left alone


def test_ganomaly_explorer_retrains_with_its_knobs():
    from adlib import data

    toy = data.toy("bimodal")
    split = data.toy_split(toy, 50, 50, seed=0, n_train=300)
    a = widgets.ganomaly_toy(split.train_x, split, toy, w_con=50.0, latent_dim=2, steps=40, n_arrows=20)
    b = widgets.ganomaly_toy(split.train_x, split, toy, w_con=1.0, latent_dim=1, steps=40, n_arrows=20)
    assert "w_con=50, latent 2" in a.axes[0].get_title() and "w_con=1, latent 1" in b.axes[0].get_title()
    fitted = [widgets.CACHE["ganomaly", split.train_x, w, d, 40, 0] for w, d in ((50.0, 2), (1.0, 1))]
    assert [f.config.w_con for f in fitted] == [50.0, 1.0] and [f.latent_dim for f in fitted] == [2, 1]
    arrows = [f.axes[0].collections[-1] for f in (a, b)]
    assert (arrows[0].U != arrows[1].U).any()  # the reconstructions moved with the retrained model


def test_the_explorers_cache_is_bounded_and_lets_old_detectors_go():
    import gc
    import weakref

    cache = widgets.Cache(maxsize=3)

    class Det:  # stands in for a fitted detector
        pass

    assert cache.get(("k", 0), Det) is cache.get(("k", 0), Det)  # the second call is a hit
    gone = weakref.ref(cache["k", 0])
    for i in range(1, 4):
        cache.get(("k", i), Det)
    gc.collect()
    assert len(cache) == 3 and ("k", 0) not in cache and gone() is None

    def stopped():
        raise RuntimeError("stopped half-way")

    with pytest.raises(RuntimeError):
        cache.get(("k", 9), stopped)
    assert ("k", 9) not in cache  # nothing half-trained is kept


def _wait(pred, timeout=30.0):
    import time
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        time.sleep(0.02)
    return pred()


def test_a_live_explorer_redraws_during_training_and_stops_on_request():
    import time

    import ipywidgets as W
    import torch

    from adlib import train

    net = torch.nn.Linear(1, 1)

    class Owner:  # what runs the training, as a detector would (train.run passes it on)
        fitted = False

        def _modules(self):
            return {"net": net}

    @widgets._live
    def render(steps):
        def fit():
            def step(i):
                time.sleep(0.01)
                return {"loss": torch.tensor(1.0 / (i + 1))}
            train.run(step, steps, state={"net": net}, progress=False, owner=Owner(), desc="toy")
            return steps

        def picture(owner, p=None):
            fig = widgets._figure((2, 2))
            fig.subplots().set_title(f"{steps}{widgets._at(p)}")
            return fig

        picture(widgets._live_fit(fit, lambda d, p: picture(d, p)))
        return picture(steps)

    s = W.IntSlider(value=5, max=5000)
    box = widgets.explorer(render, steps=s)
    out, caption = box.children[1:]
    stop = box.children[0].children[-1]
    assert caption.value.startswith("steps = 5 (drawn in ") and out.outputs[0]["data"]["image/png"]
    frames = []
    out.observe(lambda ch: frames.extend(o["data"]["image/png"] for o in ch["new"][:1]), names="outputs")
    s.value = 200  # about 2 s of training in a thread: the kernel (this test) is not blocked
    assert caption.value.startswith("training with steps = 200") and not stop.disabled
    assert _wait(lambda: "trained and drawn" in caption.value)
    assert len(set(frames[:-1])) >= 3 and stop.disabled  # live frames, then the final figure
    assert frames[-1] == widgets._output(render(200))["data"]["image/png"]  # = the static render

    s.value = 3000  # 30 s of training; Stop ends it within a second and keeps the last figure
    assert _wait(lambda: "step" in caption.value and "training" in caption.value)
    clicked = time.monotonic()
    stop.click()
    assert _wait(lambda: caption.value.startswith("stopped at step"), timeout=5)
    assert time.monotonic() - clicked < 1.0 and "of 3000" in caption.value
    assert out.outputs[0]["data"]["image/png"] == frames[-1]


def test_rerunning_an_explorer_cell_closes_the_old_widgets():
    import ipywidgets as W

    def render(a):
        return widgets._figure((1, 1))

    old = widgets.explorer(render, a=W.IntSlider(value=1))
    slider = old.children[0].children[0]
    widgets.explorer(render, a=W.IntSlider(value=1))
    assert old.comm is None and slider.comm is None  # closed: the registry lets them go


def test_the_run_summary_names_each_labs_headline_numbers(tmp_path, monkeypatch, capsys):
    from adlib import cli, runs
    monkeypatch.setenv("ADLIB_RUNS", str(tmp_path))
    runs.record("lab03", auroc_task1=0.851, auroc_final=0.984, mnist_auroc=0.8391)
    runs.record("lab06", best_method_mnist="knn", own_mean_auroc={"knn": 0.66, "vae": 0.48})
    lines = runs.headlines()
    assert lines[0].endswith("lab 01 BDSG on the exact density, bimodal toy: not run")
    assert "lab 03 OMASGAN, bimodal toy" in lines[2] and "AUROC Task 1 0.85 → J 0.98" in lines[2]
    assert "near anomalies" not in lines[2] and "MNIST J 0.839" in lines[2]  # unrecorded items are left out
    assert "your sweep's mean AUROC knn 0.660, vae 0.480" in lines[5]
    (tmp_path / "html").mkdir()
    (tmp_path / "html/03_omasgan.html").write_text("<html/>")
    assert cli.main(["summary", "--html", str(tmp_path / "html")]) == 0
    out = capsys.readouterr().out
    assert "MNIST J 0.839" in out and str(tmp_path / "html/03_omasgan.html") in out


def test_versus_sets_your_run_beside_the_kits_full_run(tmp_path, monkeypatch):
    import math

    from adlib import runs
    book = tmp_path / "labs.json"
    book.write_text(json.dumps({"lab03": {"metrics": {"auroc_final": 0.91, "mnist_auroc": 0.86}, "seed": 0}}))
    monkeypatch.setattr(runs, "KIT_RUNS", book)
    table = runs.versus("lab03", mnist_auroc=np.float64(0.8), auroc_final=0.95)
    assert list(table.index) == ["mnist_auroc", "auroc_final"]
    assert table["your run"].tolist() == [0.8, 0.95]
    assert table["kit's full run (seed 0)"].tolist() == [0.86, 0.91]
    with pytest.raises(KeyError, match="auroc_ring"):
        runs.versus("lab03", auroc_ring=0.5)  # a renamed metric must not vanish
    with pytest.raises(ValueError, match="at least one"):
        runs.versus("lab03")
    empty = runs.versus("lab09", auroc=0.7)  # not recorded yet: says so, with no numbers
    assert list(empty.columns) == ["your run", "kit's full run (not recorded yet)"]
    assert math.isnan(empty.iloc[0, 1])
