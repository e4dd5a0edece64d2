"""The augmentations of SimCLR's study (notebook 05), on a whole batch, each image with its own random parameters.

SimCLR (Chen et al., 2020) makes two random views t(x) and t'(x) of every image and trains the encoder
to tell which views come from the same image (NT-Xent). The augmentations decide what the encoder must
ignore, so they decide what it learns. Figure 4 of the paper shows the operators studied next to (a), the
original image; their names in ``AUGMENTATIONS`` (the colour ones live in ``course_utils.colour``):

    crop (b) crop and resize          crop_flip (c) crop, resize and flip    colour_drop (d) to grey
    colour_jitter (e) colour jitter   rotate (f) by 90, 180 or 270 degrees   cutout (g) a square blanked
    noise (h) Gaussian noise          blur (i) Gaussian blur                 sobel (j) Sobel filtering

Torchvision's transforms draw one set of parameters per call: given a batch, they give every image the same
crop, so a Dataset applies them image by image, in a Python loop. Here every operator takes a batch x (B, C, H, W)
of floats in [0, 1] and draws (B,) parameters at once, one per image, with no Python loop over the images:

- geometry is one affine matrix per image, theta (B, 2, 3); F.affine_grid + F.grid_sample resample all images at once;
- a filter that differs per image (blur) is a grouped convolution: (B, C, H, W) -> (1, B*C, H, W), groups = B*C;
- "apply with probability p" is a coin per image, a (B, 1, 1, 1) mask, and torch.where between the two results.

Every operator takes an optional ``torch.Generator``: random numbers are drawn on the generator's device,
then moved to x's, so one seed gives the same augmentations on CPU and GPU (without a generator they come
from torch's global generator on x's device). Outputs keep x's shape (crops may take another ``size``),
dtype and device, and stay in [0, 1]. ``policy`` chains operators into a pipeline; ``simclr_policy`` is
the one the paper settled on: crop and flip, colour jitter (p = 0.8), colour drop (p = 0.2), blur (p = 0.5).
``colour_drop`` and ``sobel`` are exercises of notebook 05: pass yours to ``policy`` and ``simclr_policy``.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from functools import partial, wraps
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .answers.a05_simclr import sobel  # noqa: F401  (the answer to notebook 05's exercise)
from .colour import LUMA, adjust_colour, colour_drop, colour_jitter  # noqa: F401 (adjust_colour: re-exported)

Augmentation = Callable[..., torch.Tensor]  # op(x (B, C, H, W), generator=None) -> (B, C, H', W')
Range = float | tuple[float, float]  # a fixed value, or (low, high) to draw one per image uniformly

# ---------------------------------------------------------------- random numbers, one per image


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform numbers in [0, 1), float32, drawn on the generator's device (else ``device``), moved to ``device``."""
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source).to(device)


def _uniform(n: int, value: Range, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """(n,) numbers uniform in [low, high) when ``value`` is (low, high), else ``value`` n times."""
    low, high = (value, value) if isinstance(value, (int, float)) else value
    return low + (high - low) * _rand((n,), generator, device)


def _coin(n: int, p: float, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """(n, 1, 1, 1) booleans, each True with probability p: which images an operation applies to."""
    return (_rand((n,), generator, device) < p).view(n, 1, 1, 1)


# ---------------------------------------------------------------- geometry: one affine matrix per image


def _resample(x: torch.Tensor, theta: torch.Tensor, size: int | tuple[int, int] | None = None,
              mode: str = "bilinear", padding_mode: str = "border") -> torch.Tensor:
    """Sample every image at its own affine map of the output grid: (B, C, H, W) -> (B, C, h, w).

    theta (B, 2, 3) maps output coordinates (u, v, 1) to input coordinates, both in [-1, 1] across the image
    (align_corners=False: -1 and 1 are the outer edges of the border pixels, so theta = [I | 0] is the identity).
    """
    B, C, H, W = x.shape
    h, w = (H, W) if size is None else (size, size) if isinstance(size, int) else size
    grid = F.affine_grid(theta.to(x.dtype), [B, C, h, w], align_corners=False)  # (B, h, w, 2): where to sample
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)


def _crop_boxes(x: torch.Tensor, generator: torch.Generator | None, scale: tuple[float, float],
                ratio: tuple[float, float], tries: int = 10) -> torch.Tensor:
    """RandomResizedCrop's boxes, one per image, as affine matrices theta (B, 2, 3) for ``_resample``.

    As torchvision does: draw an area fraction s ~ U(scale) and an aspect ratio r = w / h log-uniform in ``ratio``,
    so the box is w = sqrt(s r H W) by h = sqrt(s H W / r) pixels; keep the first of ``tries`` draws that fits in the
    image, and place it uniformly. Unlike torchvision, the box is not rounded to whole pixels, and when no draw
    fits (rare: about 1e-10 for square images) the box is the whole image rather than a central crop.
    """
    B, _, H, W = x.shape
    area = _uniform(B * tries, scale, generator, x.device).view(B, tries)
    log_r = _uniform(B * tries, (math.log(ratio[0]), math.log(ratio[1])), generator, x.device).view(B, tries)
    r = log_r.exp()  # (B, tries): aspect ratios
    box = torch.stack([torch.sqrt(area * r * H / W), torch.sqrt(area / r * W / H)], dim=2)  # (B, tries, 2)
    fits = (box <= 1).all(dim=2)  # (B, tries): box width and height as fractions of the image's, at most 1
    first = fits.int().argmax(dim=1)  # (B,): the first draw that fits
    box = box[torch.arange(B, device=x.device), first]  # (B, 2): (w, h)
    box = torch.where(fits.any(dim=1, keepdim=True), box, 1.0)  # the whole image when no draw fits
    # In [-1, 1] coordinates the image is 2 wide, so the box's half-size is (w, h): its centre lies within 1 - w of 0
    centre = (2 * _rand((B, 2), generator, x.device) - 1) * (1 - box)  # (B, 2)
    theta = torch.zeros(B, 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = box[:, 0], box[:, 1], centre  # input = box * output + centre
    return theta


def crop_resize(x: torch.Tensor, generator: torch.Generator | None = None, scale: tuple[float, float] = (0.08, 1.0),
                ratio: tuple[float, float] = (3 / 4, 4 / 3), size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """Crop and resize (Figure 4b): a random box per image, resized (bilinear, no antialiasing) to ``size``.

    Args:
        x: (B, C, H, W) images in [0, 1]. scale: the range of the box's area, as a fraction of the image's.
        ratio: the range of the box's aspect ratio, width / height. size: the output's (h, w), or h = w (default H, W).
    Returns:
        (B, C, h, w) crops in [0, 1].
    """
    return _resample(x, _crop_boxes(x, generator, scale, ratio), size).clamp_(0, 1)  # in place: a new tensor


def crop_flip(x: torch.Tensor, generator: torch.Generator | None = None, scale: tuple[float, float] = (0.08, 1.0),
              ratio: tuple[float, float] = (3 / 4, 4 / 3), size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """Crop, resize and flip (Figure 4c): ``crop_resize``, then half the images mirrored left to right; (B, C, h, w)."""
    theta = _crop_boxes(x, generator, scale, ratio)  # (B, 2, 3)
    flip = _rand((x.shape[0],), generator, x.device) < 0.5  # (B,)
    theta[:, 0, 0] = torch.where(flip, -theta[:, 0, 0], theta[:, 0, 0])  # u -> -u: the output's columns reversed
    return _resample(x, theta, size).clamp_(0, 1)


def rotate(x: torch.Tensor, generator: torch.Generator | None = None,
           k: int | torch.Tensor | None = None) -> torch.Tensor:
    """Rotation (Figure 4f) by k quarter turns per image, k in {1, 2, 3} at random, or the given int or (B,) tensor.

    The same turn as ``torch.rot90(x, k, dims=(2, 3))`` (counterclockwise on screen), through one rotation matrix
    per image and nearest-neighbour sampling, which lands on pixel centres: square images rotate exactly. When
    H != W the rotated image is cut to (H, W) and the uncovered corners are 0, as in torchvision's ``rotate``.
    """
    B, C, H, W = x.shape
    if k is None:
        source = generator.device if generator is not None else x.device
        k = torch.randint(1, 4, (B,), generator=generator, device=source)  # (B,): 90, 180 or 270 degrees
    k = torch.as_tensor(k, device=x.device).expand(B) % 4
    cos = torch.tensor([1.0, 0.0, -1.0, 0.0], device=x.device)[k]  # exact values, so samples hit pixel centres
    sin = torch.tensor([0.0, 1.0, 0.0, -1.0], device=x.device)[k]
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin * H / W, zero], 1),  # (B, 2, 3): rotation in pixel units, written
                         torch.stack([sin * W / H, cos, zero], 1)], 1)  # in [-1, 1] coordinates (hence H / W)
    return _resample(x, theta, mode="nearest", padding_mode="zeros")


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, size: Range = (0.25, 0.5),
           fill: float | str = 0.0) -> torch.Tensor:
    """Cutout (Figure 4g): one random square per image set to ``fill``, a value or "mean" (the image's mean colour).

    The square's side is ``size`` times the image's shorter side, rounded to whole pixels; it lies inside the image.
    """
    B, C, H, W = x.shape
    side = (_uniform(B, size, generator, x.device) * min(H, W)).round()  # (B,) pixels
    top = (_rand((B,), generator, x.device) * (H - side + 1)).floor().view(B, 1, 1, 1)
    left = (_rand((B,), generator, x.device) * (W - side + 1)).floor().view(B, 1, 1, 1)
    side = side.view(B, 1, 1, 1)
    rows = torch.arange(H, device=x.device).view(1, 1, H, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, 1, W)
    inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)  # (B, 1, H, W)
    value = x.mean(dim=(2, 3), keepdim=True) if fill == "mean" else torch.tensor(fill, dtype=x.dtype, device=x.device)
    return torch.where(inside, value, x)


# ---------------------------------------------------------------- appearance: noise and filters (colour: .colour)


def noise(x: torch.Tensor, generator: torch.Generator | None = None, std: Range = (0.05, 0.2)) -> torch.Tensor:
    """Gaussian noise (Figure 4h): x + std eps, eps ~ N(0, I), one std per image uniform in ``std``, clamped."""
    source = generator.device if generator is not None else x.device
    sigma = _uniform(x.shape[0], std, generator, x.device).to(x.dtype).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
    eps = torch.randn(x.shape, generator=generator, device=source).to(x)  # (B, C, H, W)
    return torch.addcmul(x, sigma, eps).clamp_(0, 1)  # x + sigma eps


def blur(x: torch.Tensor, generator: torch.Generator | None = None, sigma: Range = (0.1, 2.0),
         kernel_size: int | None = None) -> torch.Tensor:
    """Gaussian blur (Figure 4i), one sigma per image uniform in ``sigma`` (SimCLR: [0.1, 2.0]).

    The kernel is about 10% of the image's side, odd, at least 3 (SimCLR: 23 for 224 pixels, 3 for 32); borders are
    reflected, as in torchvision's ``gaussian_blur``. The 2-D Gaussian is separable: a row filter, then a column filter,
    each a grouped convolution with one kernel per image and channel. Returns (B, C, H, W).
    """
    B, C, H, W = x.shape
    k = kernel_size or 2 * max(1, min(H, W) // 20) + 1
    s = _uniform(B, sigma, generator, x.device).to(x.dtype)  # (B,)
    offsets = torch.arange(k, dtype=x.dtype, device=x.device) - (k - 1) / 2  # (k,) pixels from the centre
    kernel = torch.exp(-0.5 * (offsets / s[:, None]) ** 2)  # (B, k)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(C, dim=0)  # (B*C, k), normalised
    y = F.pad(x.reshape(1, B * C, H, W), [k // 2] * 4, mode="reflect")  # (1, B*C, H + k - 1, W + k - 1)
    y = F.conv2d(y, kernel.view(B * C, 1, 1, k), groups=B * C)  # along each row: (1, B*C, H + k - 1, W)
    y = F.conv2d(y, kernel.view(B * C, 1, k, 1), groups=B * C)  # along each column: (1, B*C, H, W)
    return y.view(B, C, H, W).clamp_(0, 1)


# ---------------------------------------------------------------- policies: operators chained, each with a probability


def as_augmentation(fn: Callable[..., torch.Tensor]) -> Augmentation:
    """``fn`` if it takes a ``generator`` argument, else ``fn`` wrapped to accept (and ignore) one, as ``sobel``."""
    if "generator" in inspect.signature(fn).parameters:
        return fn
    return wraps(fn)(lambda x, generator=None: fn(x))


AUGMENTATIONS: dict[str, Augmentation] = {
    "crop": crop_resize, "crop_flip": crop_flip, "colour_drop": colour_drop, "colour_jitter": colour_jitter,
    "rotate": rotate, "cutout": cutout, "noise": noise, "blur": blur, "sobel": as_augmentation(sobel),
}


def maybe(op: Augmentation, x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """op(x) for the images chosen with probability p each, x for the others; (B, C, H, W).

    The operation runs on the whole batch and torch.where keeps its result where the coin says so, which costs
    the work on the unchosen images but no Python loop. With p < 1, op must keep the images' shape.
    """
    if p <= 0:
        return x
    out = op(x, generator=generator)
    return out if p >= 1 else torch.where(_coin(x.shape[0], p, generator, x.device), out, x)


@dataclass(frozen=True)
class Policy:
    """Augmentations applied in turn, the i-th to each image with probability ``p[i]``: policy(x, generator) -> x."""
    ops: tuple[Augmentation, ...]
    p: tuple[float, ...]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for op, p in zip(self.ops, self.p):
            x = maybe(op, x, p, generator)
        return x

    def __repr__(self) -> str:
        names = [getattr(op, "func", op).__name__ for op in self.ops]  # of a functools.partial: its function's
        return "policy(" + ", ".join(f"{name} p={p:g}" for name, p in zip(names, self.p)) + ")"


def policy(*ops: str | Callable[..., torch.Tensor], p: float | Sequence[float] = 1.0) -> Policy:
    """A pipeline of augmentations, given by name (``AUGMENTATIONS``) or as functions, such as your own.

    ``p`` is one probability for all of them or one each. Example: ``policy("crop", "colour_jitter", p=(1, 0.8))``.
    """
    unknown = [op for op in ops if isinstance(op, str) and op not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"policy: unknown augmentation {unknown[0]!r}; the names are {', '.join(AUGMENTATIONS)}.")
    fns = tuple(as_augmentation(AUGMENTATIONS[op] if isinstance(op, str) else op) for op in ops)
    probabilities = (float(p),) * len(fns) if isinstance(p, (int, float)) else tuple(map(float, p))
    if len(probabilities) != len(fns):
        raise ValueError(f"policy: {len(fns)} operations but {len(probabilities)} probabilities.")
    return Policy(fns, probabilities)


def simclr_policy(size: int | tuple[int, int] | None = None, strength: float = 1.0,
                  drop: Augmentation = colour_drop) -> Policy:
    """SimCLR's augmentation (Appendix A): crop, resize (to ``size``) and flip; colour jitter of ``strength`` with
    p = 0.8; colour drop with p = 0.2; Gaussian blur with p = 0.5 (used on ImageNet; the paper leaves it out on CIFAR).

    ``drop`` may be your own ``colour_drop``.
    """
    return policy(partial(crop_flip, size=size), partial(colour_jitter, strength=strength), drop, blur,
                  p=(1.0, 0.8, 0.2, 0.5))
