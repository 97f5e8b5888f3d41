"""OMASGAN through the method interface: config checks, the four stages, scores per stage."""
import pytest
import torch

from adlib import data, methods, metrics

TOY = data.toy("bimodal")
X = TOY.sample(4000, seed=1)
SHORT = (400, 300, 300, 300)


@pytest.fixture(scope="module")
def fitted():
    # the original GAN (js) for speed; the default KL-WGAN runs 5 critic steps per step
    return methods.make("omasgan", divergence="js", steps=SHORT, seed=0, progress=False).fit(X)


def test_defaults_follow_the_data(fitted):
    assert (fitted.mu, fitted.nu, fitted.Q, fitted.N, fitted.latent_dim) == (8.0, 20.0, 4096, 100, 2)
    assert fitted.critic_steps == 1  # an f-GAN: no gradient penalty
    assert methods.make("omasgan").config.divergence == "klwgan"  # the paper's main model
    assert set(fitted.history) >= {"task1/critic", "task2/m", "task2/d", "task2/s", "task3/C", "final/J"}


def test_boundary_moves_out_of_the_data_and_j_separates_it(fitted):
    b, g = fitted.boundary(2000, seed=0), fitted.sample(2000, seed=0)
    assert b.shape == (2000, 2)
    # B leaves G's distribution: its samples sit at lower true density than G's
    assert TOY.log_prob(b).median() < TOY.log_prob(g).median() - 1.0
    # J scores B's samples above the data's (an untrained J: 0.5; measured 0.81 after these
    # short stages, where part of B still overlaps the data)
    assert metrics.auroc(torch.cat([torch.zeros(2000), torch.ones(2000)]),
                         fitted.score(torch.cat([X[:2000], b]))) > 0.7


def test_scores_per_stage_are_batch_independent(fitted):
    xt = TOY.sample(50, seed=3)
    for stage in ("task1", "task3", "final"):
        s = fitted.score(xt, stage=stage)
        assert s.shape == (50,) and torch.isfinite(s).all()
        assert torch.allclose(fitted.score(xt[:7], stage=stage), s[:7], atol=1e-5)
    assert not torch.allclose(fitted.score(xt, stage="task1"), fitted.score(xt))
    with pytest.raises(ValueError, match="unknown stage 'task2'"):
        fitted.score(xt, stage="task2")


def test_save_load_round_trip(fitted, tmp_path):
    back = methods.load(fitted.save(tmp_path / "omasgan.pt"))
    xt = TOY.sample(20, seed=4)
    for stage in ("task1", "task3", "final"):
        assert torch.allclose(back.score(xt, stage=stage), fitted.score(xt, stage=stage))
    assert torch.allclose(back.boundary(5, seed=1), fitted.boundary(5, seed=1))


def test_refit_repeats_a_full_fit_and_changes_only_later_stages(fitted):
    xt = TOY.sample(200, seed=6)
    same = fitted.refit(X)  # same settings, same seeds: the same numbers as the full fit
    for stage in ("task1", "task3", "final"):
        assert torch.allclose(same.score(xt, stage=stage), fitted.score(xt, stage=stage), atol=1e-6)
    assert torch.equal(same.boundary(50, seed=0), fitted.boundary(50, seed=0))
    # a larger distance weight pulls B closer to G's samples; Task 1 is untouched
    tight = fitted.refit(X, mu=200.0)
    assert tight.mu == 200.0 and fitted.mu == 8.0
    assert torch.equal(tight.score(xt, stage="task1"), fitted.score(xt, stage="task1"))
    g = fitted.sample(2000, seed=1)
    from adlib.boundary import set_distance
    assert set_distance(tight.boundary(500, seed=0), g).mean() < set_distance(fitted.boundary(500, seed=0), g).mean()
    with pytest.raises(ValueError, match=r"\['divergence'\] change Task 1"):
        fitted.refit(X, divergence="klwgan")
    with pytest.raises(ValueError, match=r"steps\[0\]"):
        fitted.refit(X, steps=(10, 300, 300, 300))
    with pytest.raises(ValueError, match="mu must be a non-negative weight"):
        fitted.refit(X, mu=-1.0)


def test_networks_see_standardised_data_samples_come_back_in_data_units(fitted):
    # one overall scale: the bimodal toy (x spread 5, y spread 1) keeps its shape
    assert fitted.scale.ndim == 0 and 3.0 < float(fitted.scale) < 4.5
    assert abs(fitted.sample(4000, seed=0)[:, 0].abs().median() - 5.0) < 1.5  # modes at x = +-5
    with pytest.raises(RuntimeError, match="call fit"):
        methods.make("omasgan").refit(X)


def test_images_use_conv_nets():
    x = data.loo("mnist", anomaly=1, max_train=200, max_test=100, seed=0)
    det = methods.make("omasgan", divergence="wgan-gp", steps=(2, 2, 2, 2), N=16, Q=32,
                       progress=False).fit(x)
    assert det.latent_dim == 128 and det.critic_steps == 5
    assert det.boundary(3, seed=0).shape == (3, 1, 28, 28)
    assert det.score(x.test_x).shape == (100,)


@pytest.mark.parametrize("config, match", [
    ({"divergence": "tv"}, r"unknown divergence 'tv'; available: \['js'"),
    ({"mu": -1.0}, "mu must be a non-negative weight, got -1.0"),
    ({"alpha": 0.9, "delta": 0.3}, r"alpha \+ delta must lie in \[0, 1\].*1\.2"),
    ({"alpha": 1.0, "delta": 0.0, "gamma": -0.5}, "gamma must be >= alpha"),
    ({"zeta": 1.5}, r"zeta must lie in \[0, 1\], got 1.5"),
    ({"steps": (10, 10)}, "steps must be four ints"),
    ({"N": 1}, "N must be an int >= 2"),
    ({"lr": 0.0}, "lr must be positive"),
])
def test_config_errors(config, match):
    with pytest.raises(ValueError, match=match):
        methods.make("omasgan", **config)


def test_explorer_render_refits_task2_on_a_new_mu(fitted):
    import matplotlib.pyplot as plt

    from adlib import widgets

    split = data.toy_split(TOY, n_normal=200, n_anomalies=200, seed=0, n_train=10)
    fig = widgets.omasgan_boundary(fitted, X, split, TOY, mu=8.0, nu=20.0, n=300)
    moved = widgets.omasgan_boundary(fitted, X, split, TOY, mu=100.0, nu=20.0, n=300)
    # the left panel shows B(z): other weights, other samples; the title names the weights
    a, b = (f.axes[0].collections[-1].get_offsets() for f in (fig, moved))
    assert a.shape == b.shape == (300, 2) and not (a == b).all()
    assert "μ=100" in moved.axes[0].get_title() and "AUROC" in moved.axes[1].get_title()
    assert ("omasgan", fitted, fitted.config.divergence, 8.0, 20.0) in widgets.CACHE
    plt.close("all")
