"""The boundary terms against values computed by hand."""
import math

import pytest
import torch

from adlib import data
from adlib.boundary import bdsg_terms, scattering, set_distance, tailgan_terms

Z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
B = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])


def test_set_distance_by_hand():
    b = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    x = torch.tensor([[1.0, 0.0], [3.0, 0.0], [10.0, 10.0]])
    assert torch.allclose(set_distance(b, x), torch.tensor([1.0, 4.0]))
    assert torch.allclose(set_distance(b, x, p=1), torch.tensor([1.0, 4.0]))


def test_set_distance_flattens_images():
    b, x = torch.zeros(2, 1, 2, 2), torch.ones(3, 1, 2, 2)
    assert torch.allclose(set_distance(b, x), torch.full((2,), 2.0))


def test_scattering_of_three_points_by_hand():
    r12 = math.sqrt(2) / math.sqrt(13)  # ||z1-z2|| / ||b1-b2||
    want = torch.tensor([(1 / 2 + 1 / 3) / 2, (1 / 2 + r12) / 2, (1 / 3 + r12) / 2])
    assert torch.allclose(scattering(Z, B), want, atol=1e-6)


def test_scattering_with_exponent_q2():
    want0 = (1 / 4 + 1 / 9) / 2
    assert scattering(Z, B, q=2)[0].item() == pytest.approx(want0, rel=1e-6)


def test_scattering_grows_when_outputs_collapse():
    spread = scattering(Z, B).mean()
    collapsed = scattering(Z, B * 0.01).mean()
    assert collapsed > 50 * spread


def test_scattering_needs_two_points():
    with pytest.raises(ValueError, match="at least 2"):
        scattering(Z[:1], B[:1])


def test_bdsg_terms_match_their_definitions():
    toy = data.toy("gaussian")
    x = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
    t = bdsg_terms(B, Z, x, toy.log_prob)
    assert t["L0"].item() == pytest.approx(toy.prob(B).mean().item(), rel=1e-6)
    assert t["L1"].item() == pytest.approx(set_distance(B, x).mean().item(), rel=1e-6)
    assert t["L2"].item() == pytest.approx(scattering(Z, B).mean().item(), rel=1e-6)


def test_tailgan_terms_by_hand_on_three_points():
    toy = data.toy("gaussian")  # p(x) = exp(-|x|^2 / 2) / (2 pi)
    x = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
    t = tailgan_terms(B, Z, x, toy.log_prob, p=2, q=2)
    dens = [math.exp(-r2 / 2) / (2 * math.pi) for r2 in (0.0, 4.0, 9.0)]
    assert t["Lpr"].item() == pytest.approx(sum(dens) / 3, rel=1e-5)
    assert t["Le"].item() == pytest.approx(sum(d * math.log(d) for d in dens) / 3, rel=1e-5)
    # B = (0,0), (2,0), (0,3): nearest of (1,0), (0,-2) at distances 1, 1, sqrt(10)
    assert t["Ld"].item() == pytest.approx((1 + 1 + math.sqrt(10)) / 3, rel=1e-5)
    # q = 2: squared ratios; rows (1/4 + 1/9)/2, (1/4 + 2/13)/2, (1/9 + 2/13)/2
    want = ((1 / 4 + 1 / 9) + (1 / 4 + 2 / 13) + (1 / 9 + 2 / 13)) / 6
    assert t["Lsc"].item() == pytest.approx(want, rel=1e-5)
    # p = 1 changes the distances: |(2,0)-(1,0)|_1 = 1, |(0,3)-(0,-2)|_1 = 5 vs |(0,3)-(1,0)|_1 = 4
    t1 = tailgan_terms(B, Z, x, toy.log_prob, p=1, q=1)
    assert t1["Ld"].item() == pytest.approx((1 + 1 + 4) / 3, rel=1e-5)
