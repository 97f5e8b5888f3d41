"""TailGAN through the method interface (2-D)."""
import pytest
import torch

from adlib import data, methods, metrics
from adlib.density import Flow

TOY = data.toy("bimodal")
X = TOY.sample(5000, seed=1)


@pytest.fixture(scope="module")
def G():
    return Flow(steps=450, progress=False).fit(X)


@pytest.mark.parametrize("init", ["from_g", "random"])
def test_tail_samples_leave_the_bulk_and_pass_the_cluster_check(G, init):
    # 250 steps on the 450-step flow: measured BP(10 %) 0.999, cluster check 0.998 / 0.996 (from_g / random)
    det = methods.make("tailgan", density=G, init=init, steps=250, progress=False).fit(X)
    assert set(det.history) == {"loss", "Lpr", "Ld", "Le", "Lsc"}
    t = det.tail(1000, seed=0)
    assert metrics.boundary_precision(TOY, t, 0.10) > 0.5  # outside the 10 % tail contour
    check = metrics.cluster_check(t, metrics.mode_groups(TOY, X))
    assert check["pass_share"] >= 0.9 and min(check["shares"]) > 0.05  # both modes


def test_from_g_starts_as_a_copy_of_g(G):
    det = methods.make("tailgan", density=G, steps=0, progress=False).fit(X)
    z = torch.randn(5, 2)
    with torch.no_grad():
        want = G.flow().transform.inv(z) * G.std + G.mean
        assert torch.allclose(det.T_of(z), want, atol=1e-5)
    rnd = methods.make("tailgan", density=G, init="random", steps=0, progress=False).fit(X)
    with torch.no_grad():
        assert not torch.allclose(rnd.T_of(z), want, atol=1e-2)


def test_score_and_save_load(G, tmp_path):
    det = methods.make("tailgan", density=G, steps=50, progress=False).fit(X)
    xt = torch.cat([TOY.sample(20, seed=5), torch.tensor([[0.0, 0.0], [0.0, 9.0]])])
    s = det.score(xt)
    want = -G.log_prob(xt) + det.w_d * torch.cdist(xt, X).min(dim=1).values
    assert torch.allclose(s, want.detach(), rtol=1e-4)
    assert torch.allclose(det.score(xt[:3]), s[:3], rtol=1e-5, atol=1e-6)  # BLAS rounding only
    assert s[-2:].min() > s[:20].max()  # the two far points score highest
    back = methods.load(det.save(tmp_path / "tailgan.pt"))
    assert torch.allclose(back.score(xt), s) and torch.allclose(back.tail(8, seed=1), det.tail(8, seed=1))


@pytest.mark.parametrize("config, match", [
    ({"w_d": -1.0}, "w_d must be a non-negative weight, got -1.0"),
    ({"w_sc": -0.5}, "w_sc must be a non-negative weight"),
    ({"init": "zeros"}, r"init must be one of \('from_g', 'random'\), got 'zeros'"),
    ({"p": 0.5}, "p must be >= 1"),
    ({"N": 300, "M": 200}, r"N \(batch, 300\) must not exceed M"),
    ({"density": "gmm"}, "unknown density 'gmm'"),
    ({"density": data.toy("bimodal")}, "copies its sampler"),
])
def test_config_errors(config, match):
    with pytest.raises(ValueError, match=match):
        methods.make("tailgan", **config)
