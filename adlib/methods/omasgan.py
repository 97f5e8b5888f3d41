"""OMASGAN: boundary samples from an f-divergence GAN, retraining with them as negatives,
and a final discriminator J (Dionelis et al.).

Four stages, each trained with the kit's loop (seeded, NaN guard, resumable):

* **Task 1** - a GAN on the normal data with the chosen divergence (``adlib.divergences``:
  "js", "kl", "pearson", "klwgan", "wgan-gp"): generator G, critic D.
* **Task 2** (eq. 2-4) - G frozen; B starts as a copy of G and minimises
      -m(B(z), G(z)) + mu * d(B(z), G(z)) + nu * s(B(z), z),
  m: the divergence's variational estimate between B's and G's samples through a fresh
  critic t that maximises it (B moves *away* from G's distribution); d: mean distance from
  each B(z_i) to the nearest of Q samples of G (it keeps B next to the data); s: the
  scattering ratio (no collapse). B ends on the boundary of G's support.
* **Task 3** (eq. 5, Rumi-GAN style) - B and G frozen; G' (started from G's weights) and a
  discriminator C play
      min_G' max_C  alpha E_x log C(x) + beta E_z log(1 - C(G'(z)))
                    + gamma E_z log(1 - C(B(z))) + delta E_z log C(G(z)),
  with C = sigmoid(logit). The optimum p_g' = (1 + gamma) p_x - gamma p_b needs
  gamma >= alpha + delta - 1 and alpha + delta in [0, 1] (checked). G' uses the
  non-saturating loss -beta E log C(G'(z)).
* **Final J** (eq. 6) - max_J  zeta E_x log(1 - J(x)) + (1 - zeta) E_z log(1 - J(G'(z)))
  + E_z log J(B(z)): J separates the boundary samples from data and G'.

Scores (higher = more anomalous): ``score(x)`` is J's logit (the logit, not J = sigmoid,
so that saturated points keep their order). ``score(x, stage="task1")`` is minus the
Task 1 critic's raw output (the critic is high on data), ``stage="task3"`` minus C's logit:
the paper's inference ablation (critic-based scores f_D(delta_x*, G) and f_D(delta_x*, G')).

Defaults. 2-D data: the paper's synthetic Q = 4096, N = 100, mu = 8, nu = 20, z in R^2,
MLPs. Images: Q = 1024, N = 256, mu = 0.2, nu = 0.3, z in R^128, DCGAN-style conv nets
(``adlib.nets``). Tasks 3 and J: alpha + delta = 0.7, beta = 1, gamma = 0.7, zeta = 0.5;
the paper gives only the sum alpha + delta, the kit splits it alpha = 0.5, delta = 0.2.
The default divergence is the KL-WGAN, the paper's main model. On the 2-D toys lab 03 uses
the original GAN ("js"): with the KL-WGAN, G fitted the bimodal toy worse (seed 0: J's AUROC
0.981 vs 0.992, one run each), and with the f-GAN KL or Pearson estimates, which are unbounded, B ran off
to the edge of the box in Task 2 (J's AUROC 0.59 and 0.47).

On low-dimensional data the networks see the data centred and divided by one overall
standard deviation (``loc``, ``scale``); samples and scores are in data units. On the raw
bimodal toy (modes at x = +-5) the original GAN lost a mode.

``refit(x, mu=..., nu=...)`` retrains Task 2, Task 3 and J on a fitted detector, reusing
Task 1: what the lab's mu / nu sliders call.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import divergences, nets, train
from ..boundary import scattering, set_distance
from .base import Detector, RunConfig, Standardised, as_tensor, check_ints, check_weights, latents, register

STAGES = ("final", "task1", "task3")  # what score(x, stage=) accepts
STAGE_NAMES = ("task1", "task2", "task3", "final")  # training stages, in order


@dataclass
class OMASGANConfig(RunConfig):
    divergence: str = "klwgan"     # Task 1 / Task 2 metric (the paper's main model): adlib.divergences.NAMES
    mu: float | None = None        # weight of d (distance to G's samples); None: follows the data
    nu: float | None = None        # weight of s (scattering); None: follows the data
    alpha: float = 0.5             # Task 3: weight of the data term
    beta: float = 1.0              # Task 3: weight of the G' term
    gamma: float = 0.7             # Task 3: weight of the boundary (negative) term
    delta: float = 0.2             # Task 3: weight of the G term
    zeta: float = 0.5              # J: share of data (vs G') among the positives
    Q: int | None = None           # G samples in d per step; None: follows the data
    N: int | None = None           # batch size of every stage; None: follows the data
    latent_dim: int | None = None  # None: follows the data
    hidden: tuple = (128, 128)     # MLP widths on 2-D data
    steps: tuple = (5000, 3000, 3000, 3000)  # steps of Task 1, Task 2, Task 3, J
    critic_steps: int | None = None  # critic updates per generator update; None: 5 with a
                                     # gradient penalty (klwgan, wgan-gp), 1 otherwise
    lr: float = 2e-4
    # checkpoint (from RunConfig) is a file prefix here: one checkpoint per stage


@register
class OMASGAN(Standardised, Detector):
    """OMASGAN's Tasks 1-3 and J (eq. 2-6); ``score`` = J's logit, ``boundary`` = B(z)."""
    name = "omasgan"
    Config = OMASGANConfig
    networks = ("G", "D", "B", "t", "G2", "C", "J")
    DEFAULTS = {"low": {"mu": 8.0, "nu": 20.0, "Q": 4096, "N": 100, "latent_dim": 2},
                "image": {"mu": 0.2, "nu": 0.3, "Q": 1024, "N": 256, "latent_dim": 128}}

    @staticmethod
    def validate(c: OMASGANConfig) -> None:
        if c.divergence not in divergences.NAMES:
            raise ValueError(f"unknown divergence {c.divergence!r}; available: {list(divergences.NAMES)}")
        check_weights(c, "mu", "nu", "alpha", "beta", "delta")  # gamma: the constraint below
        if not 0 <= c.alpha + c.delta <= 1:
            raise ValueError(f"alpha + delta must lie in [0, 1] (Task 3's optimum), got "
                             f"alpha={c.alpha} + delta={c.delta} = {c.alpha + c.delta}")
        if not c.gamma >= c.alpha + c.delta - 1:
            raise ValueError(f"gamma must be >= alpha + delta - 1 = {c.alpha + c.delta - 1:g}, "
                             f"got gamma={c.gamma}")
        if not 0 <= c.zeta <= 1:
            raise ValueError(f"zeta must lie in [0, 1], got {c.zeta}")
        for key in ("Q", "N", "latent_dim"):
            if getattr(c, key) is not None:
                check_ints(c, **{key: 2 if key == "N" else 1})
        if c.critic_steps is not None:
            check_ints(c, critic_steps=1)
        if len(c.steps) != 4 or any(not isinstance(s, int) or s < 0 for s in c.steps):
            raise ValueError(f"steps must be four ints >= 0 (Task 1, Task 2, Task 3, J), got {c.steps!r}")
        if not c.lr > 0:
            raise ValueError(f"lr must be positive, got {c.lr}")

    # -- settings and networks
    def _settle(self, shape: tuple) -> None:
        """The data-dependent defaults (mu, nu, Q, N, latent_dim), the divergence and the
        critic steps per generator step."""
        super()._settle(shape)
        self.div = divergences.get(self.config.divergence)
        self.critic_steps = self.config.critic_steps or (5 if self.div.penalty else 1)

    def _critic(self) -> torch.nn.Module:
        """A fresh critic (D, t, C and J all share this architecture)."""
        with self.device:
            return nets.critic(self.shape, self.config.hidden)

    def _generator(self) -> torch.nn.Module:
        with self.device:
            return nets.generator(self.latent_dim, self.shape, self.config.hidden)

    def _build(self) -> None:
        """Every network (``_train`` rebuilds each from its own seed before its stage)."""
        self.G, self.B, self.G2 = self._generator(), self._generator(), self._generator()
        self.D, self.t, self.C, self.J = (self._critic() for _ in range(4))

    # -- training
    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def _adam(self, net):
        return torch.optim.Adam(net.parameters(), lr=self.config.lr, betas=(0.5, 0.999))

    def _stage(self, i: int, step, state: dict) -> None:
        """Run stage ``i`` (0: Task 1 ... 3: J) with the kit's loop. Its checkpoint must match
        the settings it depends on: Task 1 only its own, the later stages all of them."""
        c, name = self.config, STAGE_NAMES[i]
        only = None if i > 0 else ("divergence", "N", "latent_dim", "hidden", "seed", "lr", "critic_steps")
        hist = self._run(step, c.steps[i], state, part=name, seed=c.seed + i, only=only,
                         meta={"steps": list(c.steps[:i])}, desc=f"omasgan {name}")  # the stages before
        self.history = {k: v for k, v in self.history.items() if not k.startswith(name + "/")}
        self.history.update({f"{name}/{k}": v for k, v in hist.items()})

    def _fit(self, x: torch.Tensor) -> None:
        self._train(x, first=0)  # x: standardised by the fit skeleton

    def refit(self, data, **changes) -> "OMASGAN":
        """A copy of this fitted detector with Task 2, Task 3 and J retrained under
        ``changes`` (e.g. ``mu``, ``nu``, ``gamma``, ``steps``), reusing Task 1's G and D:
        what the lab's mu / nu sliders do. Same settings, same seed: the same numbers as a
        full ``fit``. Options Task 1 depends on cannot change here (use ``make(...).fit``)."""
        if not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() before refit()")
        fixed = {"divergence", "N", "latent_dim", "hidden", "lr", "seed", "critic_steps"} & set(changes)
        steps = changes.get("steps", self.config.steps)
        if fixed or tuple(steps)[:1] != tuple(self.config.steps)[:1]:
            raise ValueError(f"refit retrains from Task 2 on; {sorted(fixed) or ['steps[0]']} "
                             "change Task 1: make a new detector and fit it instead")
        # no checkpoint unless given: the fitted detector's files belong to its own settings
        new = type(self)(**{**dataclasses.asdict(self.config), "checkpoint": None, **changes})
        x = new._check_train(as_tensor(data))
        new._settle(self.shape)
        for k in ("G", "D", "B", "t", "G2", "C", "J", "loc", "scale"):
            setattr(new, k, copy.deepcopy(getattr(self, k)).to(new.device))
        new.n_train = len(x)
        new.history = {k: v for k, v in self.history.items() if k.startswith("task1/")}
        new._train(new._in(x.to(new.device)), first=1)
        new.fitted = True
        return new.eval()

    def _train(self, x: torch.Tensor, first: int) -> None:
        """Stages ``first`` .. 3 on standardised data ``x``; each starts from its own seed,
        so a refit from Task 2 repeats a full fit's numbers."""
        c, n = self.config, self.N
        batch = lambda: x[torch.randint(len(x), (n,), device=self.device)]
        fresh = lambda i, make: (train.seed(c.seed + 10 + i), make())[1]  # seeded new weights

        # Task 1: a GAN with the chosen divergence
        if first <= 0:
            self.G, self.D = fresh(0, self._generator), self._critic()
            opt_g, opt_d = self._adam(self.G), self._adam(self.D)

            def task1(i):
                for _ in range(self.critic_steps):
                    loss_d = train.update(opt_d, self.div.critic_loss(self.D, batch(), self.G(self._z(n)).detach()))
                loss_g = train.update(opt_g, self.div.generator_loss(self.D(self.G(self._z(n)))))
                return {"critic": loss_d, "generator": loss_g}

            self.G.train()
            self._stage(0, task1, {"G": self.G, "D": self.D, "opt_g": opt_g, "opt_d": opt_d})
        self.G.eval().requires_grad_(False)

        # Task 2: B from G, away from G in m, near G's samples in d, scattered by s
        self.t = fresh(1, self._critic)
        self.B = copy.deepcopy(self.G).requires_grad_(True)
        opt_b, opt_t = self._adam(self.B), self._adam(self.t)

        def task2(i):
            g = self.G(self._z(n))
            for _ in range(self.critic_steps):
                train.update(opt_t, self.div.critic_loss(self.t, self.B(self._z(n)).detach(), g))
            z = self._z(n)
            b = self.B(z)
            m = self.div.estimate(self.t(b), self.t(g))
            d = set_distance(b, self.G(self._z(self.Q))).mean()
            s = scattering(z, b).mean()
            loss = train.update(opt_b, -m + self.mu * d + self.nu * s)
            return {"loss": loss, "m": m, "d": d, "s": s}

        self.B.train()
        self._stage(1, task2, {"B": self.B, "t": self.t, "opt_b": opt_b, "opt_t": opt_t})
        self.B.eval().requires_grad_(False)

        # Task 3: G' and C with B's samples as negatives (eq. 5)
        self.C = fresh(2, self._critic)
        self.G2 = copy.deepcopy(self.G).requires_grad_(True)
        opt_g2, opt_c = self._adam(self.G2), self._adam(self.C)
        logc = lambda v: F.logsigmoid(v).mean()       # log C
        log1mc = lambda v: F.logsigmoid(-v).mean()    # log (1 - C)

        def task3(i):
            with torch.no_grad():
                b, g = self.B(self._z(n)), self.G(self._z(n))
            gain = (c.alpha * logc(self.C(batch())) + c.beta * log1mc(self.C(self.G2(self._z(n)).detach()))
                    + c.gamma * log1mc(self.C(b)) + c.delta * logc(self.C(g)))
            train.update(opt_c, -gain)
            loss_g2 = train.update(opt_g2, -c.beta * logc(self.C(self.G2(self._z(n)))))
            return {"C": -gain, "G2": loss_g2}

        self.G2.train()
        self._stage(2, task3, {"G2": self.G2, "C": self.C, "opt_g2": opt_g2, "opt_c": opt_c})
        self.G2.eval().requires_grad_(False)

        # Final J (eq. 6): B's samples against data and G'
        self.J = fresh(3, self._critic)
        opt_j = self._adam(self.J)

        def final(i):
            with torch.no_grad():
                b, g2 = self.B(self._z(n)), self.G2(self._z(n))
            gain = (c.zeta * F.logsigmoid(-self.J(batch())).mean()
                    + (1 - c.zeta) * F.logsigmoid(-self.J(g2)).mean()
                    + F.logsigmoid(self.J(b)).mean())
            train.update(opt_j, -gain)
            return {"J": -gain}

        self._stage(3, final, {"J": self.J, "opt_j": opt_j})

    def score(self, x, batch_size: int | None = None, stage: str = "final") -> torch.Tensor:
        """Anomaly scores: J's logit (``stage="final"``), or the critic-based scores of the
        paper's ablation: ``"task1"`` = -D(x), ``"task3"`` = -logit C(x)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; allowed: {list(STAGES)}")
        net, sign = {"final": (self.J, 1), "task1": (self.D, -1), "task3": (self.C, -1)}[stage]
        return self._batched(lambda chunk: sign * net(self._in(chunk)).reshape(-1), x, batch_size)

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        return self.J(self._in(x)).reshape(-1)

    @torch.no_grad()
    def boundary(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples of B(z): OMASGAN's generated strong anomalies on the boundary."""
        return self._sample(self.B, n, seed)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, stage: str = "task1") -> torch.Tensor:
        """``n`` samples of G (``stage="task1"``) or of the retrained G' (``"task3"``)."""
        if stage not in ("task1", "task3"):
            raise ValueError(f"stage must be 'task1' (G) or 'task3' (G'), got {stage!r}")
        return self._sample(self.G if stage == "task1" else self.G2, n, seed)

    def _sample(self, net, n, seed):
        if not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() first")
        net.eval()
        return self._out(net(latents(n, self.latent_dim, seed, self.device))).cpu()
