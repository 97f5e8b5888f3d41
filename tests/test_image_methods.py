"""BDSG-flow and TailGAN on images through the same API (tiny settings: mechanics, not scores)."""
import pytest
import torch

from adlib import data, methods
from adlib.boundary import density_scale
from adlib.density import Flow

TINY_FLOW = {"transforms": 2, "hidden": (64,), "steps": 30, "batch": 64}


@pytest.fixture(scope="module")
def split():
    return data.loo("mnist", anomaly=3, max_train=400, max_test=200, seed=0)


@pytest.fixture(scope="module")
def G(split):
    return Flow(progress=False, **TINY_FLOW).fit(split.train_x)


def test_image_flows_default_to_realnvp_with_wide_conditioners(G):
    assert G.kind == "realnvp"
    assert Flow(progress=False, steps=0).fit(torch.randn(10, 2)).kind == "nsf"


def test_density_scale_is_per_dimension_on_images_only():
    lp = lambda x: x.sum(dim=1)
    x = torch.ones(3, 784)
    assert torch.allclose(density_scale(lp, 784)(x), torch.ones(3))
    assert density_scale(lp, 2) is lp


def test_tailgan_on_images(split, G):
    det = methods.make("tailgan", density=G, steps=5, M=128, N=32, progress=False).fit(split)
    assert det.w_d == 0.2 and det.lr == 1e-4  # the image defaults
    for k, v in det.history.items():
        assert all(torch.isfinite(torch.tensor(v))), k
    t = det.tail(6, seed=0)
    assert t.shape == (6, 1, 28, 28)
    s = det.score(split.test_x)
    assert s.shape == (200,) and torch.isfinite(s).all()
    x = split.test_x[:4]
    dist = torch.cdist(x.reshape(4, -1), split.train_x.reshape(400, -1)).min(dim=1).values
    want = -G.log_prob(x).detach() / 784 + 0.2 * dist
    assert torch.allclose(s[:4], want, rtol=1e-4)


def test_tailgan_refuses_a_maf_on_images(split):
    det = methods.make("tailgan", flow={"kind": "maf", "steps": 0}, progress=False)
    with pytest.raises(ValueError, match="MAF samples one dimension at a time"):
        det.fit(split)


def test_bdsg_flow_on_images_trains_on_finite_losses(split, G):
    det = methods.make("bdsg", density=G, steps=5, M=128, N=32, progress=False).fit(split)
    assert all(torch.isfinite(torch.tensor(det.history["L0"])))
    assert 0 < det.history["L0"][0] < 1e6  # p^(1/D), not p itself (which is inf or 0 here)
    assert det.boundary(4, seed=0).shape == (4, 1, 28, 28)
    assert torch.allclose(det.score(split.test_x[:5]), -G.log_prob(split.test_x[:5]).detach())


def test_tailgan_score_terms_sum_to_the_score(split, G):
    det = methods.make("tailgan", density=G, steps=2, M=64, N=16, progress=False).fit(split)
    parts = det.score_terms(split.test_x[:7])
    assert torch.allclose(parts["density"] + parts["distance"], det.score(split.test_x[:7]))
    assert (parts["distance"] >= 0).all()
