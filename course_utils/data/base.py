"""The one dataset type every loader returns: tensors in memory, with names.

Every embedded dataset is small enough to live in memory as one tensor, so a
dataset is just ``x`` (the inputs), ``y`` (integer labels, or None) and a few
names. ``ds[i]`` returns ``(x[i], y[i])`` like any torch Dataset, so it plugs
into a DataLoader; ``ds.x`` and ``ds.y`` give the whole thing at once, which is
what most notebook cells want.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


@dataclass
class ArrayDataset(Dataset):
    """An in-memory dataset.

    Attributes:
        x: inputs, float32, shape (N, ...): images are (N, C, H, W) in [0, 1],
            points are (N, 2).
        y: labels, int64, shape (N,), or None when the data has no labels.
        classes: the name of each label value (``classes[y[i]]``); empty if unlabelled.
        name: the name ``load`` knows the dataset by.
        split: which split this is ("train", "test", ...).
        info: anything else the dataset carries (captions, attributes, mode centres).
    """

    x: torch.Tensor
    y: torch.Tensor | None
    classes: list[str]
    name: str
    split: str
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i):
        if self.y is None:
            return self.x[i]
        return self.x[i], self.y[i]

    def __repr__(self) -> str:
        labels = f", {len(self.classes)} classes" if self.classes else ""
        extra = f", info: {sorted(self.info)}" if self.info else ""
        return (f"ArrayDataset({self.name!r}, split={self.split!r}, "
                f"x: {tuple(self.x.shape)} {str(self.x.dtype).replace('torch.', '')}{labels}{extra})")

    def to(self, device: torch.device | str) -> "ArrayDataset":
        """A copy whose tensors (x, y and tensors in info) live on ``device``."""
        info = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.info.items()}
        y = None if self.y is None else self.y.to(device)
        return ArrayDataset(self.x.to(device), y, self.classes, self.name, self.split, info)

    def loader(self, batch_size: int = 128, shuffle: bool = True, seed: int = 0,
               drop_last: bool = False) -> DataLoader:
        """A DataLoader over this dataset, shuffled reproducibly from ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(self, batch_size=batch_size, shuffle=shuffle,
                          drop_last=drop_last, generator=generator)


def check_split(name: str, split: str, splits: tuple[str, ...]) -> None:
    """Raise a ValueError naming the valid splits when ``split`` is not one of them."""
    if split not in splits:
        raise ValueError(f"The {name!r} dataset has no split {split!r}; "
                         f"choose one of {', '.join(repr(s) for s in splits)}.")
