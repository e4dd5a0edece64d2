"""scikit-learn's bundled handwritten digits: 1,797 grey images of 8x8 pixels.

Pixels are scaled from 0..16 to [0, 1]. The split is fixed and needs no random
numbers: within each class, every fifth image (in file order) is a test image,
so both splits are balanced across the ten digits (1,442 train, 355 test).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from .base import ArrayDataset, check_split

SPLITS = ("train", "test", "all")
CLASSES = [str(d) for d in range(10)]


def test_mask(labels: np.ndarray) -> np.ndarray:
    """True for every fifth image of each class, in file order."""
    rank_in_class = np.zeros(len(labels), dtype=int)
    for digit in range(10):
        where = np.flatnonzero(labels == digit)
        rank_in_class[where] = np.arange(len(where))
    return rank_in_class % 5 == 4


def load(split: str = "train") -> ArrayDataset:
    """Digits as x: (N, 1, 8, 8) float32 in [0, 1] and y: (N,) int64 digit labels."""
    check_split("digits", split, SPLITS)
    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # (1797, 1, 8, 8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    if split != "all":
        keep = test_mask(bunch.target)
        keep = keep if split == "test" else ~keep
        images, labels = images[torch.from_numpy(keep)], labels[torch.from_numpy(keep)]
    return ArrayDataset(images, labels, CLASSES, "digits", split)
