"""adlib: a teaching and exploration kit for GAN-based anomaly detection.

    import adlib
    adlib.seed(0)
    toy = adlib.data.toy("bimodal")
    det = adlib.methods.make("bdsg", density=toy).fit(toy.sample(10_000, seed=1))
    adlib.plots.boundary(toy, det.boundary(2000))

The submodules load on first use (``adlib.plots`` imports matplotlib then, ``adlib.widgets``
ipywidgets), so that ``import adlib.methods``, what a sweep worker needs, stays free of the
notebook stack.
"""
from __future__ import annotations

import importlib

from .train import seed

__version__ = "0.1.0"

_SUBMODULES = ("app", "boundary", "cli", "data", "density", "devices", "divergences", "methods",
               "iplots", "metrics", "nets", "plots", "results", "runs", "sweep", "train", "widgets")
__all__ = [*_SUBMODULES, "seed", "device", "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'adlib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))


def device() -> str:
    """``"cuda"`` when a GPU is usable, else ``"cpu"``: where ``device="auto"`` trains."""
    from .devices import default

    return default()
