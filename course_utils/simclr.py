"""SimCLR (notebook 05): contrastive learning of visual representations without labels.

SimCLR (Chen et al., 2020) draws two random augmentations t, t' of every image x_k in a batch of N and
trains an encoder f and a projection head g so that the two views of one image agree:

    h = f(t(x))          the representation (here a small CNN, global average pooled)
    z = g(h)             the projection (an MLP), where the loss is computed

Algorithm 1 stacks the 2N projections and, for each of them, treats its partner as the positive and the
other 2N - 2 as negatives. With s_ij = cos(z_i, z_j) and temperature tau, the loss of the pair (i, j) is

    l(i, j) = -log [ exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau) ]

and the NT-Xent loss (normalised temperature-scaled cross-entropy) averages l over all 2N rows:

    L = 1 / 2N  sum_k [ l(2k-1, 2k) + l(2k, 2k-1) ]

Each row is a (2N - 1)-way classification, "which of the others is my partner?", so NT-Xent is
``F.cross_entropy`` on the similarity matrix with its diagonal masked out. Here the views are stacked as
[z1; z2], so the partner of row k is row k + N (mod 2N), not the paper's neighbouring index.

After training, the head g is thrown away: h keeps more information about the image than z, which
the loss taught to ignore what the augmentations change (Section 4.2 of the paper). ``features``
gives either, for a linear probe or a kNN classifier (``course_utils.metrics``). ``train_supervised``
trains the same encoder with labels instead, the baseline the probe is compared with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .answers.a05_simclr import nt_xent  # the answer to notebook 05's exercise
from .augment import Augmentation, Policy, colour_drop, colour_jitter, crop_flip, policy
from .config import pick
from .train import History, minimise

Loss = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # nt_xent(z1, z2, temperature) -> ()


@dataclass
class SimCLRConfig:
    """The encoder, the head and how they train. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    width: int = 32  # channels at 16x16; 2 * width at 8x8; the last convolution (4x4) gives feature_dim
    feature_dim: int = 128  # h: the representation, after global average pooling
    projection_dim: int = 64  # z: the head's output, where NT-Xent is computed
    temperature: float = 0.2  # tau of NT-Xent (0.5 gave a worse probe on shapes)
    crop_scale: tuple[float, float] = (0.3, 1.0)  # area fraction of the random crops
    colour_drop_p: float = 0.8  # probability of turning a view grey
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 128  # N images, so 2N views per step
    steps: int = field(default_factory=lambda: pick(fast=100, full=1500))  # FULL: ~155 s on 1 CPU thread


def augmentation(config: SimCLRConfig, drop: Augmentation = colour_drop) -> Policy:
    """SimCLR's policy (``augment.simclr_policy``) tuned for the 32x32 shapes: crop (``config.crop_scale``) and flip,
    colour jitter (p = 0.8), colour drop (p = ``config.colour_drop_p``), blur (p = 0.5).

    The paper's crops go down to 8% of the image, which on shapes often keeps background only, and its colour
    drop (p = 0.2) leaves colour, the easiest attribute, enough to tell the images apart. Measured on shapes
    (linear probe for shape on h): the paper's policy with tau = 0.5 and 500 steps, 0.52; crops of at least 30%
    and tau = 0.2, 0.60; colour drop with p = 0.5, 800 steps, 0.90; p = 0.8, 1000 steps, 0.94 (labels: 0.98).
    """
    return policy(partial(crop_flip, scale=config.crop_scale), colour_jitter, drop, "blur",
                  p=(1.0, 0.8, config.colour_drop_p, 0.5))


def _conv(n_in: int, n_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU: (B, n_in, H, W) -> (B, n_out, H / stride, W / stride)."""
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride, 1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU())


class Encoder(nn.Module):
    """f: a small CNN, (B, 3, 32, 32) images in [0, 1] -> (B, feature_dim) representations h."""

    def __init__(self, config: SimCLRConfig) -> None:
        super().__init__()
        w = config.width
        self.net = nn.Sequential(
            _conv(3, w, stride=2),  # (B, w, 16, 16)
            _conv(w, w),
            _conv(w, 2 * w, stride=2),  # (B, 2w, 8, 8)
            _conv(2 * w, 2 * w),
            _conv(2 * w, config.feature_dim, stride=2),  # (B, F, 4, 4)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # global average pooling: (B, F)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(2 * x - 1)  # inputs centred on 0


class SimCLR(nn.Module):
    """The encoder f and the projection head g (an MLP with one hidden layer and batch norm, as in the paper).

    ``forward(x)`` returns both h = f(x) (B, feature_dim) and z = g(h) (B, projection_dim).
    """

    def __init__(self, config: SimCLRConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.head = nn.Sequential(nn.Linear(config.feature_dim, config.feature_dim, bias=False),
                                  nn.BatchNorm1d(config.feature_dim), nn.ReLU(),  # batch norm as in the paper's code:
                                  nn.Linear(config.feature_dim, config.projection_dim))  # it keeps z from collapsing early

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)  # (B, F)
        return h, self.head(h)  # (B, F), (B, P)


def train_simclr(images: torch.Tensor, config: SimCLRConfig | None = None, augment: Augmentation | None = None,
                 loss: Loss = nt_xent, generator: torch.Generator | None = None, progress: bool = True,
                 desc: str = "SimCLR") -> tuple[SimCLR, History]:
    """Train a SimCLR model on unlabelled images (N, 3, 32, 32) in [0, 1], on the images' device.

    Each step: a batch of images, two views of each by ``augment`` (default ``augmentation(config)``), then
    ``loss(z1, z2, config.temperature)`` on the projections. Pass your own ``nt_xent`` as ``loss``.
    ``generator`` draws the augmentations (else torch's global generator). Returns the model (in eval mode)
    and the History of the loss.
    """
    config = config or SimCLRConfig()
    augment = augment or augmentation(config)
    model = SimCLR(config)

    def compute_loss(x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W), N distinct images
        views = augment(torch.cat([x, x]), generator=generator)  # (2N, 3, H, W): one policy call, two draws each
        _, z = model(views)  # (2N, P): one forward pass, so batch norm sees both views together
        z1, z2 = z.chunk(2)  # (N, P) each, row k of both from image k
        return loss(z1, z2, config.temperature)

    history = minimise(model, compute_loss, images, steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                       weight_decay=config.weight_decay, distinct=True, desc=desc, progress=progress)
    return model, history


class Supervised(nn.Module):
    """The same encoder f with a linear classifier on h: (B, 3, 32, 32) -> (h (B, F), logits (B, classes))."""

    def __init__(self, config: SimCLRConfig, n_classes: int) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.head = nn.Linear(config.feature_dim, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)  # (B, F)
        return h, self.head(h)  # (B, F), (B, classes)


def train_supervised(images: torch.Tensor, labels: torch.Tensor, config: SimCLRConfig | None = None,
                     augment: Augmentation | None = None, generator: torch.Generator | None = None,
                     progress: bool = True) -> tuple[Supervised, History]:
    """The baseline "trained with labels": the same encoder, cross-entropy on ``labels`` (N,) of ``images``.

    Same augmentations (one view per image), optimiser, batch size and number of steps as ``train_simclr``.
    """
    config = config or SimCLRConfig()
    augment = augment or augmentation(config)
    model = Supervised(config, int(labels.max()) + 1)

    def compute_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _, logits = model(augment(x, generator=generator))  # (N, classes)
        return F.cross_entropy(logits, y)

    history = minimise(model, compute_loss, (images, labels.to(images.device)), steps=config.steps,
                       batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay, distinct=True,
                       desc="supervised", progress=progress)
    return model, history


@torch.no_grad()
def features(model: nn.Module, images: torch.Tensor, head: bool = False, batch_size: int = 500) -> torch.Tensor:
    """Frozen features of images (N, 3, H, W): h (N, feature_dim), or with ``head=True`` the model's second
    output (z (N, projection_dim) for SimCLR, logits for ``Supervised``). In eval mode, in batches, on images' device.
    """
    model.eval()
    device = next(model.parameters()).device
    out = [model(images[i:i + batch_size].to(device))[1 if head else 0] for i in range(0, len(images), batch_size)]
    return torch.cat(out).to(images.device)
