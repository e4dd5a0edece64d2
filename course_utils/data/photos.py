"""scikit-learn's bundled sample photographs (a Chinese temple and a flower).

Two colour photographs of 427x640 pixels, for augmentation galleries: they are
real photos, so crops, colour jitter and blur look the way they do in the
SimCLR paper's figures.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_sample_images

from .base import ArrayDataset, check_split

SPLITS = ("all",)


def load(split: str = "all") -> ArrayDataset:
    """Photos as x: (2, 3, 427, 640) float32 in [0, 1]; no labels; file names in info."""
    check_split("photos", split, SPLITS)
    bunch = load_sample_images()
    images = np.stack(bunch.images).astype(np.float32) / 255.0  # (2, 427, 640, 3)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # (2, 3, 427, 640)
    names = [path.rsplit("/", 1)[-1] for path in bunch.filenames]
    return ArrayDataset(x, None, [], "photos", split, {"filenames": names})
