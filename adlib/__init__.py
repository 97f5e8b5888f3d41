"""adlib: a teaching and exploration kit for GAN-based anomaly detection.

    import adlib
    adlib.seed(0)
    toy = adlib.data.toy("bimodal")
    det = adlib.methods.make("bdsg", density=toy).fit(toy.sample(10_000, seed=1))
    adlib.plots.boundary(toy, det.boundary(2000))
"""
from . import boundary, data, density, divergences, methods, metrics, nets, plots, runs, train, widgets  # noqa: F401,E501
from .train import seed

__version__ = "0.1.0"


def device() -> str:
    """``"cuda"`` when a GPU is usable, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
