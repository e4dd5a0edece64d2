"""Autoencoders: linear, non-linear and denoising (notebook 01).

An autoencoder is an encoder f: R^D -> R^k and a decoder g: R^k -> R^D trained
to reproduce its input through the bottleneck, minimising

    L = 1/N sum_i || x_i - g(f(x_i)) ||^2 / D        (the mean squared error per pixel)

- Linear f and g (no activation): the best it can do is PCA's error, and at the
  optimum g spans PCA's subspace (``course_utils.pca``).
- Non-linear f and g (an MLP): a curved manifold of codes, a lower error than
  PCA at the same k.
- Denoising: feed ``corrupt(x)``, ask for the clean x. The network cannot copy
  its input, so it learns what digits look like (Vincent et al., 2008).

Models work on flattened images (B, D); the notebook reshapes to (B, 1, 8, 8)
for display. Data and model live on the device the caller chose.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .answers.a01_autoencoders import corrupt  # noqa: F401  (the answer to notebook 01)
from .config import pick
from .train import History, fit


def mlp(sizes: list[int] | tuple[int, ...], activation: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


@dataclass
class AutoencoderConfig:
    """An autoencoder and how it trains. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    input_dim: int = 64
    latent_dim: int = 8
    hidden: tuple[int, ...] = (256, 128)  # the encoder's hidden widths; the decoder mirrors them
    linear: bool = False  # no hidden layers, no activations, no output sigmoid: the PCA-equivalent model
    noise_std: float = 0.0  # > 0: train as a denoising autoencoder
    steps: int = field(default_factory=lambda: pick(fast=150, full=3000))
    batch_size: int = 128
    lr: float = 2e-3


class Autoencoder(nn.Module):
    """x (B, D) -> code z (B, k) -> reconstruction (B, D)."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        hidden = () if config.linear else config.hidden
        self.encoder = mlp([config.input_dim, *hidden, config.latent_dim])
        self.decoder = mlp([config.latent_dim, *reversed(hidden), config.input_dim])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)  # (B, D)
        return out if self.config.linear else torch.sigmoid(out)  # pixels in [0, 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def random_batches(x: torch.Tensor, batch_size: int) -> Callable[[], torch.Tensor]:
    """A function returning a random minibatch of rows of ``x``, drawn where ``x`` lives (no DataLoader)."""

    def batch() -> torch.Tensor:
        return x[torch.randint(len(x), (batch_size,), device=x.device)]

    return batch


def train_autoencoder(model: Autoencoder, x_train: torch.Tensor,
                      corrupt: Callable[[torch.Tensor, float], torch.Tensor] = corrupt,
                      desc: str = "autoencoder", progress: bool = True) -> History:
    """Minimise the mean squared error of ``model`` on ``x_train`` (N, D), on ``x_train``'s device.

    With ``config.noise_std > 0`` the model sees ``corrupt(x, noise_std)`` and must
    reproduce the clean x. Adam with a one-cycle learning-rate schedule.
    """
    config = model.config
    model.to(x_train.device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps)

    def step(x: torch.Tensor) -> torch.Tensor:
        inputs = corrupt(x, config.noise_std) if config.noise_std > 0 else x
        loss = F.mse_loss(model(inputs), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return loss

    history = fit(step, random_batches(x_train, config.batch_size), steps=config.steps, desc=desc,
                  progress=progress)
    model.eval()
    return history


@torch.no_grad()
def reconstruction_mse(model: nn.Module, x: torch.Tensor, inputs: torch.Tensor | None = None) -> float:
    """Mean squared error per pixel of ``model(inputs)`` (``inputs`` defaults to ``x``) against ``x``."""
    model.eval()
    return float(F.mse_loss(model(x if inputs is None else inputs), x))


@torch.no_grad()
def encode_all(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """``model.encode`` over ``x`` (N, D) in batches; for a VAE, the means mu. Returns (N, k)."""
    model.eval()
    codes = [model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat([c[0] if isinstance(c, tuple) else c for c in codes])
