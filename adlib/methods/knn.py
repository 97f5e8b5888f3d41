"""k-nearest-neighbour distance: the honest reference every GAN detector should beat.

``score(x)`` = the mean distance from x to its ``k`` nearest training points (scikit-learn's
``NearestNeighbors``, exact). No training, no generator, one hyperparameter. It is also what
BDSG's L1 term measures at a point (BDSG, eq. 1: the distance from a sample to
the nearest data point, ``adlib.boundary.set_distance``), here with k neighbours instead of
one.

``space``:
* ``"pixel"``: distances between the raw points (images flattened; low-dimensional data
  centred and divided by one overall standard deviation, as the GAN methods see them).
* ``"pca"``: distances after projecting on the first ``components`` principal directions
  of the *training* data (fitted on normal data only). Justification: most of an image's 784
  pixel directions carry noise or stroke-position jitter, which dominates raw L2 distances;
  the leading principal directions carry the shapes in which normal images vary, so a
  point far from the data along them is far in a way that matters. It is the classic
  linear feature space, with no labels and no outside data (no pretrained network can be
  downloaded here).

``max_train`` keeps a seeded random subset of the training set (the search is
O(train x test)). The search is scikit-learn's, on the CPU whatever ``device`` says.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from .base import Detector, RunConfig, Standardised, check_ints, register

SPACES = ("pixel", "pca")


@dataclass
class KNNConfig(RunConfig):
    k: int = 5                     # neighbours averaged
    space: str = "pixel"           # "pixel" or "pca"
    components: int = 50           # principal directions kept when space="pca"
    max_train: int | None = None   # None: every training point


@register
class KNN(Standardised, Detector):
    """Mean distance to the k nearest training points (higher = more anomalous)."""
    name = "knn"
    Config = KNNConfig

    @staticmethod
    def validate(c: KNNConfig) -> None:
        check_ints(c, k=1, components=1)
        if c.space not in SPACES:
            raise ValueError(f"unknown space {c.space!r}; allowed: {SPACES}")
        if c.max_train is not None:
            check_ints(c, max_train=1)

    def _features(self, xs: torch.Tensor):
        """Standardised points -> the rows the index searches (NumPy, on the CPU)."""
        z = xs.flatten(1).cpu().numpy()
        return self.pca.transform(z) if self.pca is not None else z

    def _fit(self, x: torch.Tensor) -> None:
        c = self.config  # x: standardised by the fit skeleton; scikit-learn searches on the CPU
        if c.max_train is not None and c.max_train < len(x):
            keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(c.seed), device="cpu")[:c.max_train]
            x = x[keep.to(x.device)]
        if len(x) < c.k:
            raise ValueError(f"k={c.k} neighbours need at least k training points, got {len(x)}")
        self.pca = None
        if c.space == "pca":
            z = x.flatten(1).cpu().numpy()
            self.pca = PCA(n_components=min(c.components, *z.shape), random_state=c.seed).fit(z)
        self.index = NearestNeighbors(n_neighbors=c.k).fit(self._features(x))

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        dist, _ = self.index.kneighbors(self._features(self._in(x)))
        return torch.from_numpy(dist.mean(1)).float()

    def _extra_state(self):
        return {**super()._extra_state(), "pca": self.pca, "index": self.index}

    def _load_extra_state(self, extra):
        super()._load_extra_state(extra)
        self.pca, self.index = extra["pca"], extra["index"]
