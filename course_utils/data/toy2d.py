"""Two-dimensional toy distributions, where every sample of a model can be seen.

- ``ring8``: 8 Gaussians on a circle of radius 2, std 0.02 (the GAN mode-collapse benchmark).
- ``grid25``: 25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05 (PacGAN's benchmark).
- ``moons``: scikit-learn's two moons, noise 0.05.
- ``swissroll``: a 2-D swiss roll, scaled to about [-2.5, 2.5].
- ``checkerboard``: uniform on the dark squares of a 4x4 board on [-4, 4]^2.

The mixtures expose their exact mode centres and std (``mode_centres``,
``mode_std``) for the coverage metric in ``course_utils.metrics``. ``sample``
draws fresh points on any device with a torch.Generator; ``load`` gives fixed
train and test sets.
"""
from __future__ import annotations

import math

import torch

from .base import ArrayDataset, check_split

NAMES = ("ring8", "grid25", "moons", "swissroll", "checkerboard")
SPLITS = ("train", "test")
SIZES = {"train": 10_000, "test": 2_500}
_MIXTURE_STD = {"ring8": 0.02, "grid25": 0.05}


def mode_centres(name: str) -> torch.Tensor | None:
    """The exact mode centres of a mixture, (K, 2); None for the other distributions."""
    if name == "ring8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)  # endpoint excluded
        return torch.stack([2 * angles.cos(), 2 * angles.sin()], dim=1).float()  # (8, 2)
    if name == "grid25":
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        return torch.cartesian_prod(axis, axis)  # (25, 2)
    _check_name(name)
    return None


def mode_std(name: str) -> float | None:
    """The standard deviation of each mode of a mixture; None for the others."""
    _check_name(name)
    return _MIXTURE_STD.get(name)


def sample(name: str, n: int, generator: torch.Generator | None = None,
           device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw ``n`` points: (n, 2) float32, and the mode index of each point for mixtures (else None)."""
    _check_name(name)
    g = generator if generator is not None else torch.Generator().manual_seed(0)

    def rand(*shape):  # drawn on the CPU so results do not depend on the device
        return torch.rand(*shape, generator=g)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    labels = None
    if name in _MIXTURE_STD:
        centres = mode_centres(name)
        labels = torch.randint(len(centres), (n,), generator=g)
        points = centres[labels] + _MIXTURE_STD[name] * randn(n, 2)
    elif name == "moons":  # the formula of sklearn.datasets.make_moons
        t = math.pi * rand(n)
        upper = rand(n) < 0.5
        x = torch.where(upper, t.cos(), 1 - t.cos())
        y = torch.where(upper, t.sin(), 0.5 - t.sin())
        points = torch.stack([x, y], dim=1) + 0.05 * randn(n, 2)
    elif name == "swissroll":
        t = 1.5 * math.pi * (1 + 2 * rand(n))
        points = torch.stack([t * t.cos(), t * t.sin()], dim=1) / 5 + 0.1 * randn(n, 2)
    else:  # checkerboard, as in the FFJORD paper
        x = 4 * rand(n) - 2
        y = rand(n) - 2 * torch.randint(2, (n,), generator=g) + torch.floor(x) % 2
        points = 2 * torch.stack([x, y], dim=1)
    return points.float().to(device), None if labels is None else labels.to(device)


def load(name: str, split: str = "train", n: int | None = None, seed: int = 0) -> ArrayDataset:
    """A fixed sample: 10,000 train or 2,500 test points (train and test use different seeds)."""
    check_split(name, split, SPLITS)
    n = SIZES[split] if n is None else n
    generator = torch.Generator().manual_seed(2 * seed + SPLITS.index(split))
    points, labels = sample(name, n, generator)
    centres = mode_centres(name)
    classes = [f"mode {k}" for k in range(len(centres))] if centres is not None else []
    info = {} if centres is None else {"centres": centres, "std": mode_std(name)}
    return ArrayDataset(points, labels, classes, name, split, info)


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"Unknown 2-D distribution {name!r}; choose one of {', '.join(NAMES)}.")
