"""unCLIP-style text-to-image (notebook 06): a diffusion decoder conditioned on CLIP text embeddings.

unCLIP (Ramesh et al., 2022) makes an image from a caption in two stages: a *prior* maps the caption's
CLIP text embedding to a CLIP image embedding, and a *decoder*, a diffusion model, generates an image
conditioned on that embedding. Here the decoder is conditioned on the caption's CLIP text embedding c
(B, D) directly, with no prior, and the pieces are those of notebooks 01, 03 and 04:

- the latent space is 01's PCA: an image (3, 32, 32) is coded by its first k = 160 principal components
  (04's "Stable Diffusion" recipe with a linear autoencoder that costs no training);
- the denoiser is 04's MLP of (z_t, t), told t and c through one embedding that scales and shifts
  every block's features (FiLM); training replaces c by a learned "no caption" embedding with
  probability ``p_uncond``, so one network learns both eps(z_t, t, c) and eps(z_t, t, none);
- sampling is 03's DDIM with 04's classifier-free guidance, w = 0 being the conditional model:

    eps_guided = eps(z_t, t, c) + w (eps(z_t, t, c) - eps(z_t, t, none))

The choices were measured on the shapes, on one CPU thread: the size of the latent with notebook 06's CLIP
as encoder and judge, the others with a CNN judging shape and colour and captions stood in for by sums of
one random vector per attribute they mention.

- PCA, not a trained autoencoder or pixels. In the ~100 s available, U-Nets on 16x16 pixels and conv
  autoencoders learnt colour and position, then drew blobs (at most 39% of the U-Nets' samples and 77%
  of the autoencoders' reconstructions judged the right shape): the squared error counts the few
  pixels that tell a star from a circle for little. PCA takes a second to fit.
- k = 160 components. Notebook 06's CLIP recognises shape and colour in 98-100% of real test images, but
  after the PCA round trip in 83-89% with k = 128, 94-97% with 192, 96-100% with 256 (4 CLIPs, seeds 0-2):
  fewer components blur the points of small stars. More components raise that ceiling but are harder
  to draw: samples matching their prompt, judged by those 4 CLIPs (w = 2, 16 samples for each of 30
  prompts, one thread): k = 128, 4,000 steps 0.74-0.83; 8,000 steps 0.79-0.85; 12,000 steps 0.80-0.85;
  k = 160, 8,000 steps 0.82-0.85; k = 192, 4,000 steps 0.72-0.77, with a width of 384 and 6,000
  steps 0.80-0.83. Longer training costs the held-out pairs, though: at k = 128 they matched
  0.61-0.80 after 4,000 steps, 0.56-0.71 after 8,000 and 0.50-0.61 after 12,000 (0.48-0.59 at k = 160,
  8,000 steps): the decoder learns the pairs it saw. A deterministic refiner after the PCA decoder (a
  small conv net or U-Net trained to map round trips back to the real images, a stand-in for unCLIP's
  upsamplers) added 1-2 points and barely changed the images.
- Each component scaled by std^0.5 (``whitening``), neither by its std (unit variance, as 04's
  ``LatentSpace``) nor by one number for all. The loss weighs the components by their scaled
  variance: near one scale, the small fine-detail components, where shapes differ, hardly count; at
  unit variance the many small, noise-like ones count as much as the large ones. Shape matching the
  prompt (3,000 steps, w = 2): std^0.25 0.67, ^0.5 0.80, ^0.75 0.84, ^1 0.72; with 4,500 steps
  ^0.5 and ^0.75 matched as often over all pairs, and ^0.5 more often on the held-out ones (0.72 to 0.57).
- The loss on v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) z_0 (Salimans and Ho, 2022) instead of
  03's loss on eps: 0.84 against 0.70. At high noise eps is almost z_t itself, so the loss on eps
  barely teaches the model what z_0 to aim for, and the first DDIM steps decide the shape.

No prior: conditioning the decoder on embeddings that also fix size, position and background (what a
perfect prior would give) matched the shape little more often (0.74 against 0.72); with notebook 06's
CLIP, a decoder conditioned on the image embeddings of real test images matched their shape and
colour no more often (0.75) than the text-conditioned one matched its prompts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .config import pick
from .diffusion import ddim_sample, make_schedule, q_sample, timestep_embedding
from .latent_diffusion import classifier_free_guidance
from .pca import pca_project, pca_reconstruct
from .train import minimise


@dataclass
class UnCLIPConfig:
    """The decoder and how it trains. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    condition_dim: int = 64  # D of the (CLIP text) embeddings the decoder is conditioned on
    components: int = 160  # k: the PCA latent's size
    whitening: float = 0.5  # codes are divided by std^whitening (0: one scale for all, 1: unit variance each)
    hidden: int = 256
    blocks: int = 3  # residual MLP blocks
    time_dim: int = 128  # the embedding of (t, c) every block is told
    timesteps: int = 1000
    schedule: str = "cosine"
    p_uncond: float = 0.1  # training replaces the caption by "no caption" this often
    lr: float = 2e-3
    batch_size: int = 256
    steps: int = field(default_factory=lambda: pick(fast=100, full=8000))  # FULL: ~190 s on 1 CPU thread
    sample_steps: int = field(default_factory=lambda: pick(fast=10, full=50))  # DDIM steps in ``generate``


# ---------------------------------------------------------------- the latent space: 01's PCA


class PCASpace(nn.Module):
    """Images (N, C, H, W) in [0, 1] <-> codes (N, k): principal components, each scaled by std^whitening."""

    def __init__(self, images: torch.Tensor, components: int, whitening: float) -> None:
        super().__init__()
        x = images.flatten(1)  # (N, D)
        if not 0 < components < min(x.shape):
            raise ValueError(f"components must be between 1 and {min(x.shape) - 1} for {tuple(x.shape)} "
                             f"flattened images, got {components}.")
        self.image_shape = tuple(images.shape[1:])
        mean = x.mean(0)  # (D,): the mean image, flattened
        # The top k right singular vectors of x - mean, as 01's ``pca_fit``, by a randomised SVD:
        # the same subspace, in a second instead of 10 on a CPU thread for 6,000 x 3,072 pixels
        _, _, v = torch.svd_lowrank(x - mean, q=min(components + 32, *x.shape), niter=4)
        directions = v[:, :components].T  # (k, D), orthonormal rows
        codes = pca_project(x, mean, directions)  # (N, k), of mean 0
        scale = codes.pow(2).mean(dim=0).sqrt() ** whitening  # (k,): std^whitening
        scale = scale * (codes / scale).pow(2).mean().sqrt()  # one factor more, so the codes have variance 1 overall
        self.register_buffer("mean", mean)
        self.register_buffer("directions", directions)
        self.register_buffer("scale", scale)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, k)."""
        return pca_project(images.flatten(1), self.mean, self.directions) / self.scale

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, k) -> (N, C, H, W), clamped to [0, 1]."""
        pixels = pca_reconstruct(codes * self.scale, self.mean, self.directions)  # (N, D)
        return pixels.reshape(-1, *self.image_shape).clamp(0, 1)


# ---------------------------------------------------------------- the denoiser


class FiLMBlock(nn.Module):
    """h + MLP(LayerNorm(h) (1 + scale) + shift), with scale and shift computed from the (t, c) embedding."""

    def __init__(self, hidden: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.film = nn.Linear(emb_dim, 2 * hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb).chunk(2, dim=1)  # (B, hidden) each
        return h + self.mlp(self.norm(h) * (1 + scale) + shift)


class CaptionDenoiser(nn.Module):
    """eps_theta(z_t, t, c) for codes z_t (B, k), steps t (B,) and embeddings c (B, D) or None (= "no caption").

    The network predicts v (``velocity``); ``forward`` turns it into eps, what the samplers expect.
    """

    def __init__(self, config: UnCLIPConfig) -> None:
        super().__init__()
        self.config = config
        h, d = config.hidden, config.time_dim
        self.register_buffer("alpha_bar", make_schedule(config)[1], persistent=False)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.condition = nn.Sequential(nn.Linear(config.condition_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.null = nn.Parameter(torch.zeros(config.condition_dim))  # the learned "no caption" embedding
        self.inp = nn.Linear(config.components, h)
        self.blocks = nn.ModuleList(FiLMBlock(h, d) for _ in range(config.blocks))
        self.out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, config.components))

    def velocity(self, z_t: torch.Tensor, t: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted v (B, k)."""
        if condition is None:
            condition = self.null.expand(len(z_t), -1)
        # unit vectors have entries of about 1/sqrt(D): scaled by sqrt(D), they are of order 1
        c = condition * math.sqrt(self.config.condition_dim)
        emb = F.silu(self.time(timestep_embedding(t, self.config.time_dim)) + self.condition(c))  # (B, d)
        h = self.inp(z_t)  # (B, hidden)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)  # (B, k)

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        ab = self.alpha_bar[t][:, None]  # (B, 1)
        return ab.sqrt() * self.velocity(z_t, t, condition) + (1 - ab).sqrt() * z_t  # eps from v


def v_loss(denoiser: CaptionDenoiser, z0: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
    """The mean squared error of the predicted v, v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) z_0; a scalar.

    As 03's ``ddpm_loss``: each example gets its own t, uniform in [0, T), and noise eps ~ N(0, I).
    """
    alpha_bar = denoiser.alpha_bar
    t = torch.randint(len(alpha_bar), (len(z0),), device=z0.device)  # (B,)
    noise = torch.randn_like(z0)  # (B, k)
    ab = alpha_bar[t][:, None]
    v = ab.sqrt() * noise - (1 - ab).sqrt() * z0
    return F.mse_loss(denoiser.velocity(q_sample(z0, t, noise, alpha_bar), t, condition), v)


class TextGuided(nn.Module):
    """model(z_t, t) for the samplers: ``denoiser`` guided towards embeddings ``condition`` (B, D) with ``scale``.

    The conditional and the "no caption" predictions come from one batch of 2B, as in 04's ``Guided``.
    """

    def __init__(self, denoiser: CaptionDenoiser, condition: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.denoiser, self.condition, self.scale = denoiser, condition, scale

    def forward(self, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        condition = self.condition.to(z_t.device)
        both = torch.cat([condition, self.denoiser.null.expand_as(condition)])  # (2B, D)
        eps_cond, eps_uncond = self.denoiser(torch.cat([z_t, z_t]), torch.cat([t, t]), both).chunk(2)
        return classifier_free_guidance(eps_cond, eps_uncond, self.scale)


# ---------------------------------------------------------------- training and generating


class Decoder(nn.Module):
    """The latent space and the denoiser: what ``train_decoder`` returns and ``generate`` takes."""

    def __init__(self, space: PCASpace, denoiser: CaptionDenoiser) -> None:
        super().__init__()
        self.space, self.denoiser = space, denoiser
        self.history = None  # the training loss, a ``train.History``

    @property
    def config(self) -> UnCLIPConfig:
        return self.denoiser.config


def train_decoder(images: torch.Tensor, condition: torch.Tensor, config: UnCLIPConfig | None = None,
                  progress: bool = True) -> Decoder:
    """Train a decoder on ``images`` (N, 3, H, W) in [0, 1] and their captions' embeddings ``condition`` (N, D).

    On the images' device: fit the PCA, encode the images, then minimise ``v_loss`` on random batches,
    each caption replaced by "no caption" with probability ``config.p_uncond``. Returns the decoder
    (in eval mode); its loss curve is ``decoder.history``.
    """
    config = config or UnCLIPConfig()
    if condition.shape != (len(images), config.condition_dim):
        raise ValueError(f"condition must be (N, D) = ({len(images)}, {config.condition_dim}), "
                         f"got {tuple(condition.shape)}.")
    space = PCASpace(images, config.components, config.whitening)
    denoiser = CaptionDenoiser(config).to(images.device)
    codes = space.encode(images)  # (N, k)

    def batch_loss(z0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        dropped = torch.rand(len(c), device=c.device) < config.p_uncond  # (B,)
        c = torch.where(dropped[:, None], denoiser.null.expand_as(c), c)  # (B, D)
        return v_loss(denoiser, z0, c)

    decoder = Decoder(space, denoiser)
    decoder.history = minimise(denoiser, batch_loss, (codes, condition.to(codes)), steps=config.steps,
                               batch_size=config.batch_size, lr=config.lr, desc="unCLIP decoder", progress=progress)
    return decoder.eval()


@torch.no_grad()
def generate(decoder: Decoder, condition: torch.Tensor, guidance: float, generator: torch.Generator | None = None,
             steps: int | None = None) -> torch.Tensor:
    """Images for the embeddings ``condition`` (B, D), by DDIM (``steps``, default ``config.sample_steps``)
    with classifier-free guidance ``guidance`` (w = 0: the conditional model alone).

    On the decoder's device; ``generator`` draws z_T (on its own device). Returns (B, 3, H, W) in [0, 1].
    """
    model = TextGuided(decoder.denoiser, condition, guidance)
    samples = ddim_sample(model, (len(condition), decoder.config.components), decoder.denoiser.alpha_bar,
                          steps or decoder.config.sample_steps, generator=generator)
    return decoder.space.decode(samples.x)
