"""Every detector behind one interface.

    det = adlib.methods.make("bdsg", density=adlib.data.toy("bimodal"), seed=0)
    det.fit(x_normal)          # normal data only: tensor, Split or Dataset
    s = det.score(x_test)      # 1-D tensor, higher = more anomalous
    det.save("bdsg.pt"); det = adlib.methods.load("bdsg.pt")
"""
from __future__ import annotations

import torch

from .base import REGISTRY, Detector, as_tensor
from . import anogan, bdsg, egbad, ganomaly, historyad, knn, omasgan, tailgan  # noqa: F401  (registers the methods)

__all__ = ["make", "available", "load", "Detector", "as_tensor"]


def available() -> list[str]:
    """Names accepted by ``make``."""
    return sorted(REGISTRY)


def make(name: str, **config) -> Detector:
    """A detector by name with its config (unknown names or options raise ``ValueError``)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {available()}")
    return REGISTRY[name](**config)


def load(path) -> Detector:
    """Rebuild a detector saved with ``det.save(path)``."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    det = make(saved["method"], **saved["config"])
    det._load_extra_state(saved["extra"])
    for k, m in det._modules().items():
        m.load_state_dict(saved["modules"][k])
    det.history, det.fitted = saved["history"], saved["fitted"]
    return det
