"""SimCLR's study of augmentation pairs (notebook 05; Figure 5 of Chen et al., 2020), at laptop scale.

The paper trains SimCLR with one transformation, or with a composition of two, and reports the linear
probe of each: no single transformation suffices, and crop followed by colour distortion is by far the
best pair. The reason is a shortcut: two crops of one image share their colour histogram, so without
colour distortion the encoder can match views by colour alone and learn little else.

Here each cell of the table is a short SimCLR run (``simclr.train_simclr`` with ``config``, one
``pair_policy`` for both views) followed by a linear probe for the label on frozen h:

- the diagonal: one transformation alone; above it: the row's transformation, then the column's. The
  table is filled symmetrically (the paper measures both orders; here each pair is trained once);
- "colour" is colour distortion as SimCLR uses it, jitter (p = 0.8) then colour drop (p =
  ``config.colour_drop_p``); "crop" is crop and resize with ``config.crop_scale``; the others are
  ``augment.AUGMENTATIONS`` with their defaults, applied to every image.

The paper applies the transformations to one branch only, the other view being the (cropped) original;
here both views are augmented, as in SimCLR's training. Every run starts from the same seed.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from functools import partial

import torch

from . import metrics
from .augment import AUGMENTATIONS, Augmentation, Policy, crop_resize, policy
from .colour import colour_drop, colour_jitter
from .config import seed_everything
from .simclr import Loss, SimCLRConfig, features, nt_xent, train_simclr

FIGURE_5 = ("crop", "cutout", "colour", "sobel", "noise", "blur", "rotate")  # the paper's seven, in its order


def transformation(name: str, config: SimCLRConfig, drop: Augmentation = colour_drop,
                   sobel: Augmentation | None = None) -> tuple[list[Augmentation], list[float]]:
    """The operators and probabilities of one of ``FIGURE_5``; ``drop`` and ``sobel`` may be your own."""
    if name == "crop":
        return [partial(crop_resize, scale=config.crop_scale)], [1.0]
    if name == "colour":
        return [colour_jitter, drop], [0.8, config.colour_drop_p]
    if name == "sobel" and sobel is not None:
        return [sobel], [1.0]
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown transformation {name!r}; choose from {', '.join(FIGURE_5)}.")
    return [AUGMENTATIONS[name]], [1.0]


def pair_policy(first: str, second: str, config: SimCLRConfig, **mine: Augmentation) -> Policy:
    """``first`` then ``second`` (one transformation when they are equal), as a policy for both views."""
    ops, p = transformation(first, config, **mine)
    if second != first:
        more_ops, more_p = transformation(second, config, **mine)
        ops, p = ops + more_ops, p + more_p
    return policy(*ops, p=p)


@dataclass
class Ablation:
    """The result: ``probe[label][i, j]``, the linear probe for a label after training with names[i] then names[j]."""

    names: tuple[str, ...]
    probe: dict[str, torch.Tensor]  # label -> (k, k), symmetric
    seconds: float  # training and probing, all cells

    def best(self, label: str | None = None) -> tuple[str, str]:
        """The pair of different transformations with the highest probe for ``label`` (default: the first)."""
        table = self.probe[label or next(iter(self.probe))]
        k = len(self.names)
        off = table.clone()
        off[torch.eye(k, dtype=torch.bool)] = -1.0
        i, j = divmod(int(off.argmax()), k)
        return self.names[min(i, j)], self.names[max(i, j)]


def pair_ablation(train_images: torch.Tensor, test_images: torch.Tensor,
                  labels: dict[str, tuple[torch.Tensor, torch.Tensor]], names: tuple[str, ...] = FIGURE_5,
                  config: SimCLRConfig | None = None, probe_images: int = 2000, seed: int = 0,
                  progress: bool = True, loss: Loss = nt_xent, **mine: Augmentation) -> Ablation:
    """Train one SimCLR per pair of ``names`` (and per single one) on ``train_images`` (N, 3, H, W), where they are.

    ``labels``: name -> (train labels (N,), test labels (M,)); each gets a linear probe on frozen h, fitted
    on the first ``probe_images`` training images and scored on ``test_images``. ``loss``: your ``nt_xent``;
    ``mine``: your ``drop``, ``sobel``.
    """
    config = config or SimCLRConfig()
    k, start = len(names), time.perf_counter()
    probe = {label: torch.full((k, k), float("nan")) for label in labels}
    cells = list(itertools.combinations_with_replacement(range(k), 2))
    for n, (i, j) in enumerate(cells):
        seed_everything(seed)
        model, _ = train_simclr(train_images, config, augment=pair_policy(names[i], names[j], config, **mine),
                                loss=loss, desc=f"{n + 1}/{len(cells)}: {names[i]} + {names[j]}", progress=progress)
        a, b = features(model, train_images[:probe_images]).cpu(), features(model, test_images).cpu()
        for label, (train_labels, test_labels) in labels.items():
            accuracy = metrics.linear_probe_accuracy(a, train_labels[:probe_images].cpu(), b, test_labels.cpu())
            probe[label][i, j] = probe[label][j, i] = accuracy
    return Ablation(tuple(names), probe, time.perf_counter() - start)
