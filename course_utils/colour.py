"""Colour augmentations of SimCLR's study (notebook 05): colour drop and colour jitter, batched, per image.

SimCLR's strongest finding about augmentations (Chen et al., 2020, Section 3) is that cropping alone
lets the encoder cheat: two crops of one image share their colour histogram, so matching histograms
solves the task. Distorting colour, differently in each view, takes that shortcut away.

Two operators, each on a batch x (B, 3, H, W) of RGB floats in [0, 1], with its own random draw per image
(the rest of the augmentations, and the policies that chain them, are in ``course_utils.augment``):

- colour drop (Figure 4d): the image turned grey, grey = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 luma);
- colour jitter (Figure 4e): brightness, contrast and saturation, each a blend f x + (1 - f) other with a random
  factor f around 1, as torchvision's ``ColorJitter``, and a hue shift, a rotation of the colour plane around the
  grey axis (in YIQ space, rather than torchvision's HSV).

Random numbers are drawn with the optional ``torch.Generator`` on its device, then moved to x's device,
so one seed gives the same result on CPU and GPU.
"""
from __future__ import annotations

import math

import torch

# LUMA, ITU-R BT.601: the grey level of (R, G, B) is 0.299 R + 0.587 G + 0.114 B. colour_drop is the answer to
# notebook 05's exercise; both are defined in the answer file.
from .answers.a05_simclr import LUMA, colour_drop  # noqa: F401

# RGB -> YIQ (NTSC): Y is the grey level, (I, Q) the colour. The I and Q rows sum to 0, so grey stays grey.
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def grey(x: torch.Tensor) -> torch.Tensor:
    """The grey level of RGB images, (B, 3, H, W) -> (B, 1, H, W): 0.299 R + 0.587 G + 0.114 B."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"colour operations need RGB images, (B, 3, H, W), not {tuple(x.shape)}.")
    return torch.einsum("c,bchw->bhw", torch.tensor(LUMA, dtype=x.dtype, device=x.device), x).unsqueeze(1)


def adjust_colour(x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor,
                  hue: torch.Tensor) -> torch.Tensor:
    """Change the colours of each image by its own factors, (B,) each, in this order, clamping to [0, 1] after each.

    brightness, contrast, saturation: f x + (1 - f) other, where other is black, the image's mean grey level, and the
    image's own grey version, as torchvision's ``adjust_brightness``, ``adjust_contrast`` and ``adjust_saturation``
    (f = 1: unchanged). hue: a shift in turns, in [-0.5, 0.5], done as a rotation by 2 pi hue of (I, Q) in YIQ space,
    which keeps the grey level; close to, not the same as, torchvision's ``adjust_hue`` (a shift of H in HSV space).
    Returns (B, 3, H, W) in [0, 1].
    """
    B = x.shape[0]
    b, c, s = (f.to(x).view(B, 1, 1, 1) for f in (brightness, contrast, saturation))
    x = (b * x).clamp_(0, 1)  # a new tensor, which the next steps change in place (mul_, add_, clamp_): faster
    mean = grey(x).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    x = x.mul_(c).add_((1 - c) * mean).clamp_(0, 1)  # c x + (1 - c) mean
    grey_level = grey(x)  # (B, 1, H, W), taken before x changes
    x = x.mul_(s).add_((1 - s) * grey_level).clamp_(0, 1)  # s x + (1 - s) grey

    to_yiq = torch.tensor(RGB_TO_YIQ, dtype=torch.float64)
    to_yiq, to_rgb = to_yiq.to(x), torch.linalg.inv(to_yiq).to(x)  # (3, 3) each
    angle = -2 * math.pi * hue.to(x)  # (B,): the sign that turns red towards yellow and green, as HSV does
    rotation = torch.zeros(B, 3, 3, dtype=x.dtype, device=x.device)  # (B, 3, 3): Y kept, (I, Q) rotated
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = angle.cos(), -angle.sin()
    rotation[:, 2, 1], rotation[:, 2, 2] = angle.sin(), angle.cos()
    matrix = to_rgb @ rotation @ to_yiq  # (B, 3, 3): RGB -> YIQ -> rotated -> RGB, one matrix per image
    return torch.einsum("bij,bjhw->bihw", matrix, x).clamp_(0, 1)


def colour_jitter(x: torch.Tensor, generator: torch.Generator | None = None, strength: float = 1.0) -> torch.Tensor:
    """Colour jitter (Figure 4e) of strength s: SimCLR's ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s), factors per image.

    Brightness, contrast and saturation factors uniform in [max(0, 1 - 0.8 s), 1 + 0.8 s] and a hue shift uniform in
    [-0.2 s, 0.2 s] turns (at most half a turn), applied by ``adjust_colour`` in a fixed order: brightness, contrast,
    saturation, hue (torchvision's ColorJitter shuffles the order at each call). Returns (B, 3, H, W) in [0, 1].
    """
    B, jitter, shift = x.shape[0], 0.8 * strength, min(0.2 * strength, 0.5)
    source = generator.device if generator is not None else x.device
    u = torch.rand(4, B, generator=generator, device=source).to(x.device)  # (4, B) uniform in [0, 1)
    low = max(0.0, 1 - jitter)
    brightness, contrast, saturation = low + (1 + jitter - low) * u[:3]  # (B,) each
    hue = shift * (2 * u[3] - 1)  # (B,) in [-shift, shift)
    return adjust_colour(x, brightness, contrast, saturation, hue)
