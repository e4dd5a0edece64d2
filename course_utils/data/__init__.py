"""The course's datasets, all through one function: ``load(name, split)``.

Embedded (offline, no download): digits, photos, the 2-D toys (ring8, grid25,
moons, swissroll, checkerboard) and shapes. Real datasets (mnist, fashion_mnist,
cifar10, stl10) are opt-in through torchvision and need a download first.

    >>> from course_utils import data
    >>> train = data.load("digits", "train")
    >>> train.x.shape, train.y.shape
    (torch.Size([1442, 1, 8, 8]), torch.Size([1442]))
"""
from __future__ import annotations

from typing import Any, Callable

from . import digits, photos, shapes, toy2d
from .base import ArrayDataset
from .real import REAL_DATASETS, DatasetNotAvailable, load_real

#: name -> (what it is, its splits, how to load it)
EMBEDDED: dict[str, tuple[str, tuple[str, ...], Callable[..., ArrayDataset]]] = {
    "digits": ("8x8 handwritten digits, 1,797 images, 10 classes", digits.SPLITS, digits.load),
    "photos": ("2 colour photographs, 427x640", photos.SPLITS, photos.load),
    **{name: (f"2-D toy distribution: {name}", toy2d.SPLITS,
              lambda split="train", _name=name, **kw: toy2d.load(_name, split, **kw))
       for name in toy2d.NAMES},
    "shapes": ("32x32 coloured shapes with captions and attributes", shapes.SPLITS, shapes.load),
}


def available() -> dict[str, str]:
    """Every dataset name ``load`` knows, with a one-line description."""
    names = {name: f"{desc} (splits: {', '.join(splits)})" for name, (desc, splits, _) in EMBEDDED.items()}
    names.update({name: f"{spec.title} via torchvision, download needed (opt-in)"
                  for name, spec in REAL_DATASETS.items()})
    return names


def load(name: str, split: str | None = None, **options: Any) -> ArrayDataset:
    """Load dataset ``name``: its default split is the first one listed by ``available()``.

    ``options`` go to the dataset's own loader (e.g. ``n`` and ``seed`` for the
    2-D toys and shapes, ``download`` and ``root`` for real datasets).
    """
    key = name.lower().replace("-", "_")
    if key in EMBEDDED:
        _, splits, loader = EMBEDDED[key]
        return loader(split or splits[0], **options)
    if key in REAL_DATASETS:
        return load_real(key, split or "train", **options)
    listing = "\n".join(f"  {n}: {d}" for n, d in available().items())
    raise ValueError(f"Unknown dataset {name!r}. Available datasets:\n{listing}")


__all__ = ["ArrayDataset", "DatasetNotAvailable", "available", "load", "digits", "photos", "shapes", "toy2d"]
