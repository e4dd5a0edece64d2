"""A small U-Net that denoises 8x8 digits (notebook 03), trained by ``diffusion.train_diffusion``.

The network follows DDPM's U-Net at the scale of 8x8 images:
- 8x8 features, downsampled by a strided convolution to 4x4, where residual blocks work,
  then upsampled by a transposed convolution and joined with the 8x8 features (the skip);
- every block is told the step t through a learned per-channel shift of its features, computed
  from the sinusoidal embedding of t;
- no normalisation layers: at this size they slowed training down.

It returns eps_theta(x_t, t), like any denoiser for ``ddpm_loss`` and the samplers, but its last
layer predicts v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans and Ho, 2022), and

    eps = sqrt(alpha_bar_t) v + sqrt(1 - alpha_bar_t) x_t,

a skip connection from the input that carries the answer at high noise (there eps ~ x_t), while v
stays of order 1 at every noise level. It trained faster than predicting eps directly. The model
keeps the schedule's alpha_bar as a buffer, so it follows the model to its device.

Images in [0, 1] are scaled to [-1, 1] (``from_data``) and samples back (``to_data``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import pick
from .diffusion import ddpm_loss, make_schedule, timestep_embedding, train_diffusion
from .train import History


@dataclass
class DigitsDiffusionConfig:
    """A denoiser for 8x8 digits and how it trains. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    timesteps: int = 1000
    schedule: str = "cosine"  # "linear" (Ho et al.) or "cosine" (Nichol and Dhariwal)
    width: int = 32  # channels at 8x8; twice as many at 4x4
    blocks: int = 2  # residual blocks at 4x4
    time_dim: int = 64
    lr: float = 4e-3
    batch_size: int = 64
    steps: int = field(default_factory=lambda: pick(fast=150, full=8000))


class ResidualBlock(nn.Module):
    """h + conv(silu(conv(silu(h)) + shift(t))): two 3x3 convolutions, told t by a per-channel shift."""

    def __init__(self, channels: int, time_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.shift = nn.Linear(time_dim, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        inner = F.silu(self.conv1(F.silu(h)) + self.shift(time)[:, :, None, None])  # (B, C, H, W)
        return h + self.conv2(inner)


class DigitsDenoiser(nn.Module):
    """eps_theta(x_t, t) for (B, 1, 8, 8) images in [-1, 1]: a U-Net 8x8 -> 4x4 -> 8x8 predicting v."""

    def __init__(self, config: DigitsDiffusionConfig) -> None:
        super().__init__()
        self.config = config
        c, d = config.width, config.time_dim
        self.register_buffer("alpha_bar", make_schedule(config)[1], persistent=False)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU())
        self.conv_in = nn.Conv2d(1, c, 3, padding=1)  # (B, c, 8, 8)
        self.shift_in = nn.Linear(d, c)
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)  # (B, 2c, 4, 4)
        self.blocks = nn.ModuleList(ResidualBlock(2 * c, d) for _ in range(config.blocks))
        self.up = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)  # (B, c, 8, 8)
        self.conv_out = nn.Conv2d(2 * c, 1, 3, padding=1)  # on [up, skip]: (B, 1, 8, 8)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        time = self.time(timestep_embedding(t, self.config.time_dim))  # (B, d)
        skip = F.silu(self.conv_in(x_t) + self.shift_in(time)[:, :, None, None])  # (B, c, 8, 8)
        h = self.down(skip)  # (B, 2c, 4, 4)
        for block in self.blocks:
            h = block(h, time)
        h = F.silu(self.up(F.silu(h)))  # (B, c, 8, 8)
        v = self.conv_out(torch.cat([h, skip], dim=1))  # (B, 1, 8, 8)
        ab = self.alpha_bar[t].reshape(-1, 1, 1, 1)
        return ab.sqrt() * v + (1 - ab).sqrt() * x_t  # eps from v (Salimans and Ho, 2022)

    def from_data(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> the model's space [-1, 1]."""
        return images * 2 - 1

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Samples in the model's space -> images in [0, 1] (clamped)."""
        return ((x + 1) / 2).clamp(0, 1)


def train_digits_diffusion(images: torch.Tensor, config: DigitsDiffusionConfig,
                           loss: Callable[..., torch.Tensor] = ddpm_loss, desc: str = "diffusion",
                           progress: bool = True) -> tuple[DigitsDenoiser, History]:
    """Train a ``DigitsDenoiser`` on (N, 1, 8, 8) ``images`` in [0, 1], on their device; sample with ``clip=1.0``."""
    model = DigitsDenoiser(config).to(images.device)
    history = train_diffusion(model, model.from_data(images), model.alpha_bar, steps=config.steps,
                              batch_size=config.batch_size, lr=config.lr, loss=loss, desc=desc, progress=progress)
    return model, history
