"""adlib.divergences: conjugates, the bounds at their optimal critics, and trained critics
on two unit Gaussians one apart, where every divergence has a known value."""
import math

import pytest
import torch

from adlib import divergences, nets

P, Q = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.0, 1.0)
KL_PQ = 0.5                # KL(N(0,1) || N(1,1)) = (mu_p - mu_q)^2 / 2
PEARSON_PQ = math.e - 1    # chi^2(P || Q) = exp((mu_p - mu_q)^2) - 1
W1_PQ = 1.0                # Wasserstein-1 of a unit shift


def _js_pq() -> float:
    """JS(P, Q) by quadrature on a fine grid."""
    x = torch.linspace(-12, 13, 200_001, dtype=torch.float64)
    p, q = P.log_prob(x).double().exp(), Q.log_prob(x).double().exp()
    m = (p + q) / 2
    kl = lambda a: torch.trapezoid(a * torch.log(a / m), x)
    return float((kl(p) + kl(q)) / 2)


def test_conjugates_by_hand():
    t = torch.tensor([0.0, 1.0, 2.0, -2.0])
    assert torch.allclose(divergences.get("kl").f_star(t), torch.exp(t - 1))
    assert torch.allclose(divergences.get("pearson").f_star(t), torch.tensor([0.0, 1.25, 3.0, -1.0]))
    js = divergences.get("js")
    assert torch.allclose(js.f_star(torch.tensor([math.log(0.5)])), torch.tensor([math.log(2.0)]))


@pytest.mark.parametrize("name, f", [
    ("kl", lambda u: u * torch.log(u)),
    ("pearson", lambda u: (u - 1) ** 2),
    ("js", lambda u: u * torch.log(u) - (u + 1) * torch.log(u + 1)),  # the GAN's f
])
def test_conjugate_is_the_legendre_transform_of_f(name, f):
    """f*(t) = sup_u (u t - f(u)), checked on a grid of u."""
    u = torch.linspace(1e-4, 60, 600_001, dtype=torch.float64)
    d = divergences.get(name)
    for t in (-1.5, -0.5, 0.3, 1.0) if name != "js" else (-3.0, -1.0, -0.2):
        sup = (u * t - f(u)).max().item()
        assert d.f_star(torch.tensor(t, dtype=torch.float64)).item() == pytest.approx(sup, abs=1e-4)


def test_bounds_are_tight_at_the_optimal_critic():
    g = torch.Generator().manual_seed(0)
    xp, xq = torch.randn(400_000, generator=g), torch.randn(400_000, generator=g) + 1
    log_ratio = lambda x: P.log_prob(x) - Q.log_prob(x)
    kl = divergences.get("kl").estimate(1 + log_ratio(xp), 1 + log_ratio(xq))  # T* = f'(p/q)
    assert kl.item() == pytest.approx(KL_PQ, abs=0.02)
    dv = divergences.get("klwgan").estimate(log_ratio(xp), log_ratio(xq))
    assert dv.item() == pytest.approx(KL_PQ, abs=0.02)
    chi = divergences.get("pearson").estimate(2 * (log_ratio(xp).exp() - 1), 2 * (log_ratio(xq).exp() - 1))
    assert chi.item() == pytest.approx(PEARSON_PQ, rel=0.05)
    gan = divergences.get("js").estimate(log_ratio(xp), log_ratio(xq))  # D* = p / (p + q)
    assert gan.item() == pytest.approx(2 * _js_pq() - math.log(4), abs=0.01)


def _train_critic(name: str, steps: int = 400) -> float:
    torch.manual_seed(0)
    d = divergences.get(name)
    critic = nets.mlp([1, 64, 64, 1])
    opt = torch.optim.Adam(critic.parameters(), lr=2e-3)
    for _ in range(steps):
        loss = d.critic_loss(critic, torch.randn(512, 1), torch.randn(512, 1) + 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        xp, xq = torch.randn(100_000, 1), torch.randn(100_000, 1) + 1
        return d.estimate(critic(xp), critic(xq)).item()


@pytest.mark.parametrize("name, truth", [
    ("kl", KL_PQ), ("klwgan", KL_PQ), ("wgan-gp", W1_PQ),
    ("js", None),  # 2 JS - log 4, computed below
])
def test_trained_critic_estimates_the_known_divergence(name, truth):
    truth = 2 * _js_pq() - math.log(4) if truth is None else truth
    assert _train_critic(name) == pytest.approx(truth, rel=0.15)


def test_generator_losses_push_q_towards_p():
    """One gradient step of the generator loss on Q's location, with a fixed critic that
    prefers P (higher V near 0): the location moves towards P's mean."""
    for name in divergences.NAMES:
        loc = torch.tensor(1.0, requires_grad=True)
        v_q = -(torch.randn(1000, generator=torch.Generator().manual_seed(1)) + loc) ** 2 / 4
        divergences.get(name).generator_loss(v_q).backward()
        assert loc.grad > 0, name  # gradient descent lowers loc, i.e. moves Q towards 0


def test_unknown_divergence_and_bad_penalty():
    with pytest.raises(ValueError, match=r"unknown divergence 'tv'; available: \['js', 'kl'"):
        divergences.get("tv")
    with pytest.raises(ValueError, match="penalty must be a non-negative weight, got -1"):
        divergences.get("wgan-gp", penalty=-1)
    assert divergences.get("wgan-gp").penalty == 10 and divergences.get("kl").penalty == 0
