"""Networks: small fully connected nets for the 2D experiments, DCGAN-style conv nets for images."""
from __future__ import annotations

import torch
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


def conv_generator(latent_dim: int, shape=(1, 28, 28), width: int = 64) -> nn.Sequential:
    """A DCGAN-style generator z -> image in [-1, 1] for 28x28 or 32x32 images: a linear
    layer to (2w, H/4, W/4), then two stride-2 transposed convolutions with batch norm."""
    c, h, w = shape
    if h != w or h % 4:
        raise ValueError(f"conv_generator needs square images with a side divisible by 4, got {shape}")
    s = h // 4
    return nn.Sequential(
        nn.Linear(latent_dim, 2 * width * s * s), nn.Unflatten(1, (2 * width, s, s)),
        nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, c, 4, 2, 1), nn.Tanh())


def conv_critic(shape=(1, 28, 28), width: int = 64, out: int = 1) -> nn.Sequential:
    """A DCGAN-style critic image -> one raw score (or ``out`` numbers: an encoder): two
    stride-2 convolutions with leaky ReLU and a linear layer. No batch norm: the gradient
    penalty and batch-independent scores both need a critic that treats each image on its own."""
    c, h, w = shape
    if h != w or h % 4:
        raise ValueError(f"conv_critic needs square images with a side divisible by 4, got {shape}")
    return nn.Sequential(
        nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * width * (h // 4) ** 2, out))


def generator(latent_dim: int, shape, hidden=(128, 128)) -> nn.Module:
    """A generator for data of ``shape``: an MLP with ``hidden`` widths for vectors (n,),
    ``conv_generator`` for images (C, H, W)."""
    if len(shape) == 1:
        return mlp([latent_dim, *hidden, shape[0]])
    return conv_generator(latent_dim, shape)


def critic(shape, hidden=(128, 128)) -> nn.Module:
    """A critic (one raw score per point) for data of ``shape``: a leaky-ReLU MLP for
    vectors, ``conv_critic`` for images."""
    if len(shape) == 1:
        return mlp([shape[0], *hidden, 1], act=nn.LeakyReLU)
    return conv_critic(shape)


def encoder(shape, latent_dim: int, hidden=(128, 128)) -> nn.Module:
    """An encoder x -> z in R^latent_dim: the critic's architecture with ``latent_dim``
    outputs (a leaky-ReLU MLP for vectors, ``conv_critic`` for images)."""
    if len(shape) == 1:
        return mlp([shape[0], *hidden, latent_dim], act=nn.LeakyReLU)
    return conv_critic(shape, out=latent_dim)


class JointCritic(nn.Module):
    """A discriminator of pairs D(x, z) (BiGAN / EGBAD): an x branch (the critic without its
    last layer), a z branch (one leaky-ReLU layer), a joint hidden layer on both, then one
    logit. ``features(x, z)`` is the joint hidden layer (for feature matching)."""

    def __init__(self, shape, latent_dim: int, hidden=(128, 128), width: int = 512):
        super().__init__()
        body = critic(shape, hidden)
        self.x_branch = body[:-1]
        self.z_branch = nn.Sequential(nn.Linear(latent_dim, width), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(nn.Linear(body[-1].in_features + width, 2 * width), nn.LeakyReLU(0.2))
        self.out = nn.Linear(2 * width, 1)

    def features(self, x, z):
        return self.joint(torch.cat([self.x_branch(x).flatten(1), self.z_branch(z)], 1))

    def forward(self, x, z):
        return self.out(self.features(x, z))
