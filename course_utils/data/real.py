"""Real datasets (MNIST, Fashion-MNIST, CIFAR-10, STL-10), opt-in through torchvision.

The course runs offline on small embedded datasets, so nothing here is needed
to do the notebooks. These loaders are for those with a network connection (to
download once) and a GPU (to train on tens of thousands of images). They read
torchvision's files from ``root`` (default: ``course_utils.config.data_dir()``,
i.e. ``COURSE_DATA`` or ``~/.cache/course-kit/data``) and return the whole split
in memory as an ``ArrayDataset``, like every other dataset of the course.

When the files are not there, or the download fails, ``load_real`` raises
``DatasetNotAvailable``: one short message that names the dataset, the folder
it looked in, how to get the data, and the embedded dataset to use instead.
"""
from __future__ import annotations

import http.client
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .base import ArrayDataset, check_split


class DatasetNotAvailable(RuntimeError):
    """A real dataset is not on this machine (or could not be downloaded)."""


@dataclass(frozen=True)
class RealSpec:
    """What ``load_real`` needs to know about one real dataset."""

    title: str                 # how people write its name: "Fashion-MNIST"
    torchvision_class: str     # its class in torchvision.datasets (imported on use)
    folder: str                # the sub-folder of root that torchvision reads
    files: tuple[str, ...]     # files in that folder torchvision needs (any split)
    splits: tuple[str, ...]
    shape: tuple[int, int, int]  # (C, H, W) of one image
    alternative: str           # the embedded dataset to use offline
    classes: tuple[str, ...]


_IDX = ("raw/train-images-idx3-ubyte", "raw/train-labels-idx1-ubyte",
        "raw/t10k-images-idx3-ubyte", "raw/t10k-labels-idx1-ubyte")

REAL_DATASETS: dict[str, RealSpec] = {
    "mnist": RealSpec(
        "MNIST", "MNIST", "MNIST", _IDX, ("train", "test"), (1, 28, 28), "digits",
        tuple(str(d) for d in range(10))),
    "fashion_mnist": RealSpec(
        "Fashion-MNIST", "FashionMNIST", "FashionMNIST", _IDX, ("train", "test"), (1, 28, 28), "digits",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "cifar10": RealSpec(
        "CIFAR-10", "CIFAR10", "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        ("train", "test"), (3, 32, 32), "shapes",
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
    "stl10": RealSpec(
        # torchvision checks every .bin file whatever the split; unlabeled_X.bin alone is 2.6 GB.
        "STL-10", "STL10", "stl10_binary",
        ("train_X.bin", "train_y.bin", "unlabeled_X.bin", "test_X.bin", "test_y.bin"),
        ("train", "test", "unlabeled"), (3, 96, 96), "shapes",
        ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")),
}

# What a failed download or an unreadable file raises inside torchvision: its own
# RuntimeErrors ("Dataset not found or corrupted", "Error downloading ..."),
# URLError, socket and SSL errors (all OSError), a cut connection, a bad archive.
_LOAD_ERRORS = (RuntimeError, OSError, EOFError, http.client.HTTPException, tarfile.TarError)


def _advice(name: str, spec: RealSpec) -> str:
    return (f"To use it, run load({name!r}, download=True) on a machine with a network connection, "
            f"or set COURSE_DATA (or pass root=) to a folder that holds it. "
            f"Offline, use the embedded {spec.alternative!r} dataset instead.")


def _missing(name: str, spec: RealSpec, root: Path) -> DatasetNotAvailable | None:
    """The error to raise when a file torchvision needs is absent, else None."""
    missing = [f for f in spec.files if not (root / spec.folder / f).is_file()]
    if not missing:
        return None
    more = f" and {len(missing) - 1} more file{'s' * (len(missing) > 2)}" if len(missing) > 1 else ""
    return DatasetNotAvailable(
        f"{spec.title} is not on this machine: looked in {root / spec.folder} "
        f"(expected {spec.folder}/{missing[0]}{more}). " + _advice(name, spec))


def _open(spec: RealSpec, root: Path, split: str, download: bool):
    """The torchvision dataset object for ``split`` (imports torchvision on first use)."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, spec.torchvision_class)
    if spec.torchvision_class == "STL10":
        return cls(str(root), split=split, download=download)
    return cls(str(root), train=(split == "train"), download=download)


def _to_tensors(spec: RealSpec, ds, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """torchvision's in-memory uint8 arrays -> x float32 (N, C, H, W) in [0, 1], y int64 (N,)."""
    if spec.torchvision_class in ("MNIST", "FashionMNIST"):
        pixels = ds.data.unsqueeze(1)                                  # uint8 tensor (N, 28, 28)
        labels = ds.targets
    elif spec.torchvision_class == "CIFAR10":
        pixels = torch.from_numpy(ds.data).permute(0, 3, 1, 2)        # uint8 array (N, 32, 32, 3)
        labels = torch.as_tensor(ds.targets)
    else:
        pixels = torch.from_numpy(np.ascontiguousarray(ds.data))     # uint8 array (N, 3, 96, 96)
        labels = None if split == "unlabeled" else torch.from_numpy(ds.labels.astype(np.int64))
    x = pixels.contiguous().to(torch.float32).div_(255)
    return x, None if labels is None else labels.to(torch.int64)


def load_real(name: str, split: str = "train", root: str | Path | None = None,
              download: bool = False) -> ArrayDataset:
    """Load a whole split of a real dataset into memory.

    Args:
        name: "mnist", "fashion_mnist", "cifar10" or "stl10".
        split: "train" or "test"; STL-10 also has "unlabeled" (100,000 images,
            about 11 GB as float32).
        root: the folder holding the data (created by torchvision when downloading);
            default ``course_utils.config.data_dir()``.
        download: fetch the files first if they are not there (needs a network).

    Returns:
        An ``ArrayDataset`` with x float32 (N, C, H, W) in [0, 1] -- MNIST and
        Fashion-MNIST (N, 1, 28, 28), CIFAR-10 (N, 3, 32, 32), STL-10 (N, 3, 96, 96) --
        y int64 (N,) (None for STL-10 "unlabeled"), and the class names.

    Raises:
        ValueError: unknown name or split.
        DatasetNotAvailable: the files are missing or unreadable, or the download failed.
    """
    key = name.lower().replace("-", "_")
    if key not in REAL_DATASETS:
        raise ValueError(f"Unknown real dataset {name!r}; choose one of "
                         f"{', '.join(repr(n) for n in REAL_DATASETS)}.")
    spec = REAL_DATASETS[key]
    check_split(key, split, spec.splits)
    if root is None:
        from ..config import data_dir
        root = data_dir()
    root = Path(root).expanduser()

    if not download and (error := _missing(key, spec, root)) is not None:
        raise error
    try:
        ds = _open(spec, root, split, download)
    except _LOAD_ERRORS as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[-1][:200]
        if download:
            message = (f"Downloading {spec.title} into {root} failed ({reason}). Check the network "
                       f"connection, or copy the files into {root / spec.folder} by hand.")
        else:
            message = (f"{spec.title} in {root / spec.folder} could not be read ({reason}). "
                       f"Delete that folder and run load({key!r}, download=True) again.")
        raise DatasetNotAvailable(
            f"{message} Offline, use the embedded {spec.alternative!r} dataset instead.") from None

    x, y = _to_tensors(spec, ds, split)
    classes = [] if y is None else list(spec.classes)
    return ArrayDataset(x, y, classes, key, split)


__all__ = ["DatasetNotAvailable", "REAL_DATASETS", "RealSpec", "load_real"]
