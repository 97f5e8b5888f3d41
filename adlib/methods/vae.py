"""A variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes",
arXiv:1312.6114): the simple reference every results table of the kit carries beside kNN.

An encoder q(z | x) = N(m(x), diag s(x)^2) and a decoder p(x | z) are trained together by
maximising the evidence lower bound (ELBO)

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || N(0, I))

with one reparameterised sample z = m + s * eps per point and step. The decoder's
likelihood is Bernoulli on images (pixels in [-1, 1] mapped to [0, 1], decoder logits:
the classic choice for MNIST, used as a continuous relaxation on colour images) and a
unit-variance Gaussian on low-dimensional data (standardised by the fit skeleton).

**Score** = the negative ELBO, evaluated *deterministically*: the reconstruction term at
the posterior mean z = m(x) plus the closed-form KL. Drawing z at test time would make a
point's score depend on the random state (and so on the batch it arrives in); the mean
does not. Higher = more anomalous.

A 2-D latent (``latent_dim=2``, the default) is the sanity anchor quoted in the
leave-one-out literature: about 0.855 mean AUROC on MNIST leave-one-out (Tonnaer's
thesis, table 3.3), as high as OMASGAN's reported 0.85. Convolutional encoder / decoder on
images (the kit's ``conv_critic`` / ``conv_generator`` shapes), MLPs on low-dimensional data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .. import nets, train
from .base import Detector, RunConfig, Standardised, check_ints, latents, register


@dataclass
class VAEConfig(RunConfig):
    latent_dim: int = 2            # size of z (2: the reference's setting)
    steps: int = 5000              # Adam steps
    batch: int = 128
    lr: float = 1e-3
    hidden: tuple = (256, 256)     # MLP widths on low-dimensional data
    width: int = 32                # channels of the first conv layer on images


@register
class VAE(Standardised, Detector):
    """VAE: ``score`` = negative ELBO at the posterior mean (reconstruction + KL)."""
    name = "vae"
    Config = VAEConfig
    networks = ("enc", "dec")

    @staticmethod
    def validate(c: VAEConfig) -> None:
        check_ints(c, latent_dim=1, steps=0, batch=2, width=1)
        if not c.lr > 0:
            raise ValueError(f"lr must be positive, got {c.lr}")

    def _build(self) -> None:
        c = self.config
        if self.low:
            d = math.prod(self.shape)
            self.enc = nets.mlp([d, *c.hidden, 2 * c.latent_dim])
            self.dec = nets.mlp([c.latent_dim, *c.hidden, d])
        else:
            self.enc = nets.conv_critic(self.shape, width=c.width, out=2 * c.latent_dim)
            self.dec = nets.conv_generator(c.latent_dim, self.shape, width=c.width)[:-1]  # logits: no tanh

    def _posterior(self, x: torch.Tensor):
        m, log_s = self.enc(x).chunk(2, dim=1)
        return m, log_s.clamp(-8, 8)

    def _neg_elbo(self, x: torch.Tensor, z: torch.Tensor, m, log_s) -> torch.Tensor:
        """Per point: -log p(x | z) + KL(q(z | x) || N(0, I))."""
        out = self.dec(z)
        if self.low:
            rec = 0.5 * (out - x).pow(2).flatten(1).sum(1)
        else:
            rec = F.binary_cross_entropy_with_logits(out, (x + 1) / 2, reduction="none").flatten(1).sum(1)
        kl = 0.5 * (m.pow(2) + (2 * log_s).exp() - 2 * log_s - 1).sum(1)
        return rec + kl

    def _fit(self, x: torch.Tensor) -> None:
        c = self.config
        opt = torch.optim.Adam([*self.enc.parameters(), *self.dec.parameters()], lr=c.lr)
        self.enc.train(), self.dec.train()

        def step(i):
            xb = x[torch.randint(len(x), (c.batch,), device=self.device)]
            m, log_s = self._posterior(xb)
            z = m + log_s.exp() * torch.randn_like(m)
            return {"neg_elbo": train.update(opt, self._neg_elbo(xb, z, m, log_s).mean())}

        self.history = self._run(step, c.steps, {"enc": self.enc, "dec": self.dec, "opt": opt})

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        x = self._in(x)
        m, log_s = self._posterior(x)
        return self._neg_elbo(x, m, m, log_s)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.dec(z)
        return self._out(out if self.low else torch.sigmoid(out) * 2 - 1)

    def reconstruct(self, x) -> torch.Tensor:
        """The decoder's mean at the posterior mean, in data units (eval mode, fixed chunks)."""
        return self._batched(lambda chunk: self._decode(self._posterior(self._in(chunk))[0]), x)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` decoder means at z ~ N(0, I), in data units."""
        if not self.fitted:
            raise RuntimeError("vae: call fit() before sample()")
        self.eval()
        return self._decode(latents(n, self.config.latent_dim, seed, self.device)).cpu()
