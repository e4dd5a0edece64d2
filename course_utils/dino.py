"""DINO (notebook 05): self-distillation with no labels, beside SimCLR and without negatives.

DINO (Caron et al., 2021) trains a student network g_s to predict the output of a teacher network g_t of the
same architecture, on two random views x1, x2 of each image. Both end in K "prototype" logits; the teacher's,
centred by C and sharpened by a low temperature tau_t, become a target distribution for the student's:

    P_t(x) = softmax((g_t(x) - C) / tau_t)        the target, with no gradient
    P_s(x) = softmax(g_s(x) / tau_s)              the prediction
    H(a, b) = - sum_k a_k log b_k                  cross-entropy, averaged over the batch

Algorithm 1 asks each view's student to predict the OTHER view's teacher:

    L = H(P_t(x1), P_s(x2)) / 2 + H(P_t(x2), P_s(x1)) / 2

Only the student is trained by gradient descent. After each optimiser step the teacher follows it as an
exponential moving average, theta_t <- m theta_t + (1 - m) theta_s, with m rising to 1 along a cosine
(``teacher_momentum``; from 0.996 in the paper, 0.99 here, where training is 600 steps rather than 100 epochs);
the centre follows the teacher's mean output, C <- c C + (1 - c) mean(g_t).

Nothing here pushes images apart as SimCLR's negatives do, so two things stop the collapse to one constant
output: centring keeps any one prototype from winning for every image (alone it would drift to the uniform
target, loss log K), and sharpening (tau_t < tau_s) keeps the targets from being uniform. ``train_dino``
records the entropy of the targets next to the loss: log K means the uniform collapse, 0 a one-prototype one.

Here at laptop scale: the encoder is SimCLR's small CNN (``simclr.Encoder``), the head is the paper's but
smaller, and there are two global views per image (no multi-crop, no frozen last layer in the first epoch,
no gradient clipping). ``simclr.features`` gives the frozen representations h for a linear probe or kNN.

Measured on shapes, FULL defaults (600 steps, ~90 s on 1 CPU thread), linear probe for shape on the teacher's h:
0.50 (kNN 0.61), against 0.42 for a random encoder and 0.95 for SimCLR's 1,500 steps. DINO learns, slowly: the
paper trains for hundreds of epochs, this for 13. Teacher momentum 0.996, no batch norm in the head, or a teacher
temperature of 0.02 gave 0.44 to 0.51; momentum 0.95 with lr 2e-3, 0.41.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .augment import Augmentation
from .config import pick
from .simclr import Encoder, augmentation
from .train import History, minimise


@dataclass
class DINOConfig:
    """The encoder, the head and how they train. Step counts default to FULL, or FAST under ``COURSE_FAST=1``.

    The encoder and augmentation fields are ``SimCLRConfig``'s, so ``simclr.Encoder`` and ``simclr.augmentation``
    take a DINOConfig as they are.
    """

    width: int = 32  # channels at 16x16; 2 * width at 8x8; the last convolution (4x4) gives feature_dim
    feature_dim: int = 128  # h: the representation, after global average pooling
    hidden_dim: int = 256  # the head's MLP (2048 in the paper)
    bottleneck_dim: int = 64  # the L2-normalised bottleneck (256 in the paper)
    head_batch_norm: bool = True  # batch norm in the head's MLP (the paper's option use_bn_in_head; off for ViTs)
    out_dim: int = 256  # K: the prototypes, where the loss is computed (65536 in the paper)
    student_temperature: float = 0.1  # tau_s
    teacher_temperature: float = 0.04  # tau_t < tau_s: the targets are sharper than the predictions
    centre_momentum: float = 0.9  # c: how slowly the centre follows the teacher's mean output
    teacher_momentum: float = 0.99  # m at the first step, rising to 1 along a cosine (paper: 0.996, slow for 600 steps)
    crop_scale: tuple[float, float] = (0.3, 1.0)  # area fraction of the random crops
    colour_drop_p: float = 0.8  # probability of turning a view grey
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128  # N images, so 2N views per step
    steps: int = field(default_factory=lambda: pick(fast=50, full=600))


class Prototypes(nn.Module):
    """The head's last layer: a weight-normalised linear map with its norm fixed to 1 (the paper's
    ``weight_norm`` with g = 1, frozen): (B, D) -> (B, K), the cosines between a unit input and K unit prototypes."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / math.sqrt(in_dim))  # (K, D): the directions v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, F.normalize(self.weight, dim=1))  # w_k = v_k / ||v_k||


class DINOHead(nn.Module):
    """g's head: an MLP (batch norm if ``config.head_batch_norm``, GELU) to a bottleneck, L2-normalised, then
    ``Prototypes``: (B, feature_dim) -> (B, out_dim)."""

    def __init__(self, config: DINOConfig) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm1d(config.hidden_dim)) if config.head_batch_norm else nn.Identity
        self.mlp = nn.Sequential(nn.Linear(config.feature_dim, config.hidden_dim), norm(), nn.GELU(),
                                 nn.Linear(config.hidden_dim, config.hidden_dim), norm(), nn.GELU(),
                                 nn.Linear(config.hidden_dim, config.bottleneck_dim))
        self.prototypes = Prototypes(config.bottleneck_dim, config.out_dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = F.normalize(self.mlp(h), dim=1)  # (B, bottleneck_dim), unit length
        return self.prototypes(z)  # (B, K), each logit in [-1, 1]


class DINO(nn.Module):
    """The network g, student or teacher: the encoder f and the head.

    ``forward(x)`` returns both h = f(x) (B, feature_dim) and the logits (B, out_dim).
    """

    def __init__(self, config: DINOConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)  # type: ignore[arg-type]  # DINOConfig has the fields Encoder reads
        self.head = DINOHead(config)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)  # (B, F)
        return h, self.head(h)  # (B, F), (B, K)


def teacher_targets(teacher_logits: torch.Tensor, centre: torch.Tensor, temperature: float) -> torch.Tensor:
    """P_t = softmax((t - C) / tau_t) over the last dimension, with no gradient: (..., K) -> (..., K)."""
    return F.softmax((teacher_logits - centre).detach() / temperature, dim=-1)


def dino_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, centre: torch.Tensor,
              student_temperature: float, teacher_temperature: float) -> torch.Tensor:
    """DINO's loss of Algorithm 1: H(P_t(x1), P_s(x2)) / 2 + H(P_t(x2), P_s(x1)) / 2.

    Args:
        student_logits: (2, N, K) the student's logits of the two views, row n of both from image n.
        teacher_logits: (2, N, K) the teacher's, of the same views; no gradient flows into them.
        centre: (K,) C, subtracted from the teacher's logits.
        student_temperature: tau_s; teacher_temperature: tau_t, lower to sharpen the targets.
    Returns:
        The scalar loss: the cross-entropy of each view's prediction against the other view's target,
        averaged over the N images and the two directions.
    """
    targets = teacher_targets(teacher_logits, centre, teacher_temperature)  # (2, N, K): P_t(x1), P_t(x2)
    log_predictions = F.log_softmax(student_logits / student_temperature, dim=-1)  # (2, N, K): log P_s(x1), log P_s(x2)
    cross = -(targets.flip(0) * log_predictions).sum(dim=-1)  # (2, N): H(P_t(x2), P_s(x1)), H(P_t(x1), P_s(x2))
    return cross.mean()


@torch.no_grad()
def update_centre(centre: torch.Tensor, teacher_logits: torch.Tensor, momentum: float) -> torch.Tensor:
    """C <- m C + (1 - m) mean(t): the new centre (K,), from the old one and the teacher's logits (..., K) of a step."""
    return momentum * centre + (1 - momentum) * teacher_logits.reshape(-1, centre.shape[-1]).mean(dim=0)


def teacher_momentum(step: int, steps: int, base: float) -> float:
    """m at ``step`` (0 to steps - 1): ``base`` at the first step, rising to 1 along a cosine, as in the paper."""
    return 1 - (1 - base) * (1 + math.cos(math.pi * step / steps)) / 2


@torch.no_grad()
def update_teacher(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """theta_t <- m theta_t + (1 - m) theta_s, in place, for every parameter (buffers, such as batch norm's running
    statistics, are the teacher's own, from its own forward passes)."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s, alpha=1 - momentum)


def train_dino(images: torch.Tensor, config: DINOConfig | None = None, augment: Augmentation | None = None,
               generator: torch.Generator | None = None, progress: bool = True, student: DINO | None = None,
               desc: str = "DINO") -> tuple[DINO, History]:
    """Train DINO on unlabelled images (N, 3, 32, 32) in [0, 1], on the images' device; returns the TEACHER.

    Each step: a batch of images, two views of each by ``augment`` (default ``simclr.augmentation(config)``),
    both through the student and, without gradients, the teacher (a copy of the student at the start, in
    training mode, so its batch norm uses the batch's statistics); then ``dino_loss``, one AdamW step on the
    student (``train.minimise``), the centre and the teacher's moving average. The teacher's update after step k
    runs at the start of step k + 1 (and once more at the end), where the student has just been updated.

    ``student``: the network to train in place (default a fresh ``DINO(config)``); pass your own to keep it,
    e.g. to compare its probe with the teacher's. Returns the teacher (in eval mode; the paper evaluates the
    teacher, which does better than the student) and the History of the loss and of "target entropy", the mean
    entropy of the teacher's targets P_t (log K: uniform collapse; near 0: one prototype for every image); the
    loss minus it is KL(P_t || P_s), the part of the loss the student controls.
    """
    config = config or DINOConfig()
    augment = augment or augmentation(config)  # type: ignore[arg-type]  # DINOConfig has the fields it reads
    student = (student or DINO(config)).to(images.device)
    teacher = copy.deepcopy(student).requires_grad_(False).train()
    centre = torch.zeros(config.out_dim, device=images.device)  # (K,)
    entropies: list[torch.Tensor] = []

    def compute_loss(x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W), N distinct images
        nonlocal centre
        step = len(entropies)
        if step > 0:  # the student has just taken optimiser step step - 1: the teacher follows
            update_teacher(teacher, student, teacher_momentum(step - 1, config.steps, config.teacher_momentum))
        views = augment(torch.cat([x, x]), generator=generator)  # (2N, 3, H, W): one policy call, two draws each
        _, s = student(views)  # (2N, K)
        with torch.no_grad():
            _, t = teacher(views)  # (2N, K)
        s, t = s.unflatten(0, (2, -1)), t.unflatten(0, (2, -1))  # (2, N, K): [view 1, view 2]
        loss = dino_loss(s, t, centre, config.student_temperature, config.teacher_temperature)
        targets = teacher_targets(t, centre, config.teacher_temperature)  # (2, N, K)
        entropies.append(-(targets * targets.clamp_min(1e-12).log()).sum(dim=-1).mean())
        centre = update_centre(centre, t, config.centre_momentum)
        return loss

    history = minimise(student, compute_loss, images, steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                       weight_decay=config.weight_decay, distinct=True, desc=desc, progress=progress)
    update_teacher(teacher, student, teacher_momentum(config.steps - 1, config.steps, config.teacher_momentum))
    if entropies:
        history.values["target entropy"] = torch.stack(entropies).cpu().tolist()
    return teacher.eval(), history
