"""The boundary losses shared by BDSG, TailGAN and OMASGAN.

Two building blocks appear in all three papers:

* the distance from a point to a set, ``set_distance(b, x)[i] = min_j ||b_i - x_j||_p``
  (BDSG eq. 4 second term, TailGAN's L_d, OMASGAN's d), and
* the scattering ratio, ``scattering(z, b)[i] = 1/(N-1) sum_{j != i}
  ||z_i - z_j||_p^q / ||b_i - b_j||_p^q`` (BDSG eq. 4 third term, TailGAN's L_sc with
  exponent q, OMASGAN's s): large when distinct latents map to nearby points, i.e. when the
  generator collapses.

Both BDSG and TailGAN put the density p_g itself, not its log, into the loss. On images that
number is useless: log p_g of an MNIST digit under a flow is +1000 to +2000 nats, so p_g
overflows, and a blank image gets -10^4, so p_g underflows to 0 with no gradient. The kit
therefore uses ``density_scale(log_prob, dim)``: on data of more than 16 dimensions the
losses see the geometric mean density per dimension, p_g(x)^(1/D) = exp(log p_g(x) / D).
It is monotone in p_g (the same points are "low density"), of order 1 to 10, and its
gradient is finite. On 2-D data (up to 16 dimensions) p_g is used as the papers write it.
"""
from __future__ import annotations

import torch

from .data import is_low_dim

_TINY = 1e-8  # keeps the scattering ratio finite when two outputs coincide


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1)


def density_scale(log_prob, dim: int):
    """The log-density the boundary losses use: ``log_prob`` itself on data of at most 16
    dimensions, ``log_prob(x) / dim`` (the per-dimension geometric mean) above that."""
    if is_low_dim(dim):
        return log_prob
    return lambda x: log_prob(x) / dim


def set_distance(b: torch.Tensor, x: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """``min_j ||b_i - x_j||_p`` for every row of ``b`` -> (N,). Rows may be images."""
    return torch.cdist(_flat(b), _flat(x).to(b), p=p).min(dim=1).values


def scattering(z: torch.Tensor, b: torch.Tensor, p: float = 2.0, q: float = 1.0) -> torch.Tensor:
    """Per-sample scattering ratio ``1/(N-1) sum_{j!=i} ||z_i-z_j||^q / ||b_i-b_j||^q`` -> (N,).

    With p = 2, q = 1 this is BDSG eq. 4's third term (and OMASGAN's s); TailGAN uses q = 2.
    """
    n = len(z)
    if n < 2:
        raise ValueError(f"scattering needs at least 2 samples, got {n}")
    dz = torch.cdist(_flat(z), _flat(z), p=p) ** q
    db = torch.cdist(_flat(b), _flat(b), p=p) ** q
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    ratio = torch.where(off, dz / (db + _TINY), torch.zeros_like(dz))
    return ratio.sum(dim=1) / (n - 1)


def bdsg_terms(b: torch.Tensor, z: torch.Tensor, x: torch.Tensor, log_prob) -> dict:
    """The three per-batch terms of BDSG's loss (eq. 3-4), each averaged over the batch.

    L0 = mean p(B(z_i)) (the density itself, eq. 5-6: exp of the log-density),
    L1 = mean min_j ||B(z_i) - x_j||_2 (distance to the M data points ``x``),
    L2 = mean scattering(z, B(z)).
    """
    return {
        "L0": log_prob(b).exp().mean(),
        "L1": set_distance(b, x).mean(),
        "L2": scattering(z, b).mean(),
    }


def tailgan_terms(t: torch.Tensor, z: torch.Tensor, x: torch.Tensor, log_prob,
                  p: float = 2.0, q: float = 2.0) -> dict:
    """The four per-batch terms of TailGAN's loss (eq. 6-7), each averaged over the batch.

    L_pr = mean p_g(T(z_i)) (probability: find the tail),
    L_d  = mean min_j ||T(z_i) - x_j||_p (distance to the data set),
    L_e  = mean p_g(T(z_i)) log p_g(T(z_i)) (the entropy term),
    L_sc = mean scattering(z, T(z)) with l_p norms to the power q.
    """
    logp = log_prob(t)
    dens = logp.exp()
    return {
        "Lpr": dens.mean(),
        "Ld": set_distance(t, x, p=p).mean(),
        "Le": (dens * logp).mean(),
        "Lsc": scattering(z, t, p=p, q=q).mean(),
    }
