"""TailGAN: a tail generator on a likelihood model (Dionelis et al.).

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

Images. The paper's T is a conv net with batch norm, started from G's weights; the kit's G
is a flow, and "start from G" (theta_T <- theta_G) needs T to have G's architecture, so T is
again a copy of the flow's sampler, with a 784-d latent on MNIST. That sampler must be cheap:
image flows default to RealNVP (coupling layers, one pass each way); a MAF samples one pixel
at a time and is refused here. p_g itself over- or underflows on 784 pixels, so L_pr and L_e
use the per-dimension density p_g(x)^(1/D) (``adlib.boundary.density_scale``); the
optional FlowGAN adversarial term is not implemented (G is trained by maximum likelihood).

Score. The paper's inference criterion is "the density term plus the l_p distance term at
the test point". Its density term is +p_g(x), which *rewards* normal points; on 2-D data,
where densities are large compared with w_d * distance, that inverts the score. The kit
therefore scores ``-log p_g(x) / D' + w_d * min_j ||x - x_j||_p`` over the training set,
with D' = 1 on 2-D data and D' = D on images (the scale the loss uses): both parts grow
with anomalousness, and the distance part is the paper's L_d at x.

Defaults follow the data. 2-D (unit-scale toys; see lab 01 on why the weights depend on
the scale): w_d = 2e-3, w_e = 0.01, w_sc = 5e-3, p = q = 2, M = 1024, N = 256, 3000 steps,
lr 1e-3. Tuned on the bimodal toy (1500-step runs, seed 0): w_sc = 5e-4 lost a mode from
G's init, w_sc = 5e-3 with w_d = 1e-3 sent 31 % of the samples beyond the 0.01 % contour,
and w_d = 2e-3 balanced it (BP1 0.80, far share 0.12, both modes ringed).
Images: see ``DEFAULTS["image"]`` and the notes there.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch

from .. import train
from ..boundary import density_scale, set_distance, tailgan_terms
from ..density import Flow
from .base import (
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

INITS = ("from_g", "random")
DEFAULTS = {"low": {"w_d": 2e-3, "w_e": 0.01, "w_sc": 5e-3, "lr": 1e-3},
            "image": {"w_d": 0.2, "w_e": 0.01, "w_sc": 0.01, "lr": 1e-4}}
# Images ([-1, 1] pixels). w_d = 0.2 gives the score's two terms equal interquartile spread on
# *normal training* data (MNIST without digit 0: log p_g / D 0.60, nearest-neighbour distance
# 2.95). What happens in training: T finds points where p_g^(1/D) is ~0 within a few dozen
# steps (a flow's density falls off steeply just off the data), after which L_d and L_sc
# shape T: its samples end up closer to the data than G's own samples (L2 6.4 vs 10.7).
# In pixel space the nearest training digit of a noisy image is almost always a "1" (least
# ink), so L_d pulls T towards 1s: after 300 steps every T sample's nearest class was 1 at
# w_sc = 0.01 and 0.1; w_sc = 1 spread them (1: 61 %, 7: 30 %) but left them 18 from the
# data (L_d) and failing the clustering check. Kept at 0.01; lab 02 shows the effect.


@dataclass
class TailGANConfig(RunConfig):
    density: Any = "flow"          # "flow" (fit G first) or a fitted adlib.density.Flow
    flow: dict | None = None       # options for adlib.density.Flow when density="flow"
    w_d: float | None = None       # weight of L_d (distance to the data); None: follows the data
    w_e: float | None = None       # weight of L_e (p log p); None: follows the data
    w_sc: float | None = None      # weight of L_sc (scattering); None: follows the data
    p: float = 2.0                 # l_p norm of the distances
    q: float = 2.0                 # power of the scattering ratio
    init: str = "from_g"           # "from_g": T starts as a copy of G; "random": fresh weights
    M: int = 1024                  # data points in the set distance per step
    N: int = 256                   # batch of latents per step (N <= M)
    steps: int = 3000
    lr: float | None = None        # Adam learning rate of T; None: follows the data


@register
class TailGAN(Detector):
    """Tail generator T(z) trained with TailGAN's loss (eq. 6-7) on a learned flow p_g."""
    name = "tailgan"
    Config = TailGANConfig
    DEFAULTS = DEFAULTS
    networks = ("G", "T")

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
        check_ints(cfg, M=1, N=2, steps=0)
        check_batch(cfg)
        if cfg.lr is not None and not cfg.lr > 0:
            raise ValueError(f"lr must be positive, got {cfg.lr}")
        if isinstance(cfg.density, Flow) and cfg.density.flow is None:
            raise ValueError("density: the Flow given to tailgan must be fitted first")

    def _build(self) -> None:
        """Check the flow kind; G is the given flow, or for density="flow" the one _fit trains; T comes in _fit."""
        c = self.config
        self.dim = math.prod(self.shape)
        kind = (c.flow or {}).get("kind") if isinstance(c.density, str) else c.density.kind
        if not self.low and kind == "maf":
            raise ValueError(f"T copies G's sampler, and a MAF samples one dimension at a time "
                             f"({self.dim} passes per layer here): use flow={{'kind': 'realnvp'}}")
        self.G = c.density  # "flow": fitted in _fit, or rebuilt by a load

    def _extra_state(self):
        return {**super()._extra_state(), "train_x": self.train_x}

    def _load_extra_state(self, extra):
        super()._load_extra_state(extra)
        if isinstance(self.G, str):  # an empty flow of the saved architecture for its weights
            self.G = make_flow(self.config)
            self.G._build(self.dim)
        self.T = copy.deepcopy(self.G).to(self.device)
        self.log_p = density_scale(self.G.log_prob, self.dim)
        self.train_x = extra["train_x"].to(self.device)

    def T_of(self, z: torch.Tensor) -> torch.Tensor:
        """T(z): the copied sampler, base latent -> data space (differentiable)."""
        return self.T.invert(z)

    def _fit(self, x: torch.Tensor) -> None:
        c = self.config
        x = x.reshape(len(x), -1)
        self.train_x = x
        if isinstance(c.density, str):
            self.G = make_flow(c).fit(x)
        self.G.requires_grad_(False)
        self.log_p = density_scale(self.G.log_prob, self.dim)
        self.T = copy.deepcopy(self.G).to(self.device)
        if c.init == "random":
            self.T._build(self.dim)  # fresh weights, same architecture
            self.T.mean.copy_(self.G.mean)
            self.T.std.copy_(self.G.std)
        self.T.requires_grad_(True)
        opt = torch.optim.Adam(self.T.flow.parameters(), lr=self.lr)
        m = min(c.M, len(x))

        def step(i):
            z = torch.randn(c.N, self.dim, device=self.device)
            xs = x[torch.randperm(len(x), device=self.device)[:m]]
            terms = tailgan_terms(self.T_of(z), z, xs, self.log_p, p=c.p, q=c.q)
            loss = (terms["Lpr"] + self.w_d * terms["Ld"] + self.w_e * terms["Le"]
                    + self.w_sc * terms["Lsc"])
            train.update(opt, loss)
            return {"loss": loss, **terms}

        self.history = self._run(step, c.steps, {"T": self.T, "opt": opt}, desc="tailgan")

    def _terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.reshape(len(x), -1)
        dist = torch.stack([set_distance(x, chunk, p=self.config.p)
                            for chunk in self.train_x.split(8192)]).min(dim=0).values
        return -self.log_p(x), self.w_d * dist

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        density, distance = self._terms(x)
        return density + distance

    def score_terms(self, x, batch_size: int | None = None) -> dict:
        """The score's two parts, ``{"density": -log p_g(x) / D', "distance": w_d * d(x)}``
        (they sum to ``score(x)``): which one separates the anomalies?"""
        parts = self._batched(lambda chunk: torch.stack(self._terms(chunk), dim=1), x, batch_size)
        return {"density": parts[:, 0], "distance": parts[:, 1]}

    @torch.no_grad()
    def tail(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples of T(z): generated points on the tail of the normal data."""
        if not self.fitted:
            raise RuntimeError("tailgan: call fit() before tail()")
        return self.T_of(latents(n, self.dim, seed, self.device)).reshape(n, *self.shape).cpu()

    boundary = tail  # the same role as BDSG's B(z)
