"""The learned flow density and BDSG on top of it."""
import pytest
import torch

from adlib import data, methods, metrics
from adlib.density import Flow

TOY = data.toy("bimodal")


@pytest.fixture(scope="module")
def flow():
    return Flow(steps=600, progress=False).fit(TOY.sample(5000, seed=1))


def test_flow_density_integrates_to_one_on_a_grid(flow):
    mass = metrics.grid_mass(flow, ((-12.0, 12.0), (-7.0, 7.0)), n=300)
    assert mass == pytest.approx(1.0, abs=0.05)


def test_flow_learns_the_toy(flow):
    x = TOY.sample(3000, seed=7)
    with torch.no_grad():
        gap = (TOY.log_prob(x) - flow.log_prob(x)).mean().item()  # KL(data || flow) estimate
    assert -0.05 < gap < 0.25
    s = flow.sample(2000, seed=0)
    assert s.shape == (2000, 2) and torch.equal(s, flow.sample(2000, seed=0))
    # both modes are sampled
    assert 0.3 < (s[:, 0] > 0).float().mean().item() < 0.7


def test_flow_tail_level_holds_eps_of_its_own_mass(flow):
    with torch.no_grad():
        p = flow.prob(flow.sample(50_000, seed=11))
    assert (p < flow.tail_level(0.05)).float().mean().item() == pytest.approx(0.05, abs=0.01)


def test_flow_errors():
    with pytest.raises(ValueError, match="unknown flow kind 'glow'"):
        Flow(kind="glow")
    with pytest.raises(ValueError, match="transforms must be an int >= 1"):
        Flow(transforms=0)
    with pytest.raises(RuntimeError, match="fit"):
        Flow().log_prob(torch.zeros(2, 2))


def test_bdsg_on_a_learned_flow_finds_the_boundary(tmp_path):
    x = TOY.sample(5000, seed=1)
    # 300 flow steps and 500 BDSG steps (measured BP1 0.85, BP2 0.97, grid F1 0.94 at seed 0)
    det = methods.make("bdsg", density="flow", flow={"steps": 300}, steps=500,
                       progress=False).fit(x)
    b = det.boundary(1000, seed=0)
    assert metrics.boundary_precision(TOY, b, 0.01) > 0.6        # BP1, true density
    assert metrics.boundary_precision(det.density, b, 0.01) > 0.6  # BP2, learned density
    grid = metrics.grid_classification(TOY, det.density, 0.01)
    # a 300-step flow already places its 1 % contour close to the truth on the grid
    assert grid["f1"] > 0.85 and grid["precision"] > 0.85
    back = methods.load(det.save(tmp_path / "bdsg_flow.pt"))
    xt = TOY.sample(10, seed=3)
    assert torch.allclose(back.score(xt), det.score(xt))
    assert torch.allclose(det.score(xt), -det.density.log_prob(xt))


def test_bdsg_density_strings_are_checked():
    with pytest.raises(ValueError, match="unknown density 'gmm'.*'flow'"):
        methods.make("bdsg", density="gmm")
    with pytest.raises(ValueError, match="unknown flow kind"):
        methods.make("bdsg", density="flow", flow={"kind": "glow"})


def test_grid_classification_is_perfect_for_the_truth_itself():
    m = metrics.grid_classification(TOY, TOY, 0.01, n=100)
    assert m == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "accuracy": 1.0}


def test_image_flows_are_dequantised():
    # 200 "images" of 3 pixels with 2 levels each: without noise the density would spike
    x = (torch.randint(0, 2, (200, 3)).float() * 2 - 1)
    f = Flow(kind="maf", transforms=1, hidden=(16,), steps=50, progress=False).fit(x)
    assert f.settings["dequantize"] is None and torch.allclose(f.std, torch.full((3,), 1.0), atol=0.1)
    const = torch.cat([x[:, :2], -torch.ones(200, 1)], 1)  # a constant "border" pixel
    g = Flow(kind="maf", transforms=1, hidden=(16,), steps=0, progress=False, dequantize=2 / 255).fit(const)
    assert g.std[2].item() == pytest.approx((2 / 255) / 12**0.5, rel=1e-3)  # noise, not 1e-3
    img = torch.cat([x, -torch.ones(200, 30)], 1)  # 33 "pixels" (above LOW_DIM): one global scale, noise
    h = Flow(kind="maf", transforms=1, hidden=(16,), steps=0, progress=False).fit(img)
    assert torch.allclose(h.std, h.std[0].expand(33)) and h.std[0] > 0.3
    assert h.mean[0].item() == pytest.approx(img.mean().item() + 1 / 255, abs=1e-6)  # + noise / 2
    with pytest.raises(ValueError, match="dequantize must be >= 0"):
        Flow(dequantize=-1.0)
