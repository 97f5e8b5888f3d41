"""HistoryAD: the time sampler, weight averaging, the box loss by hand, and the method."""
import math

import pytest
import torch
from scipy import stats

from adlib import data, methods, metrics
from adlib.methods.historyad import average_state_dicts, box_penalty, history_times, tv_loss


@pytest.mark.parametrize("alpha, beta, end", [(1.0, 3.0, 5.0), (0.0, 0.5, 10.0), (2.0, 0.0, 4.0)])
def test_history_times_follow_the_truncated_exponential(alpha, beta, end):
    t = history_times(20000, alpha, beta, end, generator=torch.Generator().manual_seed(0)).double()
    assert t.min() >= alpha and t.max() <= end
    if beta == 0:
        cdf = lambda s: (s - alpha) / (end - alpha)
    else:
        cdf = lambda s: -torch.expm1(-beta * (torch.as_tensor(s) - alpha)).numpy() / -math.expm1(-beta * (end - alpha))
    assert stats.kstest(t.numpy(), cdf).pvalue > 0.01
    # and the test can fail: the same draws are not uniform when beta > 0
    if beta > 0:
        assert stats.kstest(t.numpy(), lambda s: (s - alpha) / (end - alpha)).pvalue < 1e-6


def test_history_times_rejects_an_empty_window():
    with pytest.raises(ValueError, match="end > alpha"):
        history_times(10, 5.0, 1.0, 5.0)


def test_average_of_two_known_state_dicts():
    a = {"w": torch.tensor([0.0, 2.0]), "b": torch.tensor(1.0), "n": torch.tensor(3)}
    b = {"w": torch.tensor([4.0, 6.0]), "b": torch.tensor(5.0), "n": torch.tensor(7)}
    avg = average_state_dicts([a, b], [3.0, 1.0])  # weights normalised to 0.75 / 0.25
    assert torch.allclose(avg["w"], torch.tensor([1.0, 3.0])) and avg["b"].item() == pytest.approx(2.0)
    assert avg["n"].item() == 3  # integer buffers keep the first's value
    with pytest.raises(ValueError, match="one non-negative weight per state dict"):
        average_state_dicts([a, b], [1.0])


def test_box_penalty_and_eq10_by_hand():
    v = torch.tensor([-3.0, -1.0, 0.5, 1.5])
    assert box_penalty(v).tolist() == [4.0, 0.0, 0.0, 0.25]
    v_data, v_hist = torch.tensor([-1.5, -0.5]), torch.tensor([1.0, 2.0])
    # mean D(data) - mean D(hist) + lam * mean box over both batches
    expected = (-1.0) - 1.5 + 10 * (0.25 + 0 + 0 + 1.0) / 4
    assert tv_loss(v_data, v_hist, lam=10.0).item() == pytest.approx(expected)


TOY = data.toy("bimodal")


@pytest.fixture(scope="module")
def fitted():
    # 10 short epochs (30 generator steps each), a flatter time weighting than MNIST's beta 3:
    # measured AUROC 0.982 (3 epochs gave 0.65: the history had not reached the data yet)
    return methods.make("historyad", epochs=10, saves_per_epoch=10, batch=100, tv_steps=1000,
                        beta=0.5, seed=0, progress=False).fit(TOY.sample(3000, seed=1))


def test_history_is_saved_and_sampled_from_the_window(fitted):
    t = fitted.snapshots.times()
    assert len(t) == 100 and t[-1] == pytest.approx(10.0)  # 10 saves per epoch, time in epochs
    x, when = fitted.history_sample(500, seed=0)
    assert x.shape == (500, 2) and (when >= 1.0 - 0.1).all()  # alpha = 1 epoch skipped
    x2, _ = fitted.history_sample(500, seed=0)
    assert torch.equal(x, x2)  # seeded


def test_dtv_scores_data_low_and_the_box_high(fitted):
    split = data.toy_split(TOY, 500, 500, seed=0)
    s = fitted.score(split.test_x)
    assert metrics.auroc(split.test_y, s) > 0.95
    assert s[split.test_y == 0].median() < -0.5 < s[split.test_y == 1].median()  # -1 vs up
    assert torch.allclose(fitted.score(split.test_x[:7]), s[:7], atol=1e-6)  # batch-independent


def test_fit_tv_retrains_with_other_weights_and_repeats_itself(fitted):
    xt = TOY.sample(100, seed=3)
    x = TOY.sample(3000, seed=1)
    before = fitted.score(xt)
    fitted.fit_tv(x, beta=3.0)
    other = fitted.score(xt)
    fitted.fit_tv(x)  # back to the config's beta: the same numbers as the fit
    assert not torch.allclose(other, before) and torch.allclose(fitted.score(xt), before, atol=1e-5)
    with pytest.raises(ValueError, match="non-negative"):
        fitted.fit_tv(x, lam=-1.0)


def test_snapshots_on_disk_match_memory(tmp_path):
    x = TOY.sample(1000, seed=2)
    kw = dict(epochs=2, saves_per_epoch=5, batch=100, tv_steps=50, seed=0, progress=False)
    mem = methods.make("historyad", **kw).fit(x)
    disk = methods.make("historyad", snapshot_dir=str(tmp_path / "saves"), **kw).fit(x)
    assert len(list((tmp_path / "saves").glob("*.pt"))) == 10
    assert torch.allclose(mem.score(x[:50]), disk.score(x[:50]))


@pytest.mark.parametrize("config, match", [
    ({"case": 3}, "case must be 1"),
    ({"alpha": 6.0, "epochs": 5}, r"alpha \(epochs skipped, 6.0\) must be below epochs \(5\)"),
    ({"lam": -1.0}, "lam must be a non-negative weight"),
    ({"epochs": 0}, "epochs must be an int >= 1"),
    ({"wide_sigma": 0.0}, "wide_sigma, lr and tv_lr must be positive"),
])
def test_config_errors(config, match):
    with pytest.raises(ValueError, match=match):
        methods.make("historyad", **config)


def test_optimal_tv_by_hand():
    from adlib.methods.historyad import optimal_tv
    d = optimal_tv([0.3, 0.1, 0.2], [0.1, 0.3, 0.2], lam=10.0)
    # p_hist < p_data: -1 - 0.2 / (10 * 0.4); the reverse: +1 + 0.05; equal: 0
    assert d.tolist() == pytest.approx([-1.05, 1.05, 0.0])


def test_fewer_saves_per_epoch_use_every_kth_save(fitted):
    x = TOY.sample(3000, seed=1)
    fitted.fit_tv(x, saves_per_epoch=2)  # 10 made per epoch: every 5th
    _, when = fitted.history_sample(2000, seed=0)
    assert set(torch.unique(when).tolist()) <= {k / 2 for k in range(1, 21)}
    with pytest.raises(ValueError, match="must divide the 10 made"):
        fitted.fit_tv(x, saves_per_epoch=3)
    fitted.fit_tv(x)  # back to all saves for the other tests


def test_sample_at_picks_the_save_in_force_at_t(fitted):
    # t = 2.05 epochs lies after the 20th save (t = 2.0) and before the 21st: the same G
    assert torch.equal(fitted.sample_at(2.05, 50, seed=0), fitted.sample_at(2.0, 50, seed=0))
    assert not torch.equal(fitted.sample_at(2.0, 50, seed=0), fitted.sample_at(9.0, 50, seed=0))
    # before the first save: the first save; in data units (the late states sit on the modes at x = +-5)
    assert torch.equal(fitted.sample_at(-1.0, 50, seed=0), fitted.sample_at(0.1, 50, seed=0))
    assert fitted.sample_at(10.0, 2000, seed=0)[:, 0].abs().median() > 3


def test_latent_interpolation_starts_and_ends_at_the_two_most_normal_latents(fitted):
    s, x, scores = fitted.latent_interpolation(steps=5, candidates=200, seed=0)
    assert s.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and x.shape == (5, 2)
    lowest = fitted.score(fitted.sample(200, seed=0)).sort().values[:2]
    assert sorted([scores[0].item(), scores[-1].item()]) == pytest.approx(lowest.tolist(), abs=1e-6)
    assert torch.allclose(fitted.score(x), scores)  # the scores are D_TV's on those points


def test_explorer_render_retrains_dtv_on_a_copy(fitted):
    import matplotlib
    matplotlib.use("Agg")
    from adlib import widgets
    split = data.toy_split(TOY, 300, 300, seed=0)
    x = TOY.sample(3000, seed=1)
    before = fitted.score(split.test_x)
    fig = widgets.historyad_tv(fitted, x, split, TOY, alpha=1.0, beta=0.5, lam=10.0, n=300)
    moved = widgets.historyad_tv(fitted, x, split, TOY, alpha=1.0, beta=4.0, lam=10.0, n=300)
    assert "β=0.5" in fig.axes[0].get_title() and "β=4" in moved.axes[0].get_title()
    # the redraw holds other samples and another surface; the fitted detector is untouched
    cloud = lambda f: f.axes[0].collections[-1].get_offsets()
    assert not (cloud(fig) == cloud(moved)).all()
    surf = lambda f: [im for ax in f.axes for im in ax.get_images()][0].get_array()
    assert not (surf(fig) == surf(moved)).all()
    assert torch.equal(fitted.score(split.test_x), before)
    assert widgets.CACHE["historyad", fitted, 1.0, 0.5, 10.0] is fitted  # its own weights: no refit
