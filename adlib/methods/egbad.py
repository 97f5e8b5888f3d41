"""EGBAD: efficient GAN-based anomaly detection with a BiGAN (Zenati et al. 2018; the
GAN-AD survey's section 2.2).

A BiGAN learns an encoder E (x -> z) together with the generator G (z -> x): the
discriminator sees *pairs* D(x, z) (``adlib.nets.JointCritic``) and plays (eq. 3)

    min_{G, E} max_D  E_x[log D(x, E(x))] + E_z[log(1 - D(G(z), z))],

so that at the optimum E inverts G. No latent search at test time (AnoGAN's cost): the
score of x is one pass,

    A(x) = alpha ||x - G(E(x))||_1 + (1 - alpha) L_D(x),

with L_D = "bce": the cross-entropy of D(x, E(x)) against "real", or "fm": the feature
distance ||f(x, E(x)) - f(G(E(x)), E(x))||_1, f = D's joint hidden layer. alpha = 0.9
(Zenati et al.).

Training variants compared in the survey: the G/E loss ``generator_loss="bce"`` (the flipped
labels of the BiGAN game) or ``"fm"`` (G matches the batch mean of D's features on real
pairs; E keeps its BCE term), and an optional residual loss ``residual`` * ||x - G(E(x))||_1
added to the G/E loss. ``score_loss`` picks L_D at test time ("bce" or "fm").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import nets, train
from .base import GANBaseline, GANConfig, check_weights, register

LOSSES = ("bce", "fm")


@dataclass
class EGBADConfig(GANConfig):
    generator_loss: str = "bce"    # G/E training loss: "bce" or "fm" (feature matching)
    residual: float = 0.0          # weight of the residual loss ||x - G(E(x))||_1 in training (0: off)
    score_loss: str = "bce"        # L_D in the score: "bce" or "fm"
    alpha: float = 0.9             # score weight of the reconstruction (Zenati et al.: 0.9)


@register
class EGBAD(GANBaseline):
    """EGBAD (BiGAN); ``score`` = alpha ||x - G(E(x))||_1 + (1 - alpha) L_D(x)."""
    name = "egbad"
    Config = EGBADConfig
    networks = ("G", "E", "D")

    @staticmethod
    def validate(c: EGBADConfig) -> None:
        GANBaseline.validate(c)
        check_weights(c, "residual", "alpha")
        for key in ("generator_loss", "score_loss"):
            if getattr(c, key) not in LOSSES:
                raise ValueError(f"unknown {key} {getattr(c, key)!r}; allowed: {LOSSES}")
        if not c.alpha <= 1:
            raise ValueError(f"alpha weighs two terms as (alpha, 1 - alpha): it must lie in [0, 1], got {c.alpha}")

    def _build(self) -> None:
        c = self.config
        self.G = nets.generator(self.latent_dim, self.shape, c.hidden)
        self.E = nets.encoder(self.shape, self.latent_dim, c.hidden)
        self.D = nets.JointCritic(self.shape, self.latent_dim, c.hidden, width=c.hidden[-1] if self.low else 512)

    def _fit(self, x: torch.Tensor) -> None:
        c = self.config
        opt_ge, opt_d = self._adam(self.G, self.E), self._adam(self.D)
        bce = F.binary_cross_entropy_with_logits

        def step(i):
            xb, z = self._batch(x), self._z(c.batch)
            ex, gz = self.E(xb), self.G(z)
            real, fake = self.D(xb, ex.detach()), self.D(gz.detach(), z)
            loss_d = train.update(opt_d, bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
            real, fake = self.D(xb, ex), self.D(gz, z)
            loss_e = bce(real, torch.zeros_like(real))  # E: make real pairs look generated
            if c.generator_loss == "bce":
                loss_g = bce(fake, torch.ones_like(fake))
            else:  # feature matching on the batch means of D's joint features
                loss_g = (self.D.features(xb, ex).detach().mean(0) - self.D.features(gz, z).mean(0)).pow(2).mean()
            loss = loss_e + loss_g
            if c.residual:
                loss = loss + c.residual * (xb - self.G(ex)).abs().flatten(1).mean(1).mean()
            return {"discriminator": loss_d, "generator+encoder": train.update(opt_ge, loss)}

        self._train(step, {"opt_ge": opt_ge, "opt_d": opt_d})

    def _parts(self, x: torch.Tensor) -> torch.Tensor:
        """Per point (data units in), the reconstruction term ||x - G(E(x))||_1 and L_D."""
        xs = self._in(x)
        ex = self.E(xs)
        rec = self.G(ex)
        if self.config.score_loss == "bce":
            logit = self.D(xs, ex).reshape(-1)
            disc = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit), reduction="none")
        else:
            disc = (self.D.features(xs, ex) - self.D.features(rec, ex)).abs().sum(1)
        return torch.stack([(xs - rec).abs().flatten(1).sum(1), disc], 1)

    def score_parts(self, x) -> dict:
        """The two terms of the score for the points ``x``: {"reconstruction", "discriminator"}."""
        both = self._batched(self._parts, x)
        return {"reconstruction": both[:, 0], "discriminator": both[:, 1]}

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        rec, disc = self._parts(x).unbind(1)
        return self.config.alpha * rec + (1 - self.config.alpha) * disc

    def reconstruct(self, x) -> torch.Tensor:
        """G(E(x)) in data units (eval mode, fixed-size chunks, like ``score``)."""
        return self._batched(lambda chunk: self._out(self.G(self.E(self._in(chunk)))), x)
