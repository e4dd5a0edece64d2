"""unCLIP-style text-to-image (notebook 06): a diffusion decoder conditioned on CLIP text embeddings.

unCLIP (Ramesh et al., 2022) generates an image from a caption in two stages: a *prior* maps the
caption's CLIP text embedding to a CLIP image embedding, and a *decoder*, a diffusion model,
generates an image conditioned on that embedding (then diffusion upsamplers take it from 64x64
to 1024x1024). Here the decoder is conditioned on the caption's CLIP text embedding directly, as
GLIDE does: on the shapes a prior added nothing (see the notes at the end). The pieces are the
ones of notebooks 03 and 04:

- the denoiser is 03's small U-Net (``unet.ResidualBlock``), predicting v, with the caption's
  embedding c (B, D) added to the step's embedding, so every block is told both t and c;
- training is 03's loss (``diffusion.ddpm_loss``), with c replaced by a learned "no caption"
  embedding with probability ``p_uncond``, so one network learns eps(x_t, t, c) and eps(x_t, t, none);
- sampling is 03's DDIM, with 04's classifier-free guidance (``latent_diffusion.classifier_free_guidance``):

    eps_guided = eps(x_t, t, c) + w (eps(x_t, t, c) - eps(x_t, t, none))

  w = 0 is the conditional model unchanged (Ho and Salimans's w; Stable Diffusion's scale is 1 + w).

The decoder works in pixels, at 16x16, and ``generate`` upsamples its samples to 32x32 (bicubic):
the shapes need no more to be recognised, and a 16x16 image split into 2x2 patches is an 8x8 grid
of 12 numbers, which the U-Net of 03's 8x8 digits handles at the same cost. Measured on a CPU
thread, an autoencoder's latent (04's "Stable Diffusion" recipe) was worse for the same time: in
the seconds available, the autoencoders learnt to draw blobs, not stars and crosses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .config import pick
from .diffusion import ddim_sample, ddpm_loss, make_schedule, timestep_embedding
from .latent_diffusion import classifier_free_guidance
from .train import History, minimise
from .unet import ResidualBlock


@dataclass
class UnCLIPConfig:
    """The text-conditioned decoder and how it trains. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    condition_dim: int = 64  # D of the (CLIP text) embeddings the decoder is conditioned on
    resolution: int = 16  # the decoder's images (a multiple of 8); ``generate`` upsamples to ``image_size``
    image_size: int = 32
    width: int = 64  # channels at 8x8; twice as many at 4x4
    blocks: int = 2  # residual blocks at 4x4
    time_dim: int = 128  # the embedding of (t, c) every block is told
    timesteps: int = 1000
    schedule: str = "cosine"
    p_uncond: float = 0.1  # training replaces the caption by "no caption" this often
    lr: float = 4e-3
    batch_size: int = 64
    steps: int = field(default_factory=lambda: pick(fast=100, full=3000))
    sample_steps: int = field(default_factory=lambda: pick(fast=10, full=50))  # DDIM steps in ``generate``


class TextConditionedDenoiser(nn.Module):
    """eps_theta(x_t, t, c) for (B, 3, R, R) images in [-1, 1], steps t (B,), embeddings c (B, D) or None.

    03's U-Net on patches: (B, 3, R, R) -> (B, 3 p^2, 8, 8) with p = R / 8, down to 4x4 and back.
    """

    def __init__(self, config: UnCLIPConfig) -> None:
        super().__init__()
        if config.resolution % 8:
            raise ValueError(f"resolution must be a multiple of 8, got {config.resolution}.")
        self.config = config
        c, d, p = config.width, config.time_dim, config.resolution // 8
        channels = 3 * p * p  # one p x p patch of RGB pixels per position of the 8x8 grid
        self.register_buffer("alpha_bar", make_schedule(config)[1], persistent=False)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.condition = nn.Sequential(nn.Linear(config.condition_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.null = nn.Parameter(torch.zeros(config.condition_dim))  # the learned "no caption" embedding
        self.patches = nn.PixelUnshuffle(p)  # (B, 3, R, R) -> (B, 3p^2, 8, 8)
        self.conv_in = nn.Conv2d(channels, c, 3, padding=1)
        self.shift_in = nn.Linear(d, c)
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)  # (B, 2c, 4, 4)
        self.blocks = nn.ModuleList(ResidualBlock(2 * c, d) for _ in range(config.blocks))
        self.up = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)  # (B, c, 8, 8)
        self.conv_out = nn.Conv2d(2 * c, channels, 3, padding=1)  # on [up, skip]
        self.pixels = nn.PixelShuffle(p)  # (B, 3p^2, 8, 8) -> (B, 3, R, R)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if condition is None:
            condition = self.null.expand(x_t.shape[0], -1)
        # unit vectors have entries of about 1/sqrt(D): scaled by sqrt(D), they are of order 1
        emb = self.time(timestep_embedding(t, self.config.time_dim)) \
            + self.condition(condition * math.sqrt(self.config.condition_dim))  # (B, d): t and c together
        emb = F.silu(emb)
        skip = F.silu(self.conv_in(self.patches(x_t)) + self.shift_in(emb)[:, :, None, None])  # (B, c, 8, 8)
        h = self.down(skip)  # (B, 2c, 4, 4)
        for block in self.blocks:
            h = block(h, emb)
        h = F.silu(self.up(F.silu(h)))  # (B, c, 8, 8)
        v = self.pixels(self.conv_out(torch.cat([h, skip], dim=1)))  # (B, 3, R, R)
        ab = self.alpha_bar[t].reshape(-1, 1, 1, 1)
        return ab.sqrt() * v + (1 - ab).sqrt() * x_t  # eps from v, as in unet.DigitsDenoiser

    def from_data(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) in [0, 1] -> the decoder's space: (N, 3, R, R) in [-1, 1] (area downsampling)."""
        if images.shape[-1] != self.config.resolution:
            images = F.interpolate(images, size=self.config.resolution, mode="area")
        return images * 2 - 1

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Samples (B, 3, R, R) in the decoder's space -> images (B, 3, image_size, image_size) in [0, 1]."""
        images = (x + 1) / 2
        if self.config.image_size != self.config.resolution:
            images = F.interpolate(images, size=self.config.image_size, mode="bicubic", align_corners=False)
        return images.clamp(0, 1)


class TextGuided(nn.Module):
    """model(x_t, t) for the samplers: ``decoder`` guided towards embeddings ``condition`` (B, D) with ``scale``.

    The conditional and the "no caption" predictions come from one batch of 2B, as in 04's ``Guided``.
    """

    def __init__(self, decoder: TextConditionedDenoiser, condition: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.decoder, self.condition, self.scale = decoder, condition, scale

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        condition = self.condition.to(x_t.device)
        both = torch.cat([condition, self.decoder.null.expand_as(condition)])  # (2B, D)
        eps_cond, eps_uncond = self.decoder(torch.cat([x_t, x_t]), torch.cat([t, t]), both).chunk(2)
        return classifier_free_guidance(eps_cond, eps_uncond, self.scale)


def train_decoder(images: torch.Tensor, condition: torch.Tensor, config: UnCLIPConfig | None = None,
                  progress: bool = True) -> TextConditionedDenoiser:
    """Train the decoder on ``images`` (N, 3, H, W) in [0, 1] and their captions' embeddings ``condition`` (N, D).

    On the images' device. Each batch replaces a caption by "no caption" with probability ``config.p_uncond``
    per example, then takes 03's ``ddpm_loss``. Returns the decoder in eval mode; its loss curve is
    ``decoder.history``.
    """
    config = config or UnCLIPConfig()
    if condition.shape != (len(images), config.condition_dim):
        raise ValueError(f"condition must be (N, D) = ({len(images)}, {config.condition_dim}), "
                         f"got {tuple(condition.shape)}.")
    decoder = TextConditionedDenoiser(config).to(images.device)
    x = decoder.from_data(images)  # (N, 3, R, R) in [-1, 1]

    def batch_loss(x0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        dropped = torch.rand(len(c), device=c.device) < config.p_uncond  # (B,)
        c = torch.where(dropped[:, None], decoder.null.expand_as(c), c)  # (B, D)
        return ddpm_loss(lambda x_t, t: decoder(x_t, t, c), x0, decoder.alpha_bar)

    decoder.history = minimise(decoder, batch_loss, (x, condition.to(x)), steps=config.steps,
                               batch_size=config.batch_size, lr=config.lr, desc="unCLIP decoder", progress=progress)
    return decoder


@torch.no_grad()
def generate(decoder: TextConditionedDenoiser, condition: torch.Tensor, guidance: float,
             generator: torch.Generator | None = None, steps: int | None = None) -> torch.Tensor:
    """Images for embeddings ``condition`` (B, D): DDIM (``steps``, default ``config.sample_steps``) guided by w.

    On the decoder's device; ``generator`` draws x_T (on its own device). Returns (B, 3, 32, 32) in [0, 1].
    """
    config = decoder.config
    shape = (len(condition), 3, config.resolution, config.resolution)
    samples = ddim_sample(TextGuided(decoder, condition, guidance), shape, decoder.alpha_bar,
                          steps or config.sample_steps, generator=generator, clip=1.0)
    return decoder.to_data(samples.x)
