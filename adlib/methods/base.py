"""What every detector shares: a validated config, the one fit skeleton, score, save / load,
and the registry.

The fit skeleton (``Detector.fit``) does, once for every method and in this order:

1. check the training data (at least 2 points, no NaN / inf rows),
2. seed everything with ``config.seed``,
3. settle the settings that follow the data (``DEFAULTS``, the one table per method of
   low-dimensional vs image defaults: a config value of ``None`` takes the table's),
4. build the networks for the data's shape (``_build``) on ``self.device``,
5. move the training tensor to the device (once) and, for ``Standardised`` methods, learn
   ``loc`` / ``scale`` and map it to the networks' units,
6. call the method's own ``_fit`` (its maths: losses and ``step`` functions, run through
   ``self._run``, which adds the checkpoint meta and calls ``adlib.train.run``),
7. put every network in eval mode.

A method therefore holds only its maths: ``DEFAULTS``, ``_build``, ``_fit`` and ``_score``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import pickle
from pathlib import Path

import torch

from .. import devices, train
from ..data import is_low_dim

REGISTRY: dict[str, type["Detector"]] = {}
DATA_DIM = "the data's dimension"  # a DEFAULTS value: the number of features of the data
RUN_ONLY = ("checkpoint", "every", "progress", "device")  # config fields that do not change the numbers' meaning


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
    return torch.stack([torch.as_tensor(it, device="cpu") for it in items]).float()


def describe(value):
    """A plain, comparable description of a config value: numbers, strings and lists as
    they are; a network or flow as its type, settings and a fingerprint of its weights;
    any other object (e.g. a toy density) as its ``repr``. Two runs with equal descriptions
    are the same run (``fit_score``) and may share a checkpoint (``Detector._run``)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, torch.nn.Module):
        h = hashlib.sha1()
        for k, t in value.state_dict().items():
            h.update(k.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return {"type": type(value).__name__, "repr": repr(value), "weights": h.hexdigest()}
    return repr(value)


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
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
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
    """The options every detector shares (the methods' configs extend it)."""
    seed: int = 0                  # seeds data order, initial weights and training
    checkpoint: str | None = None  # file to checkpoint to / resume from
    every: int = 500               # checkpoint interval (steps)
    progress: bool = True          # show a tqdm bar
    device: str = "auto"           # "auto", "cpu", "cuda" or "cuda:N" (adlib.devices)


def make_flow(cfg):
    """A fresh ``adlib.density.Flow`` with the method's seed, progress flag, device and
    ``cfg.flow``."""
    from ..density import Flow

    return Flow(**{"seed": cfg.seed, "progress": cfg.progress, "device": cfg.device, **(cfg.flow or {})})


def latents(n: int, dim: int, seed: int | None = None, device=None) -> torch.Tensor:
    """``n`` standard normal latents of size ``dim``; ``seed`` makes them repeatable without
    touching the global RNG (what ``boundary(n, seed)`` and friends draw from). Seeded draws
    are made on the CPU, so they are the same numbers on every device."""
    if seed is None:
        return torch.randn(n, dim, device=device or "cpu")
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, device="cpu").to(device or "cpu")


def _cpu(obj):
    """``obj`` with every tensor inside (dicts, lists) moved to the CPU: device-free files."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


class Detector:
    """Fit on normal data, then ``score(x)``: a 1-D tensor, higher = more anomalous.

    Subclasses set ``name``, ``Config`` (a dataclass extending ``RunConfig`` with the papers'
    defaults) and ``DEFAULTS`` (the settings that follow the data), implement ``_build``
    (their networks for ``self.shape``), ``_fit`` and ``_score``, and list their networks in
    ``networks`` (or override ``_modules``) so that ``save`` stores them.
    """
    name = "detector"
    Config: type = None
    DEFAULTS: dict = {"low": {}, "image": {}}  # settings that follow the data (see _settle)

    def __init__(self, **config):
        fields = {f.name for f in dataclasses.fields(self.Config)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for method {self.name!r}; "
                             f"allowed: {sorted(fields)}")
        self.config = self.Config(**config)
        c = self.config
        if not isinstance(c.seed, int) or isinstance(c.seed, bool) or c.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {c.seed!r}")
        check_ints(c, every=1)
        self.device = devices.resolve(c.device)
        self.validate(c)
        self.history: dict[str, list[float]] = {}
        self.fitted = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    @staticmethod
    def validate(cfg) -> None:
        """Raise ``ValueError`` naming the bad value and what is allowed."""

    # -- the fit skeleton
    def fit(self, data) -> "Detector":
        """Train on normal data only (tensor, Split or Dataset). Returns self."""
        x = self._check_train(as_tensor(data))
        train.seed(self.config.seed)  # the initial weights depend on the seed too
        self._settle(tuple(x.shape[1:]))
        with self.device:
            self._build()
        self.n_train = len(x)
        x = x.to(self.device)  # once per fit
        if isinstance(self, Standardised):
            self._standardise(x)
            x = self._in(x)
        self.history = {}
        self._fit(x)
        self.fitted = True
        return self.eval()

    def _check_train(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or len(x) < 2:
            raise ValueError(f"{self.name}: need at least 2 training points as rows of a tensor, "
                             f"got shape {tuple(x.shape)}")
        bad = ~torch.isfinite(x.reshape(len(x), -1)).all(dim=1)
        if bad.any():
            rows = bad.nonzero().flatten().tolist()
            raise ValueError(f"{self.name}: the training data hold NaN or inf in {len(rows)} of "
                             f"{len(x)} rows (rows {rows[:10]}{' ...' if len(rows) > 10 else ''}); "
                             "drop or repair them before fit")
        return x

    def _settle(self, shape: tuple) -> None:
        """Set ``shape``, ``low`` (low-dimensional data?) and every setting of ``DEFAULTS``
        as an attribute: the config's value, or when that is None the table's for this data."""
        self.shape = tuple(shape)
        self.low = is_low_dim(math.prod(self.shape))
        for key in self.DEFAULTS["low" if self.low else "image"]:
            setattr(self, key, self.resolved(key))

    def resolved(self, key: str):
        """The setting ``key`` for the data seen: the config's value, or when that is None the
        ``DEFAULTS`` table's for low-dimensional or image data."""
        mine = getattr(self.config, key, None)
        value = self.DEFAULTS["low" if self.low else "image"][key] if mine is None else mine
        return math.prod(self.shape) if value == DATA_DIM else value

    def _build(self) -> None:
        """Create the networks for ``self.shape`` (called on ``self.device``, after seeding)."""

    def settings(self) -> dict:
        """What identifies a run: the config (without the run-only options) and the settings
        resolved from the data, described plainly (``describe``)."""
        c = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)
             if f.name not in RUN_ONLY}
        resolved = {k: getattr(self, k) for k in self.DEFAULTS["low"] if hasattr(self, k)}
        return describe({**c, **resolved})

    def _run(self, step, steps: int, state: dict, *, part: str | None = None,
             seed: int | None = None, only=None, meta: dict | None = None,
             resumable: bool = True, desc: str | None = None) -> dict:
        """``steps`` calls of ``step`` through ``adlib.train.run``: seeded (``config.seed``
        unless ``seed``), with the config's checkpoint (``<checkpoint>.<part>.pt`` for a part
        of a multi-stage fit) and a meta that a resumed checkpoint must match: the method,
        the part, the data's shape and size, ``settings()`` (or only the keys in ``only``)
        and ``meta``. ``resumable=False``: no checkpoint (a short part that is cheaper to redo)."""
        c = self.config
        ckpt = None if not (c.checkpoint and resumable) else (f"{c.checkpoint}.{part}.pt" if part else c.checkpoint)
        settings = {k: v for k, v in self.settings().items() if k not in ("steps", "tv_steps")}
        if only is not None:  # (the step count is train.run's: a longer run resumes a shorter one)
            settings = {k: settings[k] for k in only}
        meta = {"method": self.name, "part": part, "shape": list(self.shape), "n": self.n_train,
                **settings, **describe(meta or {})}
        return train.run(step, steps, state=state, seed=c.seed if seed is None else seed,
                         checkpoint=ckpt, every=c.every, progress=c.progress, meta=meta,
                         desc=desc or (f"{self.name} {part}" if part else self.name), owner=self)

    # -- scoring
    score_batch: int = 4096  # ``score``'s chunk size (a speed setting: scores do not depend on it)

    def score(self, x, batch_size: int | None = None) -> torch.Tensor:
        """Anomaly scores (higher = more anomalous), computed in eval mode and in fixed-size
        chunks (``batch_size``, default ``score_batch``) so that a point's score never depends
        on the batch it arrives in."""
        return self._batched(lambda chunk: self._score(chunk).reshape(-1), x, batch_size)

    @torch.no_grad()
    def _batched(self, fn, x, batch_size: int | None = None) -> torch.Tensor:
        """``fn`` over fixed-size chunks of the points ``x`` (``batch_size``, default
        ``score_batch``), each moved to the device, in eval mode, concatenated on the CPU:
        what ``score`` and every other per-point output (score parts, stage scores,
        reconstructions) use."""
        x = self._check_points(x)
        self.eval()
        n = batch_size or self.score_batch
        return torch.cat([fn(x[i:i + n].to(self.device)).cpu() for i in range(0, len(x), n)])

    def _check_points(self, x) -> torch.Tensor:
        """``x`` as a tensor of points of the fitted shape (clear errors otherwise)."""
        if not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() before score()")
        if hasattr(x, "test_x"):
            raise TypeError("score() takes the points to score, e.g. det.score(split.test_x), "
                            "not a whole Split")
        x = as_tensor(x)
        if tuple(x.shape[1:]) != tuple(self.shape):
            raise ValueError(f"{self.name} was fitted on points of shape {tuple(self.shape)}; "
                             f"got {len(x)} points of shape {tuple(x.shape[1:])}")
        return x

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
        return {"shape": self.shape, "n_train": getattr(self, "n_train", None)}

    def _load_extra_state(self, extra: dict) -> None:
        """Rebuild the networks for the saved shape on ``self.device`` (weights come next)."""
        shape = extra["shape"] if "shape" in extra else extra["loc"].shape  # kNN files before the skeleton
        self._settle(tuple(shape))
        self.n_train = extra.get("n_train")
        with self.device:
            self._build()

    def save(self, path) -> Path:
        """Save config, weights and history to ``path`` (CPU tensors: the file loads on any
        device; reload with ``methods.load``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"method": self.name, "config": dataclasses.asdict(self.config),
                    "modules": {k: _cpu(m.state_dict()) for k, m in self._modules().items()},
                    "extra": _cpu(self._extra_state()), "history": self.history,
                    "fitted": self.fitted}, path)
        return path


def read_saved(path) -> dict:
    """The dict a detector's ``save`` wrote, or a clear error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved detector at {path}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, OSError, AttributeError) as err:
        raise ValueError(f"{path} is not a readable adlib detector file (damaged or another "
                         f"format: {type(err).__name__}: {err})") from None
    missing = [k for k in ("method", "config", "modules", "extra", "history", "fitted")
               if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise ValueError(f"{path} is not an adlib detector file: it lacks {missing}")
    return saved


class Standardised:
    """For detectors whose networks see standardised data: low-dimensional data are centred
    and divided by one overall standard deviation (one number, so that distances keep their
    shape); images, already in [-1, 1], are left as they are. ``_in`` maps data to the
    networks' units, ``_out`` back; both ``loc`` and ``scale`` live on the device and are
    saved with the detector. The fit skeleton calls ``_standardise`` on the training data."""

    def _standardise(self, x: torch.Tensor) -> None:
        if is_low_dim(x[0].numel()):
            self.loc, self.scale = x.mean(0), (x - x.mean(0)).pow(2).mean().sqrt()
        else:
            self.loc = torch.zeros(x.shape[1:], device=x.device)
            self.scale = torch.tensor(1.0, device=x.device)

    def _in(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.loc) / self.scale

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.scale + self.loc

    def _extra_state(self) -> dict:
        return {**super()._extra_state(), "loc": self.loc, "scale": self.scale}

    def _load_extra_state(self, extra: dict) -> None:
        super()._load_extra_state(extra)
        self.loc, self.scale = extra["loc"].to(self.device), extra["scale"].to(self.device)


@dataclasses.dataclass
class GANConfig(RunConfig):
    """The options the survey baselines (AnoGAN, EGBAD, GANomaly) share."""
    steps: int = 3000              # training steps (one discriminator and one generator update each)
    batch: int = 64
    lr: float = 2e-4               # Adam, betas 0.5 / 0.999 (DCGAN)
    latent_dim: int | None = None  # None: the data's dimension on low-dim data, 100 on images
    hidden: tuple = (128, 128)     # MLP widths on low-dimensional data


class GANBaseline(Standardised, Detector):
    """What the survey baselines share: config checks, Adam, latents, batches and the run."""
    DEFAULTS = {"low": {"latent_dim": DATA_DIM}, "image": {"latent_dim": 100}}

    @staticmethod
    def validate(c: GANConfig) -> None:
        check_ints(c, steps=0, batch=2)
        if not c.lr > 0:
            raise ValueError(f"lr must be positive, got {c.lr}")
        if c.latent_dim is not None:
            check_ints(c, latent_dim=1)

    def _adam(self, *modules) -> torch.optim.Adam:
        return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=self.config.lr,
                                betas=(0.5, 0.999))

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        """A training batch drawn with replacement from ``x`` (on the device)."""
        return x[torch.randint(len(x), (self.config.batch,), device=self.device)]

    def _train(self, step, optimisers: dict) -> None:
        """``config.steps`` calls of ``step`` in train mode (``_run``: seeded, checkpointed)."""
        for m in self._modules().values():
            m.train()
        self.history = self._run(step, self.config.steps, {**self._modules(), **optimisers})

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` draws G(z), z ~ N(0, I), in data units (AnoGAN's and EGBAD's generator)."""
        if not hasattr(self, "G"):
            raise NotImplementedError(f"{self.name} has no generator of its own to sample: "
                                      "its decoder only sees codes of real data")
        return self._out(self.G.eval()(latents(n, self.latent_dim, seed, self.device))).cpu()
