"""GANomaly (Akcay et al. 2018; the GAN-AD survey's section 2.3).

The generator is an encoder-decoder-encoder: G_E maps x to z, G_D maps z to the
reconstruction x^ = G(x) = G_D(G_E(x)), and a second encoder E maps x^ to z^. A
discriminator D (BCE, the original GAN) tells x from x^. The generator minimises (eq. 8-11)

    L = w_adv L_adv + w_con L_con + w_enc L_enc,
    L_adv = ||f(x) - f(G(x))||_2   (feature matching, f = D's last hidden layer),
    L_con = ||x - G(x)||_1          (the reconstruction),
    L_enc = ||G_E(x) - E(G(x))||_2  (the latent consistency),

with GANomaly's weights 1, 50, 1. As in the authors' code the norms are taken as means over
elements (squared for L_adv and L_enc), which only rescales the weights. The anomaly score
(eq. 12) is A(x) = ||G_E(x) - E(G(x))||_2: a normal image is encoded, decoded and re-encoded
to the same code; an anomaly is decoded into something normal-looking, whose code differs.

Eq. 13 min-max scales the scores over the *test set*: ``adlib.metrics.minmax(scores)`` does
that on a set you choose. ``score`` itself never does: a point's score must not depend on
the other points it is scored with (a pitfall of the public code), and AUROC
and AUPRC do not change under that scaling anyway. Inference runs in eval mode (the
decoder's batch norm uses its running statistics), and no checkpoint is chosen on test labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import divergences, nets, train
from .base import GANBaseline, GANConfig, check_weights, register


@dataclass
class GANomalyConfig(GANConfig):
    w_adv: float = 1.0             # weight of the feature-matching adversarial loss
    w_con: float = 50.0            # weight of the L1 reconstruction (contextual) loss
    w_enc: float = 1.0             # weight of the latent (encoder) loss


@register
class GANomaly(GANBaseline):
    """GANomaly: encoder-decoder-encoder generator; ``score`` = ||G_E(x) - E(G(x))||_2 (eq. 12)."""
    name = "ganomaly"
    Config = GANomalyConfig
    networks = ("G_E", "G_D", "E", "D")

    @staticmethod
    def validate(c: GANomalyConfig) -> None:
        GANBaseline.validate(c)
        check_weights(c, "w_adv", "w_con", "w_enc")

    def _build(self) -> None:
        c = self.config
        self.G_E = nets.encoder(self.shape, self.latent_dim, c.hidden)
        self.G_D = nets.generator(self.latent_dim, self.shape, c.hidden)
        self.E = nets.encoder(self.shape, self.latent_dim, c.hidden)
        self.D = nets.critic(self.shape, c.hidden)

    def forward(self, x: torch.Tensor):
        """(z, x^, z^) for standardised ``x``."""
        z = self.G_E(x)
        x_hat = self.G_D(z)
        return z, x_hat, self.E(x_hat)

    def _fit(self, x: torch.Tensor) -> None:
        c = self.config
        js = divergences.get("js")
        opt_g, opt_d = self._adam(self.G_E, self.G_D, self.E), self._adam(self.D)
        f = self.D[:-1]

        def step(i):
            xb = self._batch(x)
            z, x_hat, z_hat = self.forward(xb)
            adv = (f(xb).detach() - f(x_hat)).pow(2).mean()
            con = (xb - x_hat).abs().mean()
            enc = (z - z_hat).pow(2).mean()
            loss_g = train.update(opt_g, c.w_adv * adv + c.w_con * con + c.w_enc * enc)
            loss_d = train.update(opt_d, js.critic_loss(self.D, xb, x_hat.detach()))
            return {"generator": loss_g, "adv": adv, "con": con, "enc": enc, "discriminator": loss_d}

        self._train(step, {"opt_g": opt_g, "opt_d": opt_d})

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        z, _, z_hat = self.forward(self._in(x))
        return (z - z_hat).norm(dim=1)

    def reconstruct(self, x) -> torch.Tensor:
        """G(x) = G_D(G_E(x)) in data units (eval mode, fixed-size chunks, like ``score``)."""
        return self._batched(lambda chunk: self._out(self.forward(self._in(chunk))[1]), x)
