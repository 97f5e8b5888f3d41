"""BDSG: the Boundary of Distribution Support Generator (Dionelis et al.).

Given a density p_g of the normal data, train a generator B(z) whose samples lie on the
boundary of the data's support by minimising eq. 3-4:

    L = 1/N sum_i [ p_g(B(z_i))                                        (L0: low density)
                    + lambda1 * min_{j<=M} ||B(z_i) - x_j||_2          (L1: stay near the data)
                    + lambda2 * 1/(N-1) sum_{j!=i} ||z_i - z_j||_2 / ||B(z_i) - B(z_j)||_2 ]
                                                                       (L2: scatter, no collapse)

with p_g(x) = exp(log p_z(G^-1(x)) - log|det J_G(x)|) (eq. 5-6), i.e. any density's
``log_prob``. Here ``density`` is any object with ``log_prob(x)``: a toy's exact density is
the paper's closed-form (CFS) setup; ``density="flow"`` first fits a normalizing flow
(``adlib.density.Flow``, options in ``flow``) on the same normal data: the paper's
IResNet setup with a zuko flow in place of the IResNet. The anomaly score is -log p_g(x) (sec. 3.1: x* is
anomalous when p_g(x*) < eps); B itself is what the method *generates*: strong anomalies.

Defaults follow the data (``DEFAULTS``). On low-dimensional data (at most 16 features,
``adlib.data.LOW_DIM``; the paper's toys are 2-D): M = 1024, N = 256 as in the paper (sec. 4.1), but
lambda1 = 1e-3 and lambda2 = 5e-4 instead of the paper's 0.3 and 0.025, and B = MLP
2-64-64-64-2 trained with lr 3e-3 for 8000 steps instead of 2-8-8-8-2. Why: the weights
are not scale-free. L0 pushes outward with force |grad p|, which for a unit-variance
Gaussian never exceeds 0.1, while L1 pulls inward with force lambda1; the paper does not
state its data scale, and with lambda1 = 0.3 on the kit's unit-variance toys B stays inside
the data. The wider net is needed to wrap two full rings (B is continuous on a connected
latent space, so the two rings hang together by a thin bridge). Notebook 01 shows the sweep.
On other data the paper's lambda1 = 0.3, lambda2 = 0.025 are kept, and L0 uses the
per-dimension density p_g(x)^(1/D) (``adlib.boundary.density_scale``: p_g itself over- or
underflows on 784 pixels). The score stays -log p_g(x), which ranks points the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .. import train
from ..boundary import bdsg_terms, density_scale
from ..density import Flow
from ..nets import mlp
from .base import (
    DATA_DIM,
    Detector,
    RunConfig,
    check_batch,
    check_density,
    check_ints,
    check_weights,
    latents,
    make_flow,
    register,
)


@dataclass
class BDSGConfig(RunConfig):
    density: Any = None            # object with log_prob(x), or "flow" (learn p_g first)
    flow: dict | None = None       # options for adlib.density.Flow when density="flow"
    lambda1: float | None = None   # weight of L1 (set distance); None: follows the data
    lambda2: float | None = None   # weight of L2 (scattering); None: follows the data
    M: int = 1024                  # data points in the set distance per step
    N: int = 256                   # batch of latents per step (N <= M)
    hidden: tuple | None = None    # hidden widths of B; None: follows the data
    latent_dim: int | None = None  # dim of z; None: the data's dimension (64 on images)
    steps: int = 8000
    lr: float | None = None        # Adam learning rate; None: follows the data


@register
class BDSG(Detector):
    """Boundary generator B(z) trained with BDSG's loss (eq. 3-4); score = -log p(x)."""
    name = "bdsg"
    Config = BDSGConfig
    DEFAULTS = {"low": {"lambda1": 1e-3, "lambda2": 5e-4, "hidden": (64, 64, 64), "lr": 3e-3,
                        "latent_dim": DATA_DIM},
                "image": {"lambda1": 0.3, "lambda2": 0.025, "hidden": (256, 256), "lr": 1e-3,
                          "latent_dim": 64}}

    @staticmethod
    def validate(cfg: BDSGConfig) -> None:
        check_density(cfg, lambda d: callable(getattr(d, "log_prob", None)),
                      "an object with a log_prob(x) method, e.g. adlib.data.toy('bimodal')")
        check_weights(cfg, "lambda1", "lambda2")
        check_ints(cfg, M=1, N=2, steps=0)
        check_batch(cfg)
        if cfg.lr is not None and not cfg.lr > 0:
            raise ValueError(f"lr must be positive, got {cfg.lr}")

    def _build(self) -> None:
        self.dim = math.prod(self.shape)
        self.B = mlp([self.latent_dim, *self.hidden, self.dim])
        self.density = self.config.density  # "flow": fitted in _fit, or rebuilt by a load

    def _load_extra_state(self, extra: dict) -> None:
        super()._load_extra_state(extra)
        if isinstance(self.density, str):  # an empty flow of the saved architecture for its weights
            self.density = make_flow(self.config)
            self.density._build(self.dim)

    def _modules(self):
        mods = {"B": self.B} if hasattr(self, "B") else {}
        if isinstance(getattr(self, "density", None), Flow):
            mods["flow"] = self.density
        return mods

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.B(z).reshape(len(z), *self.shape)

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p_g(x) on x's device (a toy density computes on the CPU, a Flow on its own)."""
        if isinstance(self.density, Flow):
            return self.density.log_prob(x)
        return self.density.log_prob(x.cpu()).to(x.device)

    def _fit(self, x: torch.Tensor) -> None:
        c = self.config
        if isinstance(c.density, str):  # "flow": learn p_g first (the paper's IResNet / ResFlow step)
            self.density = make_flow(self.config).fit(x)
            self.density.requires_grad_(False)  # only B trains below
        opt = torch.optim.Adam(self.B.parameters(), lr=self.lr)
        log_prob = density_scale(self._log_prob, self.dim)
        m = min(c.M, len(x))

        def step(i):
            z = torch.randn(c.N, self.latent_dim, device=self.device)
            xs = x[torch.randperm(len(x), device=self.device)[:m]]
            terms = bdsg_terms(self._generate(z), z, xs, log_prob)
            loss = terms["L0"] + self.lambda1 * terms["L1"] + self.lambda2 * terms["L2"]
            train.update(opt, loss)
            return {"loss": loss, **terms}

        self.B.train()
        self.history = self._run(step, c.steps, {"B": self.B, "opt": opt}, desc="bdsg")

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        return -self._log_prob(x)

    @torch.no_grad()
    def boundary(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples of B(z), z ~ N(0, I): points on the estimated boundary (CPU)."""
        if not self.fitted:
            raise RuntimeError("bdsg: call fit() before boundary()")
        self.B.eval()
        return self._generate(latents(n, self.latent_dim, seed, self.device)).cpu()
