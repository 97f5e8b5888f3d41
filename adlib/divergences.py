"""Distribution metrics m(P, Q) for GANs: the critic's loss, the generator's loss, and the
variational estimate that OMASGAN's Task 2 maximises (OMASGAN, eq. 2).

A critic V(x) -> R (raw outputs ``v``) is trained on samples of P (the data) and Q (the
generator's samples). Each divergence says how to turn V into an estimate of m(P, Q):

* **f-GAN** (Nowozin et al., 2016, their eq. 7; OMASGAN eq. 2): for convex f with f(1) = 0,
      D_f(P || Q) >= sup_T  E_P[T(x)] - E_Q[f*(T(x))],
  with T = g(V) an output activation into the domain of the conjugate f*:
  - ``"kl"``:      f(u) = u log u,        g(v) = v,            f*(t) = exp(t - 1);
  - ``"pearson"``: f(u) = (u - 1)^2,      g(v) = v,            f*(t) = t^2 / 4 + t;
  - ``"js"`` (the original GAN): f(u) = u log u - (u + 1) log((u + 1) / 2) - with the GAN's
    g(v) = log sigmoid(v) and f*(t) = -log(1 - e^t) the bound is
    E_P[log D] + E_Q[log(1 - D)], D = sigmoid(v), whose maximum is 2 JS(P, Q) - log 4.
* **KL-Wasserstein GAN** (``"klwgan"``; Song & Ermon, 2020): the KL divergence in its
  Donsker-Varadhan form, m = E_P[V] - log E_Q[exp V], over Lipschitz critics (enforced here
  with the gradient penalty below; the paper uses spectral norm). The generator's gradient
  weighs its samples by softmax(V) over the batch, the paper's self-normalised importance
  weights.
* **WGAN-GP** (``"wgan-gp"``; Gulrajani et al., 2017): m = E_P[V] - E_Q[V] (Wasserstein-1
  by Kantorovich-Rubinstein duality) with the penalty lambda E[(||grad V(x^)|| - 1)^2] on
  random interpolates x^ of P and Q samples, lambda = 10.

Generators minimise the Q-dependent part with the non-saturating form (f-GAN sec. 3.2):
``generator_loss(v_q) = -E_Q[T(V)]`` for f-GANs, ``-log E_Q[exp V]`` for the KL-WGAN and
``-E_Q[V]`` for WGAN-GP.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NAMES = ("js", "kl", "pearson", "klwgan", "wgan-gp")


def _logmeanexp(v: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(v.reshape(-1), dim=0) - math.log(v.numel())


def gradient_penalty(critic, x_p: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
    """E[(||grad_x V(x^)||_2 - 1)^2] at random interpolates x^ of P and Q samples."""
    n = min(len(x_p), len(x_q))
    a = torch.rand(n, *([1] * (x_p.dim() - 1)), device=x_p.device)
    xh = (a * x_p[:n].detach() + (1 - a) * x_q[:n].detach()).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(xh).sum(), xh, create_graph=True)
    return ((g.reshape(n, -1).norm(dim=1) - 1) ** 2).mean()


class Divergence:
    """One distribution metric; see the module docstring. ``penalty``: gradient-penalty
    weight (WGAN-GP and KL-WGAN: 10; f-GANs: 0)."""

    name = "divergence"

    def __init__(self, penalty: float = 0.0):
        if not penalty >= 0:
            raise ValueError(f"penalty must be a non-negative weight, got {penalty}")
        self.penalty = penalty

    def __repr__(self) -> str:
        return f"{type(self).__name__}(penalty={self.penalty:g})"

    def estimate(self, v_p: torch.Tensor, v_q: torch.Tensor) -> torch.Tensor:
        """The variational estimate m(P, Q) from critic outputs on P and on Q samples."""
        raise NotImplementedError

    def generator_loss(self, v_q: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def critic_loss(self, critic, x_p: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
        """What the critic minimises: -m(P, Q), plus the gradient penalty if any."""
        loss = -self.estimate(critic(x_p), critic(x_q))
        if self.penalty:
            loss = loss + self.penalty * gradient_penalty(critic, x_p, x_q)
        return loss


class FGAN(Divergence):
    """f-GAN bound E_P[T] - E_Q[f*(T)] with T = activation(V)."""

    def activation(self, v):
        return v

    def f_star(self, t):
        raise NotImplementedError

    def estimate(self, v_p, v_q):
        return self.activation(v_p).mean() - self.f_star(self.activation(v_q)).mean()

    def generator_loss(self, v_q):
        return -self.activation(v_q).mean()


class KL(FGAN):
    name = "kl"

    def f_star(self, t):
        return torch.exp(t - 1)


class Pearson(FGAN):
    name = "pearson"

    def f_star(self, t):
        return t ** 2 / 4 + t


class JS(FGAN):
    """The original GAN: the bound is E_P[log D] + E_Q[log(1 - D)] = 2 JS - log 4 at best."""
    name = "js"

    def activation(self, v):
        return F.logsigmoid(v)

    def f_star(self, t):
        return -torch.log1p(-torch.exp(t))

    def estimate(self, v_p, v_q):  # the same bound, written stably: f*(log sigmoid v) = softplus(v)
        return F.logsigmoid(v_p).mean() - F.softplus(v_q).mean()


class KLWGAN(Divergence):
    name = "klwgan"

    def estimate(self, v_p, v_q):
        return v_p.mean() - _logmeanexp(v_q)

    def generator_loss(self, v_q):
        return -_logmeanexp(v_q)


class WGANGP(Divergence):
    name = "wgan-gp"

    def estimate(self, v_p, v_q):
        return v_p.mean() - v_q.mean()

    def generator_loss(self, v_q):
        return -v_q.mean()


_CLASSES = {c.name: c for c in (JS, KL, Pearson, KLWGAN, WGANGP)}


def get(name: str, penalty: float | None = None) -> Divergence:
    """The divergence ``name`` (one of ``NAMES``). ``penalty`` overrides the gradient-penalty
    weight: default 10 for "klwgan" and "wgan-gp", 0 for the f-GANs."""
    if name not in _CLASSES:
        raise ValueError(f"unknown divergence {name!r}; available: {list(NAMES)}")
    if penalty is None:
        penalty = 10.0 if name in ("klwgan", "wgan-gp") else 0.0
    return _CLASSES[name](penalty)
