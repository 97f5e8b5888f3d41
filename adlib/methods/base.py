"""What every detector shares: a validated config, fit / score / save, and the registry."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

REGISTRY: dict[str, type["Detector"]] = {}


def register(cls):
    """Class decorator: make a detector available to ``adlib.methods.make(cls.name)``."""
    REGISTRY[cls.name] = cls
    return cls


def as_tensor(data) -> torch.Tensor:
    """Training data as one float tensor: accepts a tensor, a ``Split`` (its ``train_x``)
    or a torch ``Dataset`` of tensors / (tensor, label) pairs."""
    if hasattr(data, "train_x"):
        data = data.train_x
    if torch.is_tensor(data):
        return data.float()
    items = [data[i] for i in range(len(data))]
    items = [it[0] if isinstance(it, (tuple, list)) else it for it in items]
    return torch.stack([torch.as_tensor(it) for it in items]).float()


def check_weights(cfg, *keys) -> None:
    """Each named config value must be a non-negative number (a loss weight)."""
    for key in keys:
        v = getattr(cfg, key)
        if v is not None and not v >= 0:
            raise ValueError(f"{key} must be a non-negative weight, got {v}")


def check_ints(cfg, **least) -> None:
    """Each named config value must be an int of at least the given size."""
    for key, low in least.items():
        v = getattr(cfg, key)
        if not isinstance(v, int) or v < low:
            raise ValueError(f"{key} must be an int >= {low}, got {v!r}")


def check_batch(cfg) -> None:
    """The boundary losses draw N latents against M data points: N <= M (BDSG, TailGAN)."""
    if cfg.N > cfg.M:
        raise ValueError(f"N (batch, {cfg.N}) must not exceed M (data points, {cfg.M}): "
                         "the papers require N <= M")


def check_density(cfg, accepts, allowed: str) -> None:
    """``cfg.density`` is "flow" (then ``cfg.flow`` must be valid Flow options) or an object
    that ``accepts`` approves; ``allowed`` says in words what that object may be."""
    from ..density import Flow

    if isinstance(cfg.density, str):
        if cfg.density != "flow":
            raise ValueError(f"unknown density {cfg.density!r}; allowed: 'flow' or {allowed}")
        Flow(**{"progress": False, **(cfg.flow or {})})  # validates the flow options
    elif not accepts(cfg.density):
        raise ValueError(f"density must be 'flow' or {allowed}, got {cfg.density!r}")


@dataclasses.dataclass
class RunConfig:
    """The options every trained detector shares (the methods' configs extend it)."""
    seed: int = 0                  # seeds data order, initial weights and training
    checkpoint: str | None = None  # file to checkpoint to / resume from
    every: int = 500               # checkpoint interval (steps)
    progress: bool = True          # show a tqdm bar


def make_flow(cfg):
    """A fresh ``adlib.density.Flow`` with the method's seed, progress flag and ``cfg.flow``."""
    from ..density import Flow

    return Flow(**{"seed": cfg.seed, "progress": cfg.progress, **(cfg.flow or {})})


def latents(n: int, dim: int, seed: int | None = None) -> torch.Tensor:
    """``n`` standard normal latents of size ``dim``; ``seed`` makes them repeatable without
    touching the global RNG (what ``boundary(n, seed)`` and friends draw from)."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(n, dim, generator=g)


class Standardised:
    """For detectors whose networks see standardised data: low-dimensional data are centred
    and divided by one overall standard deviation (one number, so that distances keep their
    shape); images, already in [-1, 1], are left as they are. ``_in`` maps data to the
    networks' units, ``_out`` back; both ``loc`` and ``scale`` are saved with the detector."""

    def _standardise(self, x: torch.Tensor) -> None:
        from ..data import is_low_dim

        if is_low_dim(x[0].numel()):
            self.loc, self.scale = x.mean(0), (x - x.mean(0)).pow(2).mean().sqrt()
        else:
            self.loc, self.scale = torch.zeros(x.shape[1:]), torch.tensor(1.0)

    def _in(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.loc) / self.scale

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.scale + self.loc

    def _latent(self, shape) -> bool:
        """Set ``shape`` and ``latent_dim``: the config's, else the data's dimension on
        low-dimensional data and 100 on images. Returns whether the data are low-dimensional."""
        from ..data import is_low_dim

        self.shape = tuple(shape)
        low = is_low_dim(math.prod(self.shape))
        self.latent_dim = self.config.latent_dim or (math.prod(self.shape) if low else 100)
        return low

    def _start(self, x: torch.Tensor) -> torch.Tensor:
        """A fit's first steps: seed, build the networks for x's shape (``_resolve``), learn
        loc / scale; returns x in the networks' units."""
        from .. import train

        train.seed(self.config.seed)
        self._resolve(tuple(x.shape[1:]))
        self._standardise(x)
        return self._in(x)

    # saving: the data shape (the networks are rebuilt from it by ``_resolve``) and loc / scale
    def _extra_state(self) -> dict:
        return {"shape": self.shape, "loc": self.loc, "scale": self.scale}

    def _load_extra_state(self, extra: dict) -> None:
        self._resolve(tuple(extra["shape"]))
        self.loc, self.scale = extra["loc"], extra["scale"]


class Detector:
    """Fit on normal data, then ``score(x)``: a 1-D tensor, higher = more anomalous.

    Subclasses set ``name`` and ``Config`` (a dataclass with the papers' defaults) and
    implement ``_fit`` and ``_score``, and list their networks in ``networks`` (or override
    ``_modules``) so that ``save`` stores them.
    """
    name = "detector"
    Config: type = None

    def __init__(self, **config):
        fields = {f.name for f in dataclasses.fields(self.Config)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for method {self.name!r}; "
                             f"allowed: {sorted(fields)}")
        self.config = self.Config(**config)
        self.validate(self.config)
        self.history: dict[str, list[float]] = {}
        self.fitted = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    @staticmethod
    def validate(cfg) -> None:
        """Raise ``ValueError`` naming the bad value and what is allowed."""

    def fit(self, data) -> "Detector":
        """Train on normal data only (tensor, Split or Dataset). Returns self."""
        x = as_tensor(data)
        if len(x) < 2:
            raise ValueError(f"need at least 2 training points, got {len(x)}")
        self._fit(x)
        self.fitted = True
        return self

    score_batch: int = 4096  # ``score``'s chunk size (a speed setting: scores do not depend on it)

    def score(self, x, batch_size: int | None = None) -> torch.Tensor:
        """Anomaly scores (higher = more anomalous), computed in eval mode and in fixed-size
        chunks (``batch_size``, default ``score_batch``) so that a point's score never depends
        on the batch it arrives in."""
        return self._batched(lambda chunk: self._score(chunk).reshape(-1), x, batch_size)

    @torch.no_grad()
    def _batched(self, fn, x, batch_size: int | None = None) -> torch.Tensor:
        """``fn`` over fixed-size chunks of the points ``x`` (``batch_size``, default
        ``score_batch``), in eval mode, concatenated: what ``score`` and every other per-point
        output (score parts, stage scores, reconstructions) use."""
        if not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() before score()")
        if hasattr(x, "test_x"):
            raise TypeError("score() takes the points to score, e.g. det.score(split.test_x), "
                            "not a whole Split")
        self.eval()
        x, n = as_tensor(x), batch_size or self.score_batch
        return torch.cat([fn(x[i:i + n]).cpu() for i in range(0, len(x), n)])

    def eval(self) -> "Detector":
        """Put every network in eval mode (batch norm on running statistics); returns self."""
        for m in self._modules().values():
            m.eval()
        return self

    # -- persistence
    networks: tuple = ()  # names of the network attributes that ``save`` stores

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {k: getattr(self, k) for k in self.networks if hasattr(self, k)}

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, extra: dict) -> None:
        pass

    def save(self, path) -> Path:
        """Save config, weights and history to ``path`` (reload with ``methods.load``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"method": self.name, "config": dataclasses.asdict(self.config),
                    "modules": {k: m.state_dict() for k, m in self._modules().items()},
                    "extra": self._extra_state(), "history": self.history,
                    "fitted": self.fitted}, path)
        return path


@dataclasses.dataclass
class GANConfig(RunConfig):
    """The options the survey baselines (AnoGAN, EGBAD, GANomaly) share."""
    steps: int = 3000              # training steps (one discriminator and one generator update each)
    batch: int = 64
    lr: float = 2e-4               # Adam, betas 0.5 / 0.999 (DCGAN)
    latent_dim: int | None = None  # None: the data's dimension on low-dim data, 100 on images
    hidden: tuple = (128, 128)     # MLP widths on low-dimensional data


class GANBaseline(Standardised, Detector):
    """What the survey baselines share: config checks, Adam and the training run."""

    @staticmethod
    def validate(c: GANConfig) -> None:
        check_ints(c, steps=0, batch=2, every=1)
        if not c.lr > 0:
            raise ValueError(f"lr must be positive, got {c.lr}")
        if c.latent_dim is not None:
            check_ints(c, latent_dim=1)

    def _adam(self, *modules) -> torch.optim.Adam:
        return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=self.config.lr,
                                betas=(0.5, 0.999))

    def _train(self, step, n: int, optimisers: dict, **meta) -> None:
        """``config.steps`` calls of ``step`` through ``adlib.train.run`` (seeded, with the
        config's checkpoint and resume; the checkpoint must match the shared settings and
        ``meta``); the networks train in train mode and end in eval mode."""
        from .. import train

        c = self.config
        for m in self._modules().values():
            m.train()
        meta = {"method": self.name, "seed": c.seed, "steps": c.steps, "batch": c.batch, "lr": c.lr,
                "latent_dim": self.latent_dim, "hidden": list(c.hidden), "n": n, **meta}
        self.history = train.run(step, c.steps, state={**self._modules(), **optimisers}, seed=c.seed,
                                 checkpoint=c.checkpoint, every=c.every, desc=self.name,
                                 progress=c.progress, meta=meta)
        self.eval()

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` draws G(z), z ~ N(0, I), in data units (AnoGAN's and EGBAD's generator)."""
        if not hasattr(self, "G"):
            raise NotImplementedError(f"{self.name} has no generator of its own to sample: "
                                      "its decoder only sees codes of real data")
        return self._out(self.G.eval()(latents(n, self.latent_dim, seed)))
