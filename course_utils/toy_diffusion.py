"""A denoiser for 2-D points (notebook 03): an MLP on x_t, its Fourier features and t's embedding.

The diffusion itself (schedules, loss, samplers, ``train_diffusion``) is in ``diffusion``;
this module holds the network for the toy 2-D datasets and the settings the notebook and
the benchmark train it with (``toy_config``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .config import pick
from .diffusion import ddpm_loss, make_schedule, timestep_embedding, train_diffusion
from .train import History


@dataclass
class ToyDiffusionConfig:
    """A denoiser for 2-D points and how it trains. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    timesteps: int = 1000
    schedule: str = "linear"  # "linear" (Ho et al.) or "cosine" (Nichol and Dhariwal)
    data_scale: float = 4.0  # the model sees points / data_scale, about [-1, 1]
    hidden: int = 128
    layers: int = 3
    time_dim: int = 32
    frequencies: int = 5  # Fourier features of x_t: sin and cos at pi * 2^k for k < frequencies
    lr: float = 2e-3
    batch_size: int = 256
    steps: int = field(default_factory=lambda: pick(fast=200, full=10_000))


def toy_config(dataset: str) -> ToyDiffusionConfig:
    """The notebooks' settings for "grid25", "swissroll" (03) or "moons" (04); the benchmarks train the same.

    They differ in ``data_scale`` only, the data's extent: the model sees points in about [-1, 1].
    """
    scales = {"grid25": 4.0, "swissroll": 2.5, "moons": 2.0}
    if dataset not in scales:
        raise ValueError(f"No settings for {dataset!r}; choose one of {sorted(scales)}, "
                         "or make a ToyDiffusionConfig(data_scale=...) for the data's extent.")
    return ToyDiffusionConfig(data_scale=scales[dataset])


class ToyDenoiser(nn.Module):
    """eps_theta(x_t, t) for 2-D points: an MLP on x_t (B, 2), its Fourier features and t's embedding -> (B, 2).

    Near a mode of a narrow mixture the noise to predict changes fast with x_t (for the grid, it
    points to the nearest of 25 centres). An MLP of x_t alone is slow to learn such sharp functions;
    sin and cos of x_t at a few frequencies (Tancik et al., 2020) make them easy.
    """

    def __init__(self, config: ToyDiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(config.frequencies), persistent=False)
        sizes = [2 + 4 * config.frequencies + config.time_dim] + [config.hidden] * config.layers
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.SiLU()]
        self.net = nn.Sequential(*layers, nn.Linear(config.hidden, 2))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        angles = (x_t[:, :, None] * self.frequencies).flatten(1)  # (B, 2 * frequencies)
        time = timestep_embedding(t, self.config.time_dim)  # (B, time_dim)
        return self.net(torch.cat([x_t, angles.sin(), angles.cos(), time], dim=1))

    def from_data(self, points: torch.Tensor) -> torch.Tensor:
        """Points (B, 2) -> the model's space, about [-1, 1]."""
        return points / self.config.data_scale

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Samples in the model's space -> points."""
        return x * self.config.data_scale


def train_toy_diffusion(points: torch.Tensor, config: ToyDiffusionConfig,
                        loss: Callable[..., torch.Tensor] = ddpm_loss, desc: str = "diffusion",
                        progress: bool = True) -> tuple[ToyDenoiser, History]:
    """Train a ``ToyDenoiser`` on (N, 2) ``points``, on their device, with the config's schedule."""
    model = ToyDenoiser(config).to(points.device)
    history = train_diffusion(model, model.from_data(points), make_schedule(config)[1], steps=config.steps,
                              batch_size=config.batch_size, lr=config.lr, loss=loss, desc=desc, progress=progress)
    return model, history
