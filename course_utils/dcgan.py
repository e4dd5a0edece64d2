"""A DCGAN for 8x8 digits (notebook 02), after Radford et al. (2016).

The paper's guidelines, at the scale of 8x8 images:
- no pooling: the generator upsamples with transposed convolutions, the discriminator
  downsamples with strided ones;
- batch normalisation in the generator, not on its output layer;
- ReLU in the generator, LeakyReLU(0.2) in the discriminator;
- Adam with learning rate 2e-4 and beta1 = 0.5.

The generator ends with a sigmoid because the digits' pixels lie in [0, 1]. It is
trained by ``gans.train_gan`` with any ``gan_step`` (yours in the notebook).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .config import pick
from .gans import train_gan
from .train import History


@dataclass
class DCGANConfig:
    latent_dim: int = 32
    width: int = 64  # channels of the 4x4 feature maps; the 8x8 ones have half as many
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    steps: int = field(default_factory=lambda: pick(fast=100, full=1200))


class DCGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, 1, 8, 8) in [0, 1]."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        c = config.width
        self.project = nn.Sequential(nn.Linear(config.latent_dim, c * 4 * 4, bias=False), nn.BatchNorm1d(c * 16),
                                     nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c, c // 2, kernel_size=4, stride=2, padding=1, bias=False),  # (B, c/2, 8, 8)
            nn.BatchNorm2d(c // 2), nn.ReLU(),
            nn.Conv2d(c // 2, 1, kernel_size=3, padding=1))  # (B, 1, 8, 8), logits of the pixels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).reshape(-1, self.config.width, 4, 4)  # (B, c, 4, 4)
        return torch.sigmoid(self.net(h))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images (n, 1, 8, 8), from noise drawn on the CPU with ``generator``; eval mode."""
        self.eval()
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        return self(z.to(next(self.parameters()).device))


class DCDiscriminator(nn.Module):
    """images (B, 1, 8, 8) -> logits (B, 1)."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        c = config.width
        self.net = nn.Sequential(
            nn.Conv2d(1, c // 2, kernel_size=3, padding=1), nn.LeakyReLU(0.2),  # (B, c/2, 8, 8)
            nn.Conv2d(c // 2, c, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (B, c, 4, 4)
            nn.Conv2d(c, 2 * c, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (B, 2c, 2, 2)
            nn.Flatten(), nn.Linear(2 * c * 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train_dcgan(images: torch.Tensor, config: DCGANConfig, step=None, snapshot_every: int | None = None,
                desc: str = "DCGAN", progress: bool = True) -> tuple[DCGenerator, History, dict[int, torch.Tensor]]:
    """Train a DCGAN on ``images`` (N, 1, 8, 8) in [0, 1], on their device; ``step`` defaults to ``gans.gan_step``."""
    from .gans import gan_step

    device = images.device
    generator, discriminator = DCGenerator(config).to(device), DCDiscriminator(config).to(device)
    snapshot_z = torch.randn(40, config.latent_dim, generator=torch.Generator().manual_seed(0))

    def sample_real(n: int) -> torch.Tensor:
        return images[torch.randint(len(images), (n,), device=device)]

    history, snapshots = train_gan(generator, discriminator, sample_real, steps=config.steps,
                                   latent_shape=(config.latent_dim,), lr=config.lr, betas=config.betas,
                                   batch_size=config.batch_size, step=step or gan_step,
                                   snapshot_every=snapshot_every, snapshot_z=snapshot_z, desc=desc, progress=progress)
    return generator, history, snapshots
