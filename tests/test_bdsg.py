"""BDSG through the method interface: config errors, fitting, scoring, save / load."""
import pytest
import torch

from adlib import data, methods, metrics

TOY = data.toy("bimodal")


@pytest.fixture(scope="module")
def fitted():
    return methods.make("bdsg", density=TOY, steps=300, progress=False).fit(
        TOY.sample(4000, seed=1))


def test_registry():
    assert "bdsg" in methods.available()
    with pytest.raises(ValueError, match="unknown method 'bdgs'.*bdsg"):
        methods.make("bdgs")


@pytest.mark.parametrize("config, match", [
    ({"lambda1": -0.1}, "lambda1 must be a non-negative weight, got -0.1"),
    ({"lambda2": -1.0}, "lambda2 must be a non-negative weight"),
    ({"N": 512, "M": 256}, r"N \(batch, 512\) must not exceed M"),
    ({"lamda1": 0.3}, r"unknown option\(s\) \['lamda1'\].*lambda1"),
    ({"lr": 0.0}, "lr must be positive"),
    ({"steps": -5}, "steps must be an int >= 0, got -5"),
    ({"N": 1}, "N must be an int >= 2, got 1"),
    ({"density": None}, "log_prob"),
    ({"density": "flw"}, "unknown density .flw."),
])
def test_config_errors_name_the_value(config, match):
    with pytest.raises(ValueError, match=match):
        methods.make("bdsg", **{"density": TOY, **config})


def test_defaults_follow_the_data(fitted):
    assert fitted.lambda1 == 1e-3 and fitted.lambda2 == 5e-4 and fitted.latent_dim == 2
    other = methods.make("bdsg", density=data.toy("gaussian"), steps=0, progress=False)
    other._settle((10,))  # up to data.LOW_DIM features: the low-dimensional table
    assert other.lambda1 == 1e-3 and other.latent_dim == 10
    other._settle((1, 28, 28))
    assert other.lambda1 == 0.3 and other.lambda2 == 0.025 and other.latent_dim == 64  # the paper's


def test_training_logs_the_three_terms_and_moves_outward(fitted):
    h = fitted.history
    assert set(h) == {"loss", "L0", "L1", "L2"} and len(h["loss"]) == 300
    assert h["loss"][-1] < h["loss"][0]
    b = fitted.boundary(1000, seed=0)
    assert b.shape == (1000, 2)
    # even after 300 steps B has left the bulk: most samples sit beyond the 10 % tail
    assert metrics.boundary_precision(TOY, b, 0.10) > 0.5


def test_score_is_minus_log_density_and_batch_independent(fitted):
    x = TOY.sample(50, seed=4)
    s = fitted.score(x)
    assert torch.allclose(s, -TOY.log_prob(x))
    assert torch.equal(fitted.score(x[:7]), s[:7])
    assert torch.equal(fitted.score(x, batch_size=8), s)


def test_same_seed_same_boundary():
    kw = dict(density=TOY, steps=50, seed=3, progress=False)
    x = TOY.sample(2000, seed=1)
    a = methods.make("bdsg", **kw).fit(x).boundary(100, seed=0)
    b = methods.make("bdsg", **kw).fit(x).boundary(100, seed=0)
    c = methods.make("bdsg", **{**kw, "seed": 4}).fit(x).boundary(100, seed=0)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_save_and_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "bdsg.pt")
    back = methods.load(path)
    assert back.config.lambda1 is None and back.lambda1 == fitted.lambda1
    assert torch.equal(back.boundary(64, seed=1), fitted.boundary(64, seed=1))
    x = TOY.sample(20, seed=2)
    assert torch.equal(back.score(x), fitted.score(x))
    assert back.history == fitted.history


def test_fit_resumes_from_its_checkpoint(tmp_path):
    x = TOY.sample(2000, seed=1)
    kw = dict(density=TOY, seed=0, progress=False, every=20)
    full = methods.make("bdsg", steps=60, checkpoint=str(tmp_path / "a.pt"), **kw).fit(x)
    methods.make("bdsg", steps=40, checkpoint=str(tmp_path / "b.pt"), **kw).fit(x)
    resumed = methods.make("bdsg", steps=60, checkpoint=str(tmp_path / "b.pt"), **kw).fit(x)
    assert torch.equal(resumed.boundary(32, seed=0), full.boundary(32, seed=0))


def test_score_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="fit"):
        methods.make("bdsg", density=TOY).score(torch.zeros(3, 2))
