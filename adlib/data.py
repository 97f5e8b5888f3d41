"""Data for the kit: 2D toys with exact densities, image datasets, and anomaly-detection splits.

Three things live here:

* ``toy(name)``: small 2D distributions whose density is known in closed form, so that a
  boundary generator can be judged against the truth (the BDSG paper's "CFS" setup).
* ``images(name)``: MNIST, Fashion-MNIST, KMNIST, CIFAR-10/100 and SVHN through torchvision,
  as float tensors in [-1, 1] of shape (N, C, H, W). ``image_folder(path)`` does the same for
  your own class-per-folder images.
* the usual evaluation protocols as functions returning one ``Split``:
  ``loo`` (leave one class out), ``one_class``, ``ood`` (one dataset against another) and
  ``pooled`` (the survey's 80/20 protocol).

The dataset root is ``$ADLIB_DATA`` if set, else ``<repo>/data``, in torchvision's layout.
"""
from __future__ import annotations

import functools
import math
import os
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import distributions as D

__all__ = [
    "Toy", "toy", "toys", "toy_split", "grid",
    "DatasetNotFound", "ImageData", "images", "image_folder", "datasets", "data_root",
    "Split", "loo", "one_class", "ood", "pooled",
]

# --------------------------------------------------------------------------- toys


LOW_DIM = 16
"""Data with at most this many features are treated like the 2-D toys (standardised inputs,
small networks, densities used as they are); more features, like images."""


def is_low_dim(dim: int) -> bool:
    """Whether ``dim`` features count as toy-like data (see ``LOW_DIM``)."""
    return dim <= LOW_DIM


def _rot(deg: float) -> torch.Tensor:
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _cov(sx: float, sy: float, deg: float = 0.0) -> torch.Tensor:
    r = _rot(deg)
    return r @ torch.diag(torch.tensor([sx**2, sy**2])) @ r.T


def _gaussian(std: float = 1.0):
    return [0.0, 0.0], [1.0], [_cov(std, std)]


def _bimodal(sep: float = 10.0, std: float = 1.0):
    return [[-sep / 2, 0.0], [sep / 2, 0.0]], [0.5, 0.5], [_cov(std, std)] * 2


def _ring(radius: float = 6.0, std: float = 0.5, k: int = 8):
    means = [[radius * math.cos(2 * math.pi * i / k), radius * math.sin(2 * math.pi * i / k)]
             for i in range(k)]
    return means, [1.0 / k] * k, [_cov(std, std)] * k


def _disjoint(scale: float = 1.0):
    # three modes of different shapes and weights: a round one, a long tilted one, a flat one
    means = [[-4.0 * scale, 3.0 * scale], [4.0 * scale, 2.0 * scale], [0.0, -4.0 * scale]]
    covs = [_cov(0.8 * scale, 0.8 * scale), _cov(1.8 * scale, 0.5 * scale, 45.0),
            _cov(2.2 * scale, 0.6 * scale)]
    return means, [0.3, 0.4, 0.3], covs


_TOYS = {"gaussian": _gaussian, "bimodal": _bimodal, "ring": _ring, "disjoint": _disjoint}


class Toy:
    """A 2D Gaussian mixture with an exact density.

    ``sample(n, seed)`` draws points, ``log_prob(x)`` is the exact log density,
    ``tail_level(eps)`` is the density level tau with P(p(X) < tau) = eps, and ``modes`` are
    the component means (K, 2). ``bounds`` is a plotting box that holds the far tail.
    """

    def __init__(self, name: str, **params):
        if name not in _TOYS:
            raise ValueError(f"unknown toy {name!r}; available: {sorted(_TOYS)}")
        self.name, self.params = name, dict(params)
        try:
            means, weights, covs = _TOYS[name](**params)
        except TypeError as err:
            raise ValueError(f"bad parameters {params} for toy {name!r}: {err}") from None
        means = torch.atleast_2d(torch.tensor(means, dtype=torch.float32))
        self.modes = means
        self.dist = D.MixtureSameFamily(
            D.Categorical(probs=torch.tensor(weights, dtype=torch.float32)),
            D.MultivariateNormal(means, covariance_matrix=torch.stack(covs).float()),
        )
        self._levels: dict[float, float] = {}
        spread = 5 * torch.stack(covs).float().diagonal(dim1=1, dim2=2).sqrt()  # 5 sd per axis
        lo = (means - spread).min(0).values.floor().tolist()
        hi = (means + spread).max(0).values.ceil().tolist()
        self.bounds = ((lo[0], hi[0]), (lo[1], hi[1]))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"toy({self.name!r}{args})"

    # pickling (for det.save) keeps only the recipe
    def __getstate__(self):
        return {"name": self.name, "params": self.params, "levels": self._levels}

    def __setstate__(self, state):
        self.__init__(state["name"], **state["params"])
        self._levels = dict(state["levels"])

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Draw ``n`` points as a float tensor (n, 2); ``seed`` makes the draw repeatable."""
        if seed is None:
            return self.dist.sample((n,))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dist.sample((n,))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log density at the points ``x`` (n, 2) -> (n,). Differentiable."""
        return self.dist.log_prob(x.to(torch.float32))

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob(x).exp()

    def anomalies(self, n: int, kind: str = "far", seed: int = 0) -> torch.Tensor:
        """``n`` anomalous points by rejection from the uniform law on ``bounds``.

        ``"far"``: true density below ``tail_level(1 %)``; ``"near"`` (the hard case):
        density between ``tail_level(0.1 %)`` and ``tail_level(1 %)``, just outside the data.
        """
        if kind not in ("far", "near"):
            raise ValueError(f"anomaly kind must be 'far' or 'near', got {kind!r}")
        hi, lo = self.tail_level(0.01), (self.tail_level(0.001) if kind == "near" else 0.0)
        g = torch.Generator().manual_seed(seed)
        (x0, x1), (y0, y1) = self.bounds
        span, low = torch.tensor([x1 - x0, y1 - y0]), torch.tensor([x0, y0])
        out, have = [], 0
        while have < n:
            u = torch.rand(max(4 * n, 1000), 2, generator=g) * span + low
            p = self.prob(u)
            u = u[(p < hi) & (p >= lo)]
            out.append(u)
            have += len(u)
        return torch.cat(out)[:n]

    def tail_level(self, eps: float, n: int = 400_000) -> float:
        """Density level tau with P_data(p(X) < tau) = eps.

        Monte Carlo: the eps-quantile of p(X) over ``n`` samples drawn with a fixed seed
        (so it is the same number every time); cached per eps.
        """
        if not 0 < eps < 1:
            raise ValueError(f"eps must lie in (0, 1), got {eps}")
        if eps not in self._levels:
            dens = self.log_prob(self.sample(n, seed=12345)).double().exp()
            self._levels[eps] = torch.quantile(dens, eps).item()
        return self._levels[eps]


def toy(name: str, **params) -> Toy:
    """A toy distribution by name: ``"gaussian"``, ``"bimodal"``, ``"ring"``, ``"disjoint"``.

    Parameters (all optional): gaussian(std), bimodal(sep, std), ring(radius, std, k),
    disjoint(scale).
    """
    return Toy(name, **params)


def toy_split(dist: "Toy", n_normal: int = 2000, n_anomalies: int = 2000,
              kinds=("far", "near"), seed: int = 0, n_train: int = 10_000) -> "Split":
    """A 2D detection task: train on ``n_train`` samples; test on ``n_normal`` fresh samples
    (label 0) and ``n_anomalies`` anomalies split evenly over ``kinds`` (label 1).
    ``test_labels`` says which kind each test point is: 0 normal, 1 + i for ``kinds[i]``."""
    per = [n_anomalies // len(kinds) + (i < n_anomalies % len(kinds)) for i in range(len(kinds))]
    anomalies = [dist.anomalies(k, kind, seed=seed + 1 + i)
                 for i, (k, kind) in enumerate(zip(per, kinds))]
    test_x = torch.cat([dist.sample(n_normal, seed=seed + 100), *anomalies])
    test_y = torch.cat([torch.zeros(n_normal), torch.ones(n_anomalies)]).long()
    # test_labels: 0 for normal points, 1 + i for anomalies of kinds[i]
    test_labels = torch.cat([torch.zeros(n_normal)] + [torch.full((k,), 1.0 + i) for i, k in enumerate(per)]).long()
    info = {"protocol": "toy", "toy": repr(dist), "kinds": list(kinds), "seed": seed}
    return Split(dist.sample(n_train, seed=seed), test_x, test_y, info, test_labels=test_labels)


def toys() -> list[str]:
    return sorted(_TOYS)


def grid(bounds, n: int = 200) -> torch.Tensor:
    """An n x n grid of equidistant points over ``bounds = ((x0, x1), (y0, y1))`` -> (n*n, 2).

    Row-major over y then x, so ``values.reshape(n, n)`` is ready for ``plt.contour``.
    """
    (x0, x1), (y0, y1) = bounds
    xs, ys = torch.linspace(x0, x1, n), torch.linspace(y0, y1, n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


# --------------------------------------------------------------------------- images


class DatasetNotFound(FileNotFoundError):
    """A dataset is neither under the data root nor downloadable from here."""


def data_root() -> Path:
    """``$ADLIB_DATA`` if set, else ``<repo>/data``."""
    env = os.environ.get("ADLIB_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


_MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

# name -> (torchvision class name, files torchvision expects under the root)
_DATASETS = {
    "mnist": ("MNIST", [f"MNIST/raw/{f}" for f in _MNIST_FILES]),
    "fashion_mnist": ("FashionMNIST", [f"FashionMNIST/raw/{f}" for f in _MNIST_FILES]),
    "kmnist": ("KMNIST", [f"KMNIST/raw/{f}" for f in _MNIST_FILES]),
    "cifar10": ("CIFAR10", ["cifar-10-batches-py/ (or cifar-10-python.tar.gz)",
                            "cifar10-jpeg/{train,test}/<class>/*.jpg (offline JPEG pack)"]),
    "cifar100": ("CIFAR100", ["cifar-100-python/ (or cifar-100-python.tar.gz)"]),
    "svhn": ("SVHN", ["train_32x32.mat", "test_32x32.mat"]),
}


def datasets() -> list[str]:
    return sorted(_DATASETS)


@dataclass
class ImageData:
    """A labelled image dataset: images in [-1, 1], shape (N, C, H, W); labels (N,)."""
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"ImageData({self.name!r}, train {tuple(self.train_x.shape)}, "
                f"test {tuple(self.test_x.shape)}, {len(self.classes)} classes)")


def _to_unit(x) -> torch.Tensor:
    """uint8 images (N, H, W), (N, H, W, C) numpy or (N, C, H, W) -> float in [-1, 1]."""
    x = torch.as_tensor(x)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    elif x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.permute(0, 3, 1, 2)
    return x.float().div(127.5).sub(1.0).contiguous()


def _reachable(urls, timeout: float = 2.0) -> bool:
    """Can we open a TCP connection to one of these hosts (the first two distinct ones)
    within ``timeout`` seconds each?"""
    hosts = list(dict.fromkeys(urlparse(u).hostname for u in urls))[:2]
    for host in hosts:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False


def _download_urls(cls) -> list[str]:
    urls = list(getattr(cls, "mirrors", []))
    for attr in ("url", "resources"):
        val = getattr(cls, attr, None)
        if isinstance(val, str):
            urls.append(val)
        elif isinstance(val, (list, tuple)):
            urls += [v[0] for v in val if isinstance(v, (list, tuple)) and isinstance(v[0], str)]
        elif isinstance(val, dict):  # KMNIST keeps its urls under resources by split
            urls += [v[0] for vs in val.values() for v in vs]
    split_list = getattr(cls, "split_list", None)  # SVHN
    if isinstance(split_list, dict):
        urls += [v[0] for v in split_list.values()]
    return urls or ["https://pytorch.org"]


def _tv_split(name: str, root: Path, train: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, _DATASETS[name][0])
    kw = {"split": "train" if train else "test"} if name == "svhn" else {"train": train}
    try:  # present (and unpacked) already?
        return cls(str(root), download=False, **kw)
    except (RuntimeError, FileNotFoundError, OSError):
        pass
    raw_present = name in ("mnist", "fashion_mnist", "kmnist") and all(
        (root / f).exists() for f in _DATASETS[name][1])
    if not raw_present and not _reachable(_download_urls(cls)):
        raise DatasetNotFound(_missing_msg(name, root, "and the download servers are unreachable"))
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:  # torchvision verifies md5 and unpacks local .gz files without the network
        return cls(str(root), download=True, **kw)
    except Exception as err:  # noqa: BLE001 - any failure here means: not available
        raise DatasetNotFound(_missing_msg(name, root, f"and torchvision failed: {err}")) from err
    finally:
        socket.setdefaulttimeout(old)


def _missing_msg(name: str, root: Path, why: str) -> str:
    files = "\n  ".join(str(root / f) for f in _DATASETS[name][1])
    return (f"dataset {name!r} is not under the data root {root} {why}.\n"
            f"Expected (torchvision's layout):\n  {files}\n"
            f"Put the files there, or point $ADLIB_DATA at a folder that has them.")


_warned_jpeg = False


def _cifar10_jpeg(root: Path) -> ImageData:
    global _warned_jpeg
    if not _warned_jpeg:
        warnings.warn(f"CIFAR-10: using the lossy JPEG pack under {root / 'cifar10-jpeg'} "
                      "(10k train images, re-encoded): numbers are not comparable with papers.",
                      stacklevel=4)
        _warned_jpeg = True
    data = image_folder(root / "cifar10-jpeg")
    data.name = "cifar10"
    return data


@functools.lru_cache(maxsize=8)
def _images_cached(name: str, root: str) -> ImageData:
    root = Path(root)
    if name == "cifar10" and (root / "cifar10-jpeg" / "train").is_dir() and not (
            root / "cifar-10-batches-py").is_dir():
        return _cifar10_jpeg(root)
    tr, te = _tv_split(name, root, True), _tv_split(name, root, False)
    labels = lambda ds: torch.as_tensor(getattr(ds, "targets", None)  # noqa: E731
                                        if hasattr(ds, "targets") else ds.labels).long()
    classes = list(getattr(tr, "classes", [])) or [str(i) for i in range(10)]
    return ImageData(name, _to_unit(tr.data), labels(tr), _to_unit(te.data), labels(te), classes)


def images(name: str) -> ImageData:
    """Load an image dataset by name (see ``datasets()``) from ``data_root()``.

    Tensors are float in [-1, 1], shape (N, C, H, W); results are cached in memory.
    Raises ``DatasetNotFound`` (within seconds, never waiting on a dead network) when the
    files are neither under the root nor downloadable.
    """
    if isinstance(name, ImageData):
        return name
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {datasets()} "
                         "(or pass adlib.data.image_folder(path))")
    root = data_root()
    root.mkdir(parents=True, exist_ok=True)
    return _images_cached(name, str(root))


def image_folder(path, size: int | None = None, test_fraction: float = 0.2,
                 seed: int = 0) -> ImageData:
    """Your own images, one folder per class, as an ``ImageData`` usable with every split.

    If ``path/train`` and ``path/test`` exist they are the two splits; otherwise the
    images under ``path/<class>/`` are split ``test_fraction`` to test (stratified, seeded).
    ``size`` resizes (square) when the images differ in size.
    """
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    path = Path(path)
    tf = [transforms.Resize((size, size))] if size else []
    tf = transforms.Compose(tf + [transforms.PILToTensor()])

    def load(folder):
        if not folder.is_dir():
            raise DatasetNotFound(f"image folder {folder} does not exist")
        ds = ImageFolder(str(folder), transform=tf)
        xs = torch.stack([ds[i][0] for i in range(len(ds))])
        return _to_unit(xs), torch.tensor(ds.targets).long(), ds.classes

    if (path / "train").is_dir() and (path / "test").is_dir():
        trx, try_, classes = load(path / "train")
        tex, tey, _ = load(path / "test")
    else:
        x, y, classes = load(path)
        te = _stratified(y, round(len(y) * test_fraction), seed)
        mask = torch.ones(len(y), dtype=torch.bool)
        mask[te] = False
        trx, try_, tex, tey = x[mask], y[mask], x[te], y[te]
    return ImageData(path.name, trx, try_, tex, tey, list(classes))


# --------------------------------------------------------------------------- splits


@dataclass
class Split:
    """One anomaly-detection task: train on ``train_x`` (normal only), test on ``test_x``
    with ``test_y`` = 1 for anomalies and 0 for normal points. ``info`` says how it was made;
    ``train_labels`` / ``test_labels`` keep the original class labels (for per-class views)."""
    train_x: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    info: dict = field(default_factory=dict)
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None

    def __repr__(self) -> str:
        return (f"Split({self.info.get('protocol')}, train {tuple(self.train_x.shape)}, "
                f"test {tuple(self.test_x.shape)}, anomalies {int(self.test_y.sum())})")


def _stratified(labels: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    """Indices of a seeded, stratified subset of size ``n`` (all indices if n is None/large)."""
    idx = torch.arange(len(labels))
    if n is None or n >= len(labels):
        return idx
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    from sklearn.model_selection import train_test_split

    counts = torch.bincount(labels)
    strat = labels.numpy() if counts[counts > 0].min() >= 2 and n >= (counts > 0).sum() else None
    keep, _ = train_test_split(idx.numpy(), train_size=n, stratify=strat, random_state=seed)
    return torch.as_tensor(sorted(keep))


def _check_class(data: ImageData, k: int, what: str) -> None:
    n = len(data.classes)
    if not isinstance(k, int) or not 0 <= k < n:
        raise ValueError(f"{what} class {k!r} is out of range for {data.name!r}: "
                         f"allowed 0..{n - 1} ({', '.join(map(str, data.classes))})")


def _finish(train_x, train_lab, test_x, test_y, test_lab, max_train, max_test, seed, info):
    tr = _stratified(train_lab, max_train, seed)
    te = _stratified(test_lab * 2 + test_y, max_test, seed)  # keeps class and anomaly mix
    info.update(n_train=len(tr), n_test=len(te), n_anomalies=int(test_y[te].sum()),
                max_train=max_train, max_test=max_test, seed=seed)
    return Split(train_x[tr], test_x[te], test_y[te], info, train_lab[tr], test_lab[te])


def loo(dataset, anomaly: int, max_train: int | None = None, max_test: int | None = None,
        seed: int = 0) -> Split:
    """Leave-one-out: class ``anomaly`` is the anomaly, all other classes are normal.

    Train on the training split without the anomaly class; test on the full test split
    (or a stratified, seeded ``max_test`` subset), label 1 = the left-out class.
    """
    d = images(dataset)
    _check_class(d, anomaly, "anomaly")
    normal = d.train_y != anomaly
    test_y = (d.test_y == anomaly).long()
    info = {"protocol": "loo", "dataset": d.name, "anomaly": anomaly}
    return _finish(d.train_x[normal], d.train_y[normal], d.test_x, test_y, d.test_y,
                   max_train, max_test, seed, info)


def one_class(dataset, normal: int, max_train: int | None = None,
              max_test: int | None = None, seed: int = 0) -> Split:
    """One-class: class ``normal`` is normal, every other class is an anomaly."""
    d = images(dataset)
    _check_class(d, normal, "normal")
    keep = d.train_y == normal
    test_y = (d.test_y != normal).long()
    info = {"protocol": "one_class", "dataset": d.name, "normal": normal}
    return _finish(d.train_x[keep], d.train_y[keep], d.test_x, test_y, d.test_y,
                   max_train, max_test, seed, info)


def ood(normal, anomalous, max_train: int | None = None, max_test: int | None = None,
        seed: int = 0) -> Split:
    """Out-of-distribution: train on all of ``normal``; test on its test split (label 0)
    against the test split of ``anomalous`` (label 1). Image shapes must match."""
    a, b = images(normal), images(anomalous)
    if a.test_x.shape[1:] != b.test_x.shape[1:]:
        raise ValueError(f"image shapes differ: {a.name} {tuple(a.test_x.shape[1:])} vs "
                         f"{b.name} {tuple(b.test_x.shape[1:])}; pick datasets of one shape")
    test_x = torch.cat([a.test_x, b.test_x])
    test_y = torch.cat([torch.zeros(len(a.test_x)), torch.ones(len(b.test_x))]).long()
    test_lab = torch.cat([a.test_y, b.test_y + int(a.test_y.max()) + 1])
    info = {"protocol": "ood", "normal": a.name, "anomalous": b.name}
    return _finish(a.train_x, a.train_y, test_x, test_y, test_lab, max_train, max_test, seed,
                   info)


def pooled(dataset, anomaly: int, seed: int = 0, max_train: int | None = None,
           max_test: int | None = None, train_fraction: float = 0.8) -> Split:
    """The survey's protocol (Zenati et al.): pool train and test, shuffle with ``seed``,
    take ``train_fraction`` for training (its anomalies removed) and the rest for testing."""
    d = images(dataset)
    _check_class(d, anomaly, "anomaly")
    x, lab = torch.cat([d.train_x, d.test_x]), torch.cat([d.train_y, d.test_y])
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int(train_fraction * len(x))
    tr, te = perm[:cut], perm[cut:]
    tr = tr[lab[tr] != anomaly]
    test_y = (lab[te] == anomaly).long()
    info = {"protocol": "pooled", "dataset": d.name, "anomaly": anomaly,
            "train_fraction": train_fraction}
    return _finish(x[tr], lab[tr], x[te], test_y, lab[te], max_train, max_test, seed, info)
