"""HistoryAD: a WGAN-GP's own training history as negatives, and a total-variation detector
(the HistoryAD paper).

1. **A WGAN-GP** (eq. 2, with the gradient penalty of Gulrajani et al.): the critic D is
   *negative on data and positive on G's samples* (the paper's sign, so that D already points
   towards "anomalous"), Adam with lr 5e-4 decreasing linearly to 0. ``saves_per_epoch``
   times per epoch the states (G_t, D_t) are saved with their time t in epochs, in CPU memory
   or, with ``snapshot_dir``, on disk (a conv G of about a million weights takes 4 MB per
   save; 5 epochs x 50 saves are 1 GB).
2. **P_Ghist** (eq. 3 and 13): draw t with density c * 1[alpha, epochs] * exp(-beta t)
   (``history_times``), take the last save G_t at or before t and map z ~ P_Z through it.
   alpha skips the first, random-looking epochs; beta down-weights the late, data-like
   states. ``case=2``: half the latents come from the wider P_Z' = N(0, wide_sigma^2 I), to
   spread P_Ghist further from the data (the paper does not give its width; 2 by default).
3. **D_TV** has D's architecture and starts from the exp(-beta t)-weighted mean of the saved
   D_t weights (eq. 14, ``average_state_dicts``); it minimises (eq. 10)
       L(D) = E_data[D(x)] - E_Ghist[D(x)] + lam * E_{(data + Ghist) / 2}[d(D(x), [-1, 1])^2],
   d(v, [-1, 1]) = max(0, |v| - 1) (``box_penalty``), lam = 10. Its optimum is
   D* = 1 on {p_hist > p_data}, -1 on {p_hist < p_data}, plus
   Delta* = (p_hist - p_data) / (lam (p_hist + p_data)) (eq. 11).

``score(x)`` = D_TV(x): about -1 on normal data, about +1 on anomalies.

Defaults: the paper's MNIST settings (epochs 5, alpha 1, beta 3, lam 10, 50 saves per
epoch). An "epoch" is ``len(x) // batch`` generator steps (each after ``critic_steps``
critic steps); a save is made every ``epoch // saves_per_epoch`` steps, so an epoch whose
length is not a multiple of ``saves_per_epoch`` holds a few more saves (MNIST: 937 steps,
a save every 18, 52 per epoch). The paper gives no step size for D_TV: Adam at 1e-3 for
4000 steps (at 1e-4 D_TV had not converged on MNIST: AUROC 0.86 against Fashion-MNIST
vs 0.99 at 1e-3, both with alpha 0 on the same history). Low-dimensional data are centred
and divided by one overall standard deviation before the networks see them, as in OMASGAN,
and there the critic starts at D = 0 (``_critic``).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import divergences, nets, train
from .base import DATA_DIM, Detector, RunConfig, Standardised, as_tensor, check_ints, check_weights, latents, register


def history_times(n: int, alpha: float, beta: float, end: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` times t in [alpha, end] with density proportional to exp(-beta t) (eq. 13),
    by inverting the CDF F(t) = (1 - e^{-beta (t - alpha)}) / (1 - e^{-beta (end - alpha)});
    beta = 0 gives the uniform law."""
    if not end > alpha:
        raise ValueError(f"the history needs end > alpha, got alpha={alpha}, end={end}")
    u = torch.rand(n, generator=generator, dtype=torch.float64, device="cpu")
    if beta == 0:
        return (alpha + u * (end - alpha)).float()
    return (alpha - torch.log1p(-u * (-math.expm1(-beta * (end - alpha)))) / beta).float()


def average_state_dicts(states: list[dict], weights) -> dict:
    """The weighted mean of several state dicts of one architecture (eq. 14); ``weights``
    are normalised to sum to 1. Integer buffers (e.g. batch-norm counters) keep the first's."""
    w = torch.as_tensor(weights, dtype=torch.float64, device="cpu")
    if len(states) == 0 or len(w) != len(states) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"need one non-negative weight per state dict, with a positive sum; "
                         f"got {len(states)} dicts and weights {w.tolist()}")
    w = w / w.sum()
    out = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            out[key] = sum(float(wi) * s[key].double() for wi, s in zip(w, states)).to(first.dtype)
        else:
            out[key] = first.clone()
    return out


def box_penalty(v: torch.Tensor) -> torch.Tensor:
    """d(v, [-1, 1])^2 = max(0, |v| - 1)^2, elementwise (eq. 9)."""
    return torch.relu(v.abs() - 1) ** 2


def tv_loss(v_data: torch.Tensor, v_hist: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq. 10 from D's outputs on a data batch and an equally large P_Ghist batch: the box
    term's expectation over the mixture (data + Ghist) / 2 is the mean over both batches."""
    box = torch.cat([box_penalty(v_data), box_penalty(v_hist)]).mean()
    return v_data.mean() - v_hist.mean() + lam * box


def optimal_tv(p_data, p_hist, lam: float):
    """The minimiser of eq. 10 at points with densities ``p_data`` and ``p_hist`` (eq. 11):
    D* = sign(p_hist - p_data) + (p_hist - p_data) / (lam (p_hist + p_data))."""
    p_data, p_hist = torch.as_tensor(p_data, dtype=torch.float64), torch.as_tensor(p_hist, dtype=torch.float64)
    diff, total = p_hist - p_data, (p_hist + p_data).clamp_min(1e-300)
    return torch.sign(diff) + diff / (lam * total)


class _Snapshots:
    """The saved (t, G_t, D_t) states, in memory or in a directory. It has ``state_dict`` /
    ``load_state_dict`` so that the training checkpoint keeps it and a resumed run goes on."""

    def __init__(self, where: str | None):
        self.dir = Path(where) if where else None
        self.items: list[dict] = []  # {"t": epochs, "G": state or path, "D": state or path}

    def add(self, t: float, G: torch.nn.Module, D: torch.nn.Module) -> None:
        states = {k: {n: v.detach().cpu().clone() for n, v in m.state_dict().items()}
                  for k, m in (("G", G), ("D", D))}
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)
            path = self.dir / f"save{len(self.items):05d}.pt"
            torch.save(states, path)
            self.items.append({"t": t, "path": str(path)})
        else:
            self.items.append({"t": t, **states})

    def get(self, k: int, which: str) -> dict:
        item = self.items[k]
        return torch.load(item["path"], weights_only=True)[which] if "path" in item else item[which]

    def times(self) -> torch.Tensor:
        return torch.tensor([it["t"] for it in self.items], device="cpu")

    def state_dict(self) -> dict:
        return {"items": self.items}

    def load_state_dict(self, state: dict) -> None:
        self.items = list(state["items"])


@dataclass
class HistoryADConfig(RunConfig):
    epochs: int | None = None      # WGAN-GP epochs; None: follows the data (paper, MNIST: 5)
    saves_per_epoch: int | None = None  # (G_t, D_t) saves per epoch; None: follows the data (paper: 50)
    alpha: float = 1.0             # P_Ghist skips the first alpha epochs
    beta: float | None = None      # P_Ghist weighs time t by exp(-beta t); None: follows the data (paper: 3)
    lam: float = 10.0              # weight of the [-1, 1] box term of eq. 10
    case: int | None = None        # 1: z ~ P_Z; 2: half the latents from the wider P_Z'; None: follows the data
    wide_sigma: float = 2.0        # standard deviation of P_Z' (case 2)
    batch: int | None = None       # None: follows the data
    latent_dim: int | None = None  # None: the data's dimension on low-dim data, 100 on images
    hidden: tuple | None = None    # MLP widths on low-dimensional data; None: (256, 256)
    critic_steps: int = 5          # WGAN-GP critic steps per generator step
    lr: float = 5e-4               # WGAN-GP Adam, decreasing linearly to 0 (paper: 5e-4)
    momentum: float | None = None  # Adam's beta1 in the WGAN-GP (momentum makes P_G oscillate
                                   # around the data); None: follows the data
    tv_steps: int = 4000           # D_TV training steps
    tv_lr: float = 1e-3            # D_TV's Adam (the paper gives none; 1e-4 left D_TV unconverged on MNIST)
    pool: int | None = None        # P_Ghist samples drawn once for D_TV; None: follows the data
                                   # (20 000 on low-dim data, as many as the data on images)
    g_offset: float = 0.0          # added to G's initial output (the paper's 1-D toy starts G off the data)
    snapshot_dir: str | None = None  # None: keep the saves in CPU memory; a folder: on disk


@register
class HistoryAD(Standardised, Detector):
    """HistoryAD (eq. 2, 3, 10, 13, 14); ``score`` = D_TV(x), about -1 normal, +1 anomalous."""
    name = "historyad"
    Config = HistoryADConfig
    networks = ("G", "D", "D_tv")
    # Images: the paper's MNIST settings. Low-dimensional data: the settings chosen on the
    # bimodal toy over seeds (lab 04, benchmarks/historyad_2d_seeds.py): more momentum and
    # smaller batches make G swing wider around the data, case 2 spreads the history past
    # the modes, a 20 000-sample pool lets D_TV converge (AUROC 0.992 +- 0.001 over 3 seeds
    # against 0.974 with the image settings on the same toy).
    DEFAULTS = {"low": {"epochs": 10, "saves_per_epoch": 10, "beta": 0.5, "case": 2, "batch": 32,
                        "latent_dim": DATA_DIM, "hidden": (256, 256), "momentum": 0.9, "pool": 20000},
                "image": {"epochs": 5, "saves_per_epoch": 50, "beta": 3.0, "case": 1, "batch": 64,
                          "latent_dim": 100, "hidden": (128, 128), "momentum": 0.5, "pool": None}}

    @staticmethod
    def validate(c: HistoryADConfig) -> None:
        check_ints(c, critic_steps=1, tv_steps=0)
        for key, least in (("epochs", 1), ("saves_per_epoch", 1), ("batch", 2), ("latent_dim", 1),
                           ("pool", 1)):
            if getattr(c, key) is not None:
                check_ints(c, **{key: least})
        check_weights(c, "alpha", "beta", "lam")
        if c.epochs is not None and not c.alpha < c.epochs:
            raise ValueError(f"alpha (epochs skipped, {c.alpha}) must be below epochs ({c.epochs})")
        if c.case not in (None, 1, 2):
            raise ValueError(f"case must be 1 (z ~ P_Z) or 2 (half from the wider P_Z'), got {c.case!r}")
        if c.momentum is not None and not 0 <= c.momentum < 1:
            raise ValueError(f"momentum (Adam's beta1) must lie in [0, 1), got {c.momentum}")
        if not c.wide_sigma > 0 or not c.lr > 0 or not c.tv_lr > 0:
            raise ValueError(f"wide_sigma, lr and tv_lr must be positive, got "
                             f"{c.wide_sigma}, {c.lr}, {c.tv_lr}")

    def _settle(self, shape: tuple) -> None:
        super()._settle(shape)
        self.alpha, self.lam = self.config.alpha, self.config.lam  # in use; fit_tv may change them
        if not self.alpha < self.epochs:
            raise ValueError(f"alpha (epochs skipped, {self.alpha}) must be below epochs ({self.epochs})")
        if self.config.g_offset and len(self.shape) != 1:
            raise ValueError(f"g_offset shifts an MLP generator's output; got image data {self.shape}")

    # -- networks (on standardised data: base.Standardised)
    def _build(self) -> None:
        self.G, self.D, self.D_tv = self._generator(), self._critic(), self._critic()

    def _critic(self) -> torch.nn.Module:
        """D's architecture. On low-dimensional data its last layer starts at zero (D = 0
        everywhere): from a random start the gradient penalty can lock a 1-D critic onto the
        wrong slope (turning it over means passing slope 0, where the penalty costs lam), and
        G then runs away from the data. From zero, the first steps follow the Wasserstein term."""
        D = nets.critic(self.shape, self.hidden)
        if len(self.shape) == 1:
            torch.nn.init.zeros_(D[-1].weight), torch.nn.init.zeros_(D[-1].bias)
        return D

    def _generator(self) -> torch.nn.Module:
        return nets.generator(self.latent_dim, self.shape, self.hidden)

    # -- training
    def _fit(self, x: torch.Tensor) -> None:
        if self.config.g_offset:
            with torch.no_grad():
                self.G[-1].bias += self.config.g_offset / float(self.scale)
        self._wgan(x)
        self.fit_tv(x, standardised=True)

    def _wgan(self, x: torch.Tensor) -> None:
        """Step 1: the WGAN-GP, saving (G_t, D_t) ``saves_per_epoch`` times per epoch."""
        c, n = self.config, self.batch
        per_epoch = max(1, len(x) // n)
        total = self.epochs * per_epoch
        save_every = max(1, per_epoch // self.saves_per_epoch)
        wgan = divergences.get("wgan-gp")  # critic_loss(D, P, Q) makes D high on P: P = G's samples
        opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(self.momentum, 0.9))
        opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(self.momentum, 0.9))
        decay = lambda i: max(0.0, 1 - i / total)
        sched = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_d)]
        self.snapshots = _Snapshots(c.snapshot_dir)
        z = lambda: torch.randn(n, self.latent_dim, device=self.device)

        def step(i):
            for _ in range(c.critic_steps):
                loss_d = train.update(opt_d, wgan.critic_loss(
                    self.D, self.G(z()).detach(), x[torch.randint(len(x), (n,), device=self.device)]))
            loss_g = train.update(opt_g, self.D(self.G(z())).mean())  # eq. 2: G lowers D, low on data
            for s in sched:
                s.step()
            if (i + 1) % save_every == 0:
                self.snapshots.add((i + 1) / per_epoch, self.G, self.D)
            return {"critic": loss_d, "generator": loss_g}

        state = {"G": self.G, "D": self.D, "opt_g": opt_g, "opt_d": opt_d,
                 "sched_g": sched[0], "sched_d": sched[1], "snapshots": self.snapshots}
        only = ("epochs", "batch", "saves_per_epoch", "lr", "momentum", "g_offset", "latent_dim",
                "hidden", "seed", "critic_steps")  # not the D_TV settings: fit_tv reuses the history
        hist = self._run(step, total, state, part="wgan", only=only, desc="historyad wgan-gp")
        self.history = {f"wgan/{k}": v for k, v in hist.items()}
        self.G.eval().requires_grad_(False)

    def _saves(self) -> torch.Tensor:
        """Indices of the saves in use: every ``stride``-th (``fit_tv(saves_per_epoch=)``)."""
        stride = getattr(self, "stride", 1)
        return torch.arange(stride - 1, len(self.snapshots.items), stride, device="cpu")

    def _history_weights(self, alpha: float, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the saves in use inside [alpha, epochs] and their weights exp(-beta t)."""
        t = self.snapshots.times()
        use = self._saves()
        keep = use[(t[use] >= alpha) & (t[use] <= self.epochs)]
        if len(keep) == 0:
            raise ValueError(f"no saved state lies in [alpha={alpha}, epochs={self.epochs}]")
        return keep, torch.exp(-beta * (t[keep] - alpha))

    @torch.no_grad()
    def history_sample(self, n: int, seed: int | None = None, alpha: float | None = None,
                       beta: float | None = None, standardised: bool = False):
        """``n`` samples of P_Ghist (eq. 3, 13) and the time t of the state that drew each:
        returns (x, t), on the CPU. ``alpha`` / ``beta`` default to the values in use (the
        config's, or the last ``fit_tv``'s)."""
        c = self.config
        alpha = self.alpha if alpha is None else alpha
        beta = self.beta if beta is None else beta
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        t = history_times(n, alpha, beta, self.epochs, generator=g)
        use = self._saves()
        saved = self.snapshots.times()[use]
        # the last save in use at or before t (the first one if t falls before every save)
        k = use[(torch.searchsorted(saved, t, right=True) - 1).clamp(min=0)]
        z = latents(n, self.latent_dim, None if seed is None else seed + 1)
        if self.case == 2:
            z[: n // 2] *= c.wide_sigma
        z = z.to(self.device)
        G, out = copy.deepcopy(self.G).eval(), torch.empty(n, *self.shape, device=self.device)
        for j in torch.unique(k).tolist():
            rows = (k == j).to(self.device)
            G.load_state_dict(self.snapshots.get(j, "G"))
            out[rows] = G(z[rows])
        return (out if standardised else self._out(out)).cpu(), self.snapshots.times()[k]

    @torch.no_grad()
    def sample_at(self, t: float, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples (data units) of one saved generator: the last save at or before
        time ``t`` in epochs (the first save if ``t`` is earlier): the paper's figure 3a."""
        if not getattr(self, "snapshots", None):
            raise RuntimeError(f"{self.name}: sample_at needs the WGAN history of fit()")
        k = int(torch.searchsorted(self.snapshots.times(), torch.tensor([float(t)], device="cpu"), right=True)) - 1
        G = copy.deepcopy(self.G).eval()
        G.load_state_dict(self.snapshots.get(max(k, 0), "G"))
        return self._out(G(latents(n, self.latent_dim, seed, self.device))).cpu()

    @torch.no_grad()
    def latent_interpolation(self, steps: int = 11, candidates: int = 1000, seed: int = 0):
        """The paper's sanity check (figure 8): of ``candidates`` latents, take the two
        whose final-G images D_TV finds most normal (lowest scores), z1 and z2, generate
        along (1 - s) z1 + s z2 for ``steps`` values of s in [0, 1] and score those images.
        Images between two digits need not be digits: D_TV should say so.
        Returns (s, images, scores)."""
        if not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() first")
        z = latents(candidates, self.latent_dim, seed, self.device)
        G = self.G.eval()
        i, j = self.score(self._out(G(z))).argsort()[:2].tolist()
        s = torch.linspace(0, 1, steps, device=self.device)
        x = self._out(G((1 - s[:, None]) * z[i] + s[:, None] * z[j])).cpu()
        return s.cpu(), x, self.score(x)

    def fit_tv(self, x, alpha: float | None = None, beta: float | None = None,
               lam: float | None = None, saves_per_epoch: int | None = None,
               standardised: bool = False) -> "HistoryAD":
        """Steps 2-3 again with other ``alpha``, ``beta`` or ``lam`` on the same WGAN history
        (the lab's sliders): D_TV restarts from the weighted mean of the D_t and minimises
        eq. 10 against a fresh P_Ghist pool. ``saves_per_epoch`` (a divisor of the config's)
        uses only every k-th save, as if fewer had been made: the paper's ablation without
        retraining the GAN. Changes the detector in place; returns it."""
        c = self.config
        alpha = c.alpha if alpha is None else alpha
        beta = self.resolved("beta") if beta is None else beta
        lam = c.lam if lam is None else lam
        if not getattr(self, "snapshots", None):
            raise RuntimeError(f"{self.name}: fit_tv needs the WGAN history of fit(); "
                               "a detector loaded from a file has none")
        if not (alpha >= 0 and beta >= 0 and lam >= 0):
            raise ValueError(f"alpha, beta and lam must be non-negative, got {alpha}, {beta}, {lam}")
        spe = saves_per_epoch or self.saves_per_epoch
        if not (isinstance(spe, int) and spe >= 1 and self.saves_per_epoch % spe == 0):
            raise ValueError(f"saves_per_epoch must divide the {self.saves_per_epoch} made in "
                             f"training, got {saves_per_epoch!r}")
        self.alpha, self.beta, self.lam, self.stride = alpha, beta, lam, self.saves_per_epoch // spe
        x = as_tensor(x).to(self.device)
        x = x if standardised else self._in(x)
        keep, w = self._history_weights(alpha, beta)
        train.seed(c.seed + 1)
        self.D_tv.load_state_dict(average_state_dicts([self.snapshots.get(j, "D") for j in keep.tolist()], w))
        self.D_tv.requires_grad_(True).train()
        pool, _ = self.history_sample(self.pool or len(x), seed=c.seed + 2, alpha=alpha, beta=beta,
                                      standardised=True)
        pool = pool.to(self.device)
        opt = torch.optim.Adam(self.D_tv.parameters(), lr=c.tv_lr, betas=(0.5, 0.9))
        n, dev = self.batch, self.device

        def step(i):
            loss = tv_loss(self.D_tv(x[torch.randint(len(x), (n,), device=dev)]).reshape(-1),
                           self.D_tv(pool[torch.randint(len(pool), (n,), device=dev)]).reshape(-1), lam)
            return {"L": train.update(opt, loss)}

        # no checkpoint: D_TV is retrained in seconds for each (alpha, beta, lam)
        hist = self._run(step, c.tv_steps, {}, seed=c.seed + 3, resumable=False, desc="historyad D_TV")
        self.history = {k: v for k, v in self.history.items() if not k.startswith("tv/")}
        self.history.update({f"tv/{k}": v for k, v in hist.items()})
        self.fitted = True
        return self

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        return self.D_tv(self._in(x)).reshape(-1)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples of the final generator G (in data units)."""
        if not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() first")
        return self._out(self.G.eval()(latents(n, self.latent_dim, seed, self.device))).cpu()
