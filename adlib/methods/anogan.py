"""AnoGAN (Schlegl et al. 2017; the GAN-AD survey's section 2.1).

1. **A GAN on normal data** (the original, JS, GAN: ``adlib.divergences.get("js")``): G maps
   z ~ N(0, I) to data, a discriminator D tells data from G's samples.
2. **At test time, a search in latent space** for each point x: Γ (``search_steps``)
   gradient steps on z minimising (eq. 4-6)
       L(z) = (1 - lam) ||x - G(z)||_1 + lam ||f(x) - f(G(z))||_1,
   the residual loss plus the feature-matching discriminator loss, with f = D's last hidden
   layer. (Eq. 6 of the survey writes the second weight as gamma; it is the lam of AnoGAN.)
3. **Score** A(x) = L(z_Γ) (eq. 7): a normal point has a latent whose image matches it.

The search is what makes AnoGAN slow: every test point costs Γ forward and backward passes
through G and D (Γ = 500 in the paper). It is batch-independent: each point's loss depends
only on its own z, Adam's update is elementwise, every search starts from z = 0 (the prior's
mode) and G and D run in eval mode, so a point's score does not depend on its neighbours in
the batch (tested).

Defaults: DCGAN's Adam (lr 2e-4, betas 0.5 / 0.999) for the GAN; lam = 0.1 (AnoGAN);
Adam with lr 0.01 for the latent search (the paper does not state it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import divergences, nets, train
from .base import GANBaseline, GANConfig, check_ints, check_weights, register


@dataclass
class AnoGANConfig(GANConfig):
    search_steps: int = 500        # Γ: latent-search steps per test point (AnoGAN: 500)
    lam: float = 0.1               # λ: weight of the feature-matching term (AnoGAN: 0.1)
    search_lr: float = 0.01        # Adam's step size in the latent search


@register
class AnoGAN(GANBaseline):
    """AnoGAN: GAN + test-time latent search; ``score`` = L(z_Γ) (eq. 4-7)."""
    name = "anogan"
    Config = AnoGANConfig
    networks = ("G", "D")
    # The search runs on the device, batched over the points of one chunk (``score_batch``).
    # On 2 CPU cores 256 images per chunk ran Γ = 500 over MNIST's 10k test images in about
    # 36 min, 4096 per chunk in about 88 min; a GPU takes 4096 at once.

    @property
    def score_batch(self) -> int:
        return 4096 if self.device.type == "cuda" else 256

    @staticmethod
    def validate(c: AnoGANConfig) -> None:
        GANBaseline.validate(c)
        check_ints(c, search_steps=0)
        check_weights(c, "lam")
        if not c.lam <= 1:
            raise ValueError(f"lam weighs two terms as (1 - lam, lam): it must lie in [0, 1], got {c.lam}")
        if not c.search_lr > 0:
            raise ValueError(f"search_lr must be positive, got {c.search_lr}")

    def _build(self) -> None:
        self.G = nets.generator(self.latent_dim, self.shape, self.config.hidden)
        self.D = nets.critic(self.shape, self.config.hidden)

    def _fit(self, x: torch.Tensor) -> None:
        n = self.config.batch
        js = divergences.get("js")
        opt_g, opt_d = self._adam(self.G), self._adam(self.D)

        def step(i):
            loss_d = train.update(opt_d, js.critic_loss(self.D, self._batch(x), self.G(self._z(n)).detach()))
            loss_g = train.update(opt_g, js.generator_loss(self.D(self.G(self._z(n)))))
            return {"discriminator": loss_d, "generator": loss_g}

        self._train(step, {"opt_g": opt_g, "opt_d": opt_d})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): D's last hidden layer, flattened (networks' units)."""
        return self.D[:-1](x).flatten(1)

    def _loss(self, x, fx, z, lam):
        g = self.G(z)
        residual = (x - g).abs().flatten(1).sum(1)
        return (1 - lam) * residual + lam * (fx - self.features(g)).abs().sum(1)

    def search(self, x, search_steps: int | None = None, lam: float | None = None):
        """The latent search for the points ``x`` (data units), in chunks of ``score_batch``
        on the device: returns (z_Γ, L(z_Γ)) on the CPU. ``search_steps`` / ``lam`` default to
        the config's (the lab's sliders change them)."""
        both = self._batched(lambda chunk: torch.cat(self._search(chunk, search_steps, lam), 1), x)
        return both[:, :-1], both[:, -1]

    def _search(self, x, search_steps=None, lam=None):
        """The search on one chunk already on the device: (z_Γ, L(z_Γ)[:, None])."""
        c = self.config
        steps = c.search_steps if search_steps is None else search_steps
        lam = c.lam if lam is None else lam
        x = self._in(x)
        self.G.requires_grad_(False), self.D.requires_grad_(False)  # only z moves
        with torch.enable_grad():
            fx = self.features(x).detach()
            z = torch.zeros(len(x), self.latent_dim, device=self.device, requires_grad=True)
            opt = torch.optim.Adam([z], lr=c.search_lr)
            for _ in range(steps):
                train.update(opt, self._loss(x, fx, z, lam).sum())  # a sum: each z_i sees only its own loss
        with torch.no_grad():
            return z.detach(), self._loss(x, fx, z, lam)[:, None]

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        return self._search(x)[1]

    @torch.no_grad()
    def reconstruct(self, x, z: torch.Tensor | None = None) -> torch.Tensor:
        """G(z_Γ) for the points ``x``, in data units: what the search found. Pass the ``z``
        that ``search(x)`` returned to skip searching again."""
        if z is None:
            z, _ = self.search(x)
        self._check_points(x)
        return self._out(self.G.eval()(z.to(self.device))).cpu()
