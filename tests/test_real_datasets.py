"""The opt-in real datasets, tested offline on tiny files written in their real formats.

Each test writes a few random images to a tmp folder exactly as the official
archives store them (IDX for MNIST, pickled batches for CIFAR-10, column-major
binary for STL-10), loads them through ``load_real`` and torchvision, and checks
that every pixel and label comes back. The md5 checks of CIFAR-10 and STL-10 are
switched off here only, since our files are not the real ones. No test touches
the network: an autouse fixture makes every socket connection fail.
"""
from __future__ import annotations

import os
import pickle
import socket
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from course_utils.data.real import REAL_DATASETS, DatasetNotAvailable, load_real

torchvision = pytest.importorskip("torchvision")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any attempt to open a connection, so a bug cannot reach the internet."""
    def refuse(*args, **kwargs):
        raise OSError("tests must not use the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def no_md5(monkeypatch):
    """Accept any file that exists in place of the md5 checks of CIFAR-10 and STL-10."""
    exists = lambda fpath, md5=None: os.path.isfile(fpath)  # noqa: E731
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", exists)
    monkeypatch.setattr(torchvision.datasets.stl10, "check_integrity", exists)


def random_images(n: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


def check_round_trip(ds, images: np.ndarray, labels: np.ndarray | None, shape: tuple[int, ...]) -> None:
    """x is float32 (N, C, H, W) in [0, 1] holding exactly ``images`` / 255; y is ``labels``."""
    assert ds.x.dtype == torch.float32 and tuple(ds.x.shape) == (len(images), *shape)
    assert ds.x.is_contiguous()
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert torch.equal(ds.x * 255, torch.from_numpy(images).reshape(ds.x.shape).float())  # exact
    if labels is None:
        assert ds.y is None
    else:
        assert ds.y.dtype == torch.int64
        assert ds.y.tolist() == labels.tolist()


# -- MNIST and Fashion-MNIST: uncompressed IDX files in ROOT/<class name>/raw/ -------------

def write_idx(raw, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    n, h, w = images.shape
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_formats_round_trip(tmp_path, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    splits = {"train": random_images(10, (28, 28), seed=1), "test": random_images(7, (28, 28), seed=2)}
    write_idx(raw, "train", *splits["train"])
    write_idx(raw, "t10k", *splits["test"])
    for split, (images, labels) in splits.items():
        ds = load_real(name, split, root=tmp_path)
        check_round_trip(ds, images, labels, (1, 28, 28))
        assert (ds.name, ds.split) == (name, split)
        assert ds.classes == list(REAL_DATASETS[name].classes) and len(ds.classes) == 10


# -- CIFAR-10: pickled dicts in ROOT/cifar-10-batches-py/ ---------------------------------

def test_cifar10_round_trip(tmp_path, no_md5):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {f"data_batch_{i}": random_images(3, (3, 32, 32), seed=i) for i in range(1, 6)}
    batches["test_batch"] = random_images(4, (3, 32, 32), seed=9)
    for file, (images, labels) in batches.items():
        # The real batches were pickled by Python 2, so their keys load as str (not bytes).
        # "data" rows are 1024 red, then 1024 green, then 1024 blue bytes, each row-major 32x32.
        entry = {"data": images.reshape(len(images), 3072), "labels": labels.tolist()}
        (folder / file).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"label_names": list(REAL_DATASETS["cifar10"].classes)}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))

    train = load_real("cifar10", "train", root=tmp_path)
    images = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = np.concatenate([batches[f"data_batch_{i}"][1] for i in range(1, 6)])
    check_round_trip(train, images, labels, (3, 32, 32))
    red = batches["data_batch_1"][0].reshape(3, 3072)[0, :1024]       # channel order: R first
    assert torch.equal(train.x[0, 0].flatten() * 255, torch.from_numpy(red).float())
    check_round_trip(load_real("cifar10", "test", root=tmp_path), *batches["test_batch"], (3, 32, 32))
    assert train.classes[1] == "automobile"


# -- STL-10: raw bytes in ROOT/stl10_binary/, each image channel by channel, column-major --

def test_stl10_round_trip(tmp_path, no_md5):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    data = {"train": random_images(3, (3, 96, 96), seed=1), "test": random_images(2, (3, 96, 96), seed=2),
            "unlabeled": random_images(4, (3, 96, 96), seed=3)}
    for split, (images, labels) in data.items():
        (folder / f"{split}_X.bin").write_bytes(images.transpose(0, 1, 3, 2).tobytes())  # (N, C, W, H)
        if split != "unlabeled":
            (folder / f"{split}_y.bin").write_bytes((labels + 1).tobytes())            # labels 1..10
    (folder / "class_names.txt").write_text("\n".join(REAL_DATASETS["stl10"].classes) + "\n")

    for split in ("train", "test"):
        ds = load_real("stl10", split, root=tmp_path)
        check_round_trip(ds, *data[split], (3, 96, 96))
        assert ds.classes[-1] == "truck"
    unlabeled = load_real("stl10", "unlabeled", root=tmp_path)
    check_round_trip(unlabeled, data["unlabeled"][0], None, (3, 96, 96))
    assert unlabeled.classes == []


# -- Failures: clear messages, never a traceback from inside torchvision -----------------

@pytest.mark.parametrize("name, title, expected, alternative", [
    ("mnist", "MNIST", "MNIST/raw/train-images-idx3-ubyte", "'digits'"),
    ("fashion_mnist", "Fashion-MNIST", "FashionMNIST/raw/train-images-idx3-ubyte", "'digits'"),
    ("cifar10", "CIFAR-10", "cifar-10-batches-py/data_batch_1", "'shapes'"),
    ("stl10", "STL-10", "stl10_binary/train_X.bin", "'shapes'"),
])
def test_missing_data_says_where_and_what_to_do(tmp_path, name, title, expected, alternative):
    with pytest.raises(DatasetNotAvailable) as info:
        load_real(name, root=tmp_path)
    message = str(info.value)
    for part in (title, str(tmp_path), expected, "download=True", alternative):
        assert part in message
    assert info.value.__cause__ is None
    assert not any(tmp_path.iterdir()), "looking for data must not create folders"


def test_missing_file_among_present_ones_is_named(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw, "train", *random_images(2, (28, 28), seed=0))
    with pytest.raises(DatasetNotAvailable, match="t10k-images-idx3-ubyte and 1 more file"):
        load_real("mnist", "train", root=tmp_path)


def test_default_root_comes_from_course_data(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(DatasetNotAvailable, match="elsewhere"):
        load_real("cifar10")


@pytest.mark.parametrize("name", sorted(REAL_DATASETS))
def test_failed_download_is_dataset_not_available(tmp_path, monkeypatch, name):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotAvailable) as info:
        load_real(name, root=tmp_path, download=True)
    message = str(info.value)
    assert "Downloading" in message and "failed" in message and "no network" in message
    assert str(tmp_path) in message and REAL_DATASETS[name].alternative in message
    assert not isinstance(info.value, urllib.error.URLError)


def test_unreadable_files_are_dataset_not_available(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for file in REAL_DATASETS["cifar10"].files:
        (folder / file).write_bytes(b"not a cifar batch")     # present, but fails torchvision's md5
    with pytest.raises(DatasetNotAvailable, match="could not be read.*download=True.*'shapes'"):
        load_real("cifar10", root=tmp_path)


def test_unknown_name_lists_the_real_datasets():
    with pytest.raises(ValueError) as info:
        load_real("imagenet")
    for name in ("mnist", "fashion_mnist", "cifar10", "stl10"):
        assert name in str(info.value)


@pytest.mark.parametrize("name, split, valid", [("mnist", "unlabeled", "'test'"), ("stl10", "valid", "'unlabeled'")])
def test_bad_split_names_the_valid_ones(tmp_path, name, split, valid):
    with pytest.raises(ValueError, match=valid):
        load_real(name, split, root=tmp_path)
