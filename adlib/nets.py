"""Networks. For now: the small fully connected nets of the 2D experiments."""
from __future__ import annotations

from torch import nn


def mlp(sizes, act=nn.ELU, out_act=None) -> nn.Sequential:
    """A fully connected net with layer widths ``sizes``, e.g. ``mlp([2, 8, 8, 8, 2])``
    (the BDSG paper's bimodal B(z))."""
    sizes = list(sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp sizes must be >= 2 positive widths, got {sizes}")
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    if out_act is not None:
        layers.append(out_act())
    return nn.Sequential(*layers)
