"""Latent diffusion and classifier-free guidance (notebook 04): "Stable Diffusion" at the scale of 8x8 digits.

Rombach et al. (2022) diffuse in the latent space of a pretrained autoencoder instead of in pixels:
encode the images once, train the diffusion model on the codes, sample codes, decode them. The
autoencoder here is notebook 01's (``autoencoders.Autoencoder``, 64 pixels -> 8 numbers). The
codes are standardised with the train codes' mean and std per dimension (Stable Diffusion scales
its latents too), so the noise schedule means the same on every dimension.

The denoiser ``LatentDenoiser`` is an MLP of the code z_t, the step t and a class y. Conditioning
is a learned embedding per class plus one more, "no class" (index ``classes``). Training drops the
class with probability ``p_uncond`` (Ho and Salimans, 2022), so one network learns both the
conditional eps(z_t, t, y) and the unconditional eps(z_t, t, none). Classifier-free guidance then
mixes the two at sampling time, with a guidance scale w:

    eps_guided = eps(z_t, t, y) + w (eps(z_t, t, y) - eps(z_t, t, none))

Convention: w = 0 is the conditional model unchanged, and w > 0 pushes further away from the
unconditional prediction (Ho and Salimans's w; Stable Diffusion's "guidance scale" is 1 + w).
The samplers of ``diffusion`` (DDPM, DDIM) run on any model(x_t, t): ``Guided`` is that model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .answers.a04_flows import classifier_free_guidance  # noqa: F401  (04's answer)
from .autoencoders import Autoencoder, AutoencoderConfig, encode_all, train_autoencoder
from .config import pick
from .diffusion import ddpm_loss, make_schedule, timestep_embedding
from .train import History, minimise


# ---------------------------------------------------------------- the latent space


class LatentSpace(nn.Module):
    """01's autoencoder with standardised codes: images (N, 1, 8, 8) in [0, 1] <-> codes (N, k)."""

    def __init__(self, autoencoder: Autoencoder, codes: torch.Tensor) -> None:
        super().__init__()
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        self.register_buffer("mean", codes.mean(dim=0))  # (k,) from the train codes
        self.register_buffer("std", codes.std(dim=0))

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return (encode_all(self.autoencoder, images.flatten(1)) - self.mean) / self.std  # (N, k)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        pixels = self.autoencoder.decode(codes * self.std + self.mean)  # (N, 64) in [0, 1]
        return pixels.reshape(-1, 1, 8, 8)


def train_latent_space(images: torch.Tensor, latent_dim: int = 8, progress: bool = True) -> LatentSpace:
    """Train 01's autoencoder (its FULL or FAST settings) on (N, 1, 8, 8) ``images``, on their device."""
    autoencoder = Autoencoder(AutoencoderConfig(latent_dim=latent_dim)).to(images.device)
    train_autoencoder(autoencoder, images.flatten(1), desc="autoencoder (notebook 01's)", progress=progress)
    return LatentSpace(autoencoder, encode_all(autoencoder, images.flatten(1)))


# ---------------------------------------------------------------- the denoiser of codes


@dataclass
class LatentDiffusionConfig:
    """A denoiser of codes and how it trains. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    latent_dim: int = 8
    classes: int = 10  # class embeddings, plus one for "no class"
    p_uncond: float = 0.1  # training drops the class this often (1.0: an unconditional model)
    timesteps: int = 1000
    schedule: str = "linear"
    hidden: int = 128
    blocks: int = 3  # residual MLP blocks
    time_dim: int = 64
    lr: float = 2e-3
    batch_size: int = 256
    steps: int = field(default_factory=lambda: pick(fast=150, full=4000))


class LatentDenoiser(nn.Module):
    """eps_theta(z_t, t, y) for codes z_t (B, k), steps t (B,) and classes y (B,) or None (= "no class")."""

    def __init__(self, config: LatentDiffusionConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.classes = nn.Embedding(config.classes + 1, h)  # the last row: "no class"
        self.time = nn.Sequential(nn.Linear(config.time_dim, h), nn.SiLU(), nn.Linear(h, h))
        self.inp = nn.Linear(config.latent_dim, h)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(h), nn.Linear(h, 2 * h), nn.SiLU(), nn.Linear(2 * h, h))
                                    for _ in range(config.blocks))
        self.out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, config.latent_dim))

    @property
    def null_class(self) -> int:
        return self.config.classes

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            y = torch.full((z_t.shape[0],), self.null_class, device=z_t.device)
        h = self.inp(z_t) + self.time(timestep_embedding(t, self.config.time_dim)) + self.classes(y)  # (B, h)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)  # (B, k)


class Guided(nn.Module):
    """model(z_t, t) for the samplers: ``denoiser`` guided towards ``labels`` (B,) with ``scale``.

    Both predictions come from one batch of 2B (the conditional and the "no class" halves), combined
    with ``guidance`` (yours in the notebook).
    """

    def __init__(self, denoiser: LatentDenoiser, labels: torch.Tensor, scale: float,
                 guidance: Callable[..., torch.Tensor] = classifier_free_guidance) -> None:
        super().__init__()
        self.denoiser, self.labels, self.scale, self.guidance = denoiser, labels, scale, guidance

    def forward(self, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        labels = self.labels.to(z_t.device)
        both = torch.cat([labels, torch.full_like(labels, self.denoiser.null_class)])  # (2B,)
        eps_cond, eps_uncond = self.denoiser(torch.cat([z_t, z_t]), torch.cat([t, t]), both).chunk(2)
        return self.guidance(eps_cond, eps_uncond, self.scale)


def train_latent_diffusion(codes: torch.Tensor, labels: torch.Tensor | None, config: LatentDiffusionConfig,
                           loss: Callable[..., torch.Tensor] = ddpm_loss, desc: str = "latent diffusion",
                           progress: bool = True) -> tuple[LatentDenoiser, History]:
    """Train a ``LatentDenoiser`` on (N, k) ``codes`` and their (N,) ``labels`` (None: unconditional), on their device.

    Each batch drops its labels to "no class" with probability ``config.p_uncond`` per example, then
    calls ``loss(model, z0, alpha_bar)`` (03's ``ddpm_loss``) with the model told those labels.
    """
    model = LatentDenoiser(config).to(codes.device)
    alpha_bar = make_schedule(config)[1].to(codes.device)
    if labels is None:
        labels = torch.full((len(codes),), model.null_class, device=codes.device)

    def batch_loss(z0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        dropped = torch.rand(len(y), device=y.device) < config.p_uncond
        y = torch.where(dropped, torch.full_like(y, model.null_class), y)
        return loss(lambda z_t, t: model(z_t, t, y), z0, alpha_bar)

    history = minimise(model, batch_loss, (codes, labels.to(codes.device)), steps=config.steps,
                       batch_size=config.batch_size, lr=config.lr, desc=desc, progress=progress)
    return model, history
