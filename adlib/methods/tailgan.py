"""TailGAN: a tail generator on a likelihood model (Dionelis et al., papers/tailgan.txt).

Step 1 learns G with a density p_g (the paper: PresGAN or FlowGAN; here the kit's flow,
``adlib.density.Flow``, trained by maximum likelihood, without FlowGAN's adversarial term).
Step 2 trains T(z), z ~ N(0, I), minimising eq. 6-7:

    L_tot = 1/N sum_i [ w_pr p_g(T(z_i))                            (L_pr, w_pr = 1)
                        + w_d  min_{j<=M} ||T(z_i) - x_j||_p        (L_d)
                        + w_e  p_g(T(z_i)) log p_g(T(z_i))          (L_e)
                        + w_sc 1/(N-1) sum_{j!=i} ||z_i - z_j||_p^q / ||T(z_i) - T(z_j)||_p^q ]

T has G's sampler architecture (the flow's inverse transform, z -> x). ``init="from_g"``
copies G's weights, theta_T <- theta_G (sec. IV.A), so T starts *inside* the data;
``init="random"`` starts from fresh weights, i.e. near the data mean: outside the data for
multimodal sets. Note that L_e pulls towards p = 1/e (its derivative log p + 1 is negative
below it), so w_e must stay small against L_pr.

Score. The paper's inference criterion is the cost at the test point, dominated on images
by the distance term. Its density term is +p_g(x), which *rewards* normal points; on 2-D
data, where densities are large compared with w_d * distance, that inverts the score. The
kit therefore scores ``-log p_g(x) + w_d * min_j ||x - x_j||_p`` over the training set:
both parts grow with anomalousness, and the distance part is the paper's L_d at x.

2-D defaults (unit-scale toys; see lab 01 on why the weights depend on the scale):
w_d = 2e-3, w_e = 0.01, w_sc = 5e-3, p = q = 2, M = 1024, N = 256, 3000 steps, lr 1e-3.
Tuned on the bimodal toy (1500-step runs, seed 0): w_sc = 5e-4 lost a mode from G's init,
w_sc = 5e-3 with w_d = 1e-3 sent 31 % of the samples beyond the 0.01 % contour, and
w_d = 2e-3 balanced it (BP1 0.80, far share 0.12, both modes ringed).
Images are not supported yet: T on images needs a conv generator (a later step).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from .. import train
from ..boundary import set_distance, tailgan_terms
from ..density import Flow
from .base import (Detector, check_batch, check_density, check_ints, check_weights,
                   make_flow, register)

INITS = ("from_g", "random")


@dataclass
class TailGANConfig:
    density: Any = "flow"          # "flow" (fit G first) or a fitted adlib.density.Flow
    flow: dict | None = None       # options for adlib.density.Flow when density="flow"
    w_d: float = 2e-3              # weight of L_d (distance to the data)
    w_e: float = 0.01              # weight of L_e (p log p)
    w_sc: float = 5e-3             # weight of L_sc (scattering)
    p: float = 2.0                 # l_p norm of the distances
    q: float = 2.0                 # power of the scattering ratio
    init: str = "from_g"           # "from_g": T starts as a copy of G; "random": fresh weights
    M: int = 1024                  # data points in the set distance per step
    N: int = 256                   # batch of latents per step (N <= M)
    steps: int = 3000
    lr: float = 1e-3
    seed: int = 0
    checkpoint: str | None = None
    every: int = 500
    progress: bool = True


@register
class TailGAN(Detector):
    """Tail generator T(z) trained with TailGAN's loss (eq. 6-7) on a learned flow p_g."""
    name = "tailgan"
    Config = TailGANConfig

    @staticmethod
    def validate(cfg: TailGANConfig) -> None:
        check_density(cfg, lambda d: isinstance(d, Flow),
                      "a fitted adlib.density.Flow (T copies its sampler)")
        check_weights(cfg, "w_d", "w_e", "w_sc")
        for key in ("p", "q"):
            if not getattr(cfg, key) >= 1:
                raise ValueError(f"{key} must be >= 1 (the paper uses 1 or 2), "
                                 f"got {getattr(cfg, key)}")
        if cfg.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {cfg.init!r}")
        check_ints(cfg, M=1, N=2, steps=0, every=1)
        check_batch(cfg)
        if not cfg.lr > 0:
            raise ValueError(f"lr must be positive, got {cfg.lr}")

    def _modules(self):
        return {k: getattr(self, k) for k in ("G", "T") if hasattr(self, k)}

    def _extra_state(self):
        return {"train_x": self.train_x}

    def _load_extra_state(self, extra):
        self.train_x = extra["train_x"]
        dim = self.train_x.shape[1]
        self.G = make_flow(self.config) if isinstance(self.config.density, str) else self.config.density
        self.G._build(dim)
        self.T = copy.deepcopy(self.G)

    def T_of(self, z: torch.Tensor) -> torch.Tensor:
        """T(z): the copied sampler, base latent -> data space (differentiable)."""
        return self.T.flow().transform.inv(z) * self.T.std + self.T.mean

    def _fit(self, x: torch.Tensor) -> None:
        c = self.config
        if x.dim() != 2:
            raise ValueError(f"tailgan supports flat (n, d) data for now, got {tuple(x.shape)}")
        train.seed(c.seed)
        self.train_x = x
        self.G = make_flow(self.config).fit(x) if isinstance(c.density, str) else c.density
        self.G.requires_grad_(False)
        self.T = copy.deepcopy(self.G)
        if c.init == "random":
            self.T._build(x.shape[1])  # fresh weights, same architecture
            self.T.mean.copy_(self.G.mean)
            self.T.std.copy_(self.G.std)
        self.T.requires_grad_(True)
        opt = torch.optim.Adam(self.T.flow.parameters(), lr=c.lr)
        m = min(c.M, len(x))

        def step(i):
            z = torch.randn(c.N, x.shape[1])
            xs = x[torch.randperm(len(x))[:m]]
            terms = tailgan_terms(self.T_of(z), z, xs, self.G.log_prob, p=c.p, q=c.q)
            loss = (terms["Lpr"] + c.w_d * terms["Ld"] + c.w_e * terms["Le"]
                    + c.w_sc * terms["Lsc"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            return {"loss": loss, **terms}

        meta = {"method": self.name, **{k: getattr(c, k) for k in
                ("w_d", "w_e", "w_sc", "p", "q", "init", "M", "N", "lr", "seed")},
                "n_train": len(x)}
        self.history = train.run(step, c.steps, state={"T": self.T, "opt": opt}, seed=c.seed,
                                 checkpoint=c.checkpoint, every=c.every, desc="tailgan",
                                 progress=c.progress, meta=meta)

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), -1)
        dist = torch.stack([set_distance(x, chunk, p=self.config.p)
                            for chunk in self.train_x.split(8192)]).min(dim=0).values
        return -self.G.log_prob(x) + self.config.w_d * dist

    @torch.no_grad()
    def tail(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples of T(z): generated points on the tail of the normal data."""
        if not self.fitted:
            raise RuntimeError("tailgan: call fit() before tail()")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.T_of(torch.randn(n, self.train_x.shape[1], generator=g))

    boundary = tail  # the same role as BDSG's B(z)
