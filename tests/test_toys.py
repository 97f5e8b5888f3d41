"""Toy distributions: exact densities, tail levels, seeding, grid."""
import math

import pytest
import torch
from torch import distributions as D

from adlib import data


def test_gaussian_log_prob_is_the_closed_form():
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-3.0, 0.5]])
    want = -math.log(2 * math.pi) - (x**2).sum(1) / 2
    assert torch.allclose(data.toy("gaussian").log_prob(x), want, atol=1e-5)


def test_bimodal_log_prob_matches_a_hand_built_mixture():
    toy = data.toy("bimodal", sep=6.0, std=1.5)
    x = toy.sample(100, seed=3)
    comps = [D.MultivariateNormal(torch.tensor(m), 1.5**2 * torch.eye(2))
             for m in ([-3.0, 0.0], [3.0, 0.0])]
    want = torch.logsumexp(torch.stack([c.log_prob(x) + math.log(0.5) for c in comps]), 0)
    assert torch.allclose(toy.log_prob(x), want, atol=1e-5)


@pytest.mark.parametrize("name", ["gaussian", "bimodal", "ring", "disjoint"])
def test_every_toy_samples_and_has_modes(name):
    toy = data.toy(name)
    x = toy.sample(500, seed=0)
    assert x.shape == (500, 2) and x.dtype == torch.float32
    assert toy.log_prob(x).shape == (500,)
    assert toy.modes.shape[1] == 2
    assert torch.equal(x, toy.sample(500, seed=0))
    assert not torch.equal(x, toy.sample(500, seed=1))


@pytest.mark.parametrize("name", ["bimodal", "disjoint"])
def test_tail_level_holds_eps_of_the_mass(name):
    toy = data.toy(name)
    fresh = toy.prob(toy.sample(200_000, seed=99))
    for eps in (0.01, 0.05):
        share = (fresh < toy.tail_level(eps)).float().mean().item()
        assert share == pytest.approx(eps, abs=0.15 * eps)


def test_tail_level_of_the_standard_gaussian_is_analytic():
    # in 2D, |X|^2 ~ Exp(1/2), so P(p(X) < tau) = tau / p_max exactly
    assert data.toy("gaussian").tail_level(0.01) == pytest.approx(0.01 / (2 * math.pi), rel=0.05)


def test_tail_level_rejects_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        data.toy("gaussian").tail_level(1.5)


def test_unknown_toy_names_the_choices():
    with pytest.raises(ValueError, match="'moons'.*bimodal"):
        data.toy("moons")


def test_toy_pickles_by_recipe():
    import pickle

    toy = data.toy("ring", k=5)
    back = pickle.loads(pickle.dumps(toy))
    x = toy.sample(10, seed=0)
    assert torch.allclose(back.log_prob(x), toy.log_prob(x)) and len(back.modes) == 5


def test_grid_is_row_major_over_the_box():
    g = data.grid(((0, 2), (10, 11)), 3)
    assert g.shape == (9, 2)
    assert g[0].tolist() == [0.0, 10.0] and g[2].tolist() == [2.0, 10.0]
    assert g[-1].tolist() == [2.0, 11.0]
