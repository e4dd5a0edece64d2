"""Tests for the embedded datasets (digits, photos, 2-D toys), the data.load registry and ArrayDataset."""
import doctest
import math

import numpy as np
import pytest
import torch

from course_utils import data
from course_utils.data import ArrayDataset, DatasetNotAvailable, digits, photos, toy2d
from course_utils.data.real import REAL_DATASETS


# ---------------------------------------------------------------- digits

@pytest.fixture(scope="module")
def digit_splits():
    return {split: digits.load(split) for split in digits.SPLITS}


@pytest.mark.parametrize("split", ["train", "test", "all"])
def test_digits_shapes_dtypes_ranges(digit_splits, split):
    ds = digit_splits[split]
    n = len(ds)
    assert ds.x.shape == (n, 1, 8, 8)
    assert ds.x.dtype == torch.float32
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    assert ds.x.max() == 1  # 16/16 occurs
    assert ds.y.shape == (n,) and ds.y.dtype == torch.int64
    assert set(ds.y.tolist()) == set(range(10))
    assert ds.classes == [str(d) for d in range(10)]
    assert ds.name == "digits" and ds.split == split


def test_digits_match_sklearn(digit_splits):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    full = digit_splits["all"]
    assert len(full) == 1797
    np.testing.assert_array_equal(full.x.squeeze(1).numpy() * 16, bunch.images)
    np.testing.assert_array_equal(full.y.numpy(), bunch.target)


def test_digits_splits_are_disjoint_and_cover_all(digit_splits):
    train, test, full = digit_splits["train"], digit_splits["test"], digit_splits["all"]
    assert len(train) + len(test) == len(full)
    mask = torch.from_numpy(digits.test_mask(full.y.numpy()))
    assert torch.equal(full.x[mask], test.x) and torch.equal(full.y[mask], test.y)
    assert torch.equal(full.x[~mask], train.x) and torch.equal(full.y[~mask], train.y)
    # compare rows as sets too (independent of the mask): sorted rows of train+test == sorted rows of all
    def rows(ds):
        return sorted(map(tuple, torch.cat([ds.x.reshape(len(ds), -1), ds.y[:, None].float()], 1).tolist()))
    assert sorted(rows(train) + rows(test)) == rows(full)


def test_digits_test_mask_every_fifth_per_class():
    labels = np.array([0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1])
    # class 0 at positions 0,2,3,5,6,10,11,12,13 -> 5th is 6 ; class 1 at 1,4,7,8,9,14 -> 5th is 9
    expected = np.zeros(len(labels), dtype=bool)
    expected[[6, 9]] = True
    np.testing.assert_array_equal(digits.test_mask(labels), expected)


def test_digits_test_is_balanced(digit_splits):
    counts = torch.bincount(digit_splits["test"].y, minlength=10)
    assert all(30 <= int(c) <= 40 for c in counts)
    all_counts = torch.bincount(digit_splits["all"].y, minlength=10)
    assert torch.equal(counts, all_counts // 5)


def test_digits_sizes_match_docstring():
    """digits.py documents 1,442 train and 355 test images."""
    assert len(digits.load("train")) == 1442 and len(digits.load("test")) == 355


def test_data_package_doctest():
    result = doctest.testmod(data, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_digits_deterministic():
    a, b = digits.load("test"), digits.load("test")
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_digits_bad_split():
    with pytest.raises(ValueError, match="'train', 'test', 'all'"):
        digits.load("validation")


# ---------------------------------------------------------------- photos

def test_photos():
    ds = photos.load()
    assert ds.x.shape == (2, 3, 427, 640)
    assert ds.x.dtype == torch.float32
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    assert ds.x.max() > 0.9 and ds.x.min() < 0.1  # real photos use the range
    assert ds.y is None and ds.classes == []
    assert ds.info["filenames"] == ["china.jpg", "flower.jpg"]
    assert ds.split == "all" and len(ds) == 2
    assert ds[0].shape == (3, 427, 640)  # no label
    with pytest.raises(ValueError):
        photos.load("train")


def test_photos_channel_order():
    from sklearn.datasets import load_sample_images

    raw = load_sample_images().images[1]  # (427, 640, 3) uint8
    ds = photos.load()
    np.testing.assert_allclose(ds.x[1].permute(1, 2, 0).numpy(), raw / 255.0, atol=1e-6)


# ---------------------------------------------------------------- toy2d

@pytest.mark.parametrize("name", toy2d.NAMES)
def test_toy_load_deterministic_and_shapes(name):
    a, b = toy2d.load(name, "train", n=500), toy2d.load(name, "train", n=500)
    assert a.x.shape == (500, 2) and a.x.dtype == torch.float32
    assert torch.equal(a.x, b.x)
    other_seed = toy2d.load(name, "train", n=500, seed=1)
    assert not torch.equal(a.x, other_seed.x)
    test = toy2d.load(name, "test", n=500)
    assert not torch.equal(a.x, test.x)
    assert torch.isfinite(a.x).all()


@pytest.mark.parametrize("name", toy2d.NAMES)
def test_toy_default_sizes_and_registry(name):
    train, test = data.load(name), data.load(name, "test")
    assert (len(train), len(test)) == (10_000, 2_500)
    assert train.split == "train" and train.name == name
    assert torch.equal(train.x, toy2d.load(name, "train").x)


def test_toy_unknown_name():
    with pytest.raises(ValueError, match="ring8"):
        toy2d.sample("ring9", 10)
    with pytest.raises(ValueError):
        toy2d.mode_std("ring9")


def test_ring8_centres():
    centres = toy2d.mode_centres("ring8")
    assert centres.shape == (8, 2)
    torch.testing.assert_close(centres.norm(dim=1), torch.full((8,), 2.0))
    for k in range(8):
        angle = 2 * math.pi * k / 8
        assert centres[k].tolist() == pytest.approx([2 * math.cos(angle), 2 * math.sin(angle)], abs=1e-6)
    assert torch.cdist(centres, centres).add(torch.eye(8) * 10).min() > 1.5  # 8 distinct points
    assert not torch.allclose(centres[0], centres[-1])  # endpoint excluded


def test_grid25_centres():
    centres = toy2d.mode_centres("grid25")
    assert centres.shape == (25, 2)
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert set(map(tuple, centres.tolist())) == expected


@pytest.mark.parametrize("name, std", [("ring8", 0.02), ("grid25", 0.05), ("moons", None),
                                       ("swissroll", None), ("checkerboard", None)])
def test_mode_std_and_centres_presence(name, std):
    assert toy2d.mode_std(name) == std
    assert (toy2d.mode_centres(name) is None) == (std is None)
    ds = toy2d.load(name, n=10)
    if std is None:
        assert ds.y is None and ds.info == {} and ds.classes == []
    else:
        assert ds.info["std"] == std
        assert torch.equal(ds.info["centres"], toy2d.mode_centres(name))
        assert len(ds.classes) == len(ds.info["centres"])


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_sample_reproducible_and_labelled(name):
    a, la = toy2d.sample(name, 20_000, torch.Generator().manual_seed(3))
    b, lb = toy2d.sample(name, 20_000, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(la, lb)
    centres, std = toy2d.mode_centres(name), toy2d.mode_std(name)
    assert la.dtype == torch.int64 and la.min() >= 0 and la.max() == len(centres) - 1
    distance = (a - centres[la]).norm(dim=1)
    # 2-D Gaussian: distance to own centre is Rayleigh, mean std * sqrt(pi / 2)
    assert float(distance.mean()) == pytest.approx(std * math.sqrt(math.pi / 2), rel=0.02)
    # labels index the nearest centre
    assert torch.equal(torch.cdist(a, centres).argmin(dim=1), la)
    # modes are used about equally
    counts = torch.bincount(la, minlength=len(centres)).float()
    assert counts.min() > 0.7 * counts.mean()


def test_sample_default_generator_is_seeded():
    a, _ = toy2d.sample("moons", 100)
    b, _ = toy2d.sample("moons", 100)
    assert torch.equal(a, b)


def test_checkerboard_points_on_dark_squares():
    points = toy2d.load("checkerboard", "train").x
    assert points.min() >= -4 and points.max() < 4
    # generator: x in [-2, 2), y = u - 2b + (floor(x) mod 2), points = 2 (x, y):
    # floor(y) = floor(x) mod 2 - 2b, so floor(x) + floor(y) is even.
    squares = torch.floor(points / 2).long()
    parity = (squares[:, 0] + squares[:, 1]) % 2
    assert (parity == 0).all()
    # all 8 dark squares are used, about equally
    occupied = {tuple(s) for s in squares.tolist()}
    assert len(occupied) == 8
    counts = torch.unique(squares, dim=0, return_counts=True)[1].float()
    assert counts.min() > 0.8 * counts.mean()


def test_moons_match_sklearn_shape():
    points = toy2d.load("moons", "train").x
    # make_moons without noise: x in [-1, 2], y in [-0.5, 1]; noise 0.05 widens a little
    assert -1.3 < points[:, 0].min() and points[:, 0].max() < 2.3
    assert -0.8 < points[:, 1].min() and points[:, 1].max() < 1.3


# ---------------------------------------------------------------- registry

def test_unknown_name_lists_available():
    with pytest.raises(ValueError) as info:
        data.load("imagenet")
    message = str(info.value)
    assert "imagenet" in message
    for name in ("digits", "photos", "ring8", "checkerboard", "mnist", "cifar10"):
        assert name in message


@pytest.mark.parametrize("name, split", [("digits", "valid"), ("photos", "train"), ("ring8", "all"),
                                         ("moons", "validation")])
def test_bad_split_names_valid_splits(name, split):
    with pytest.raises(ValueError) as info:
        data.load(name, split)
    message = str(info.value)
    assert repr(split) in message
    assert "choose one of" in message


@pytest.mark.parametrize("name", ["Digits", "DIGITS", "Ring8", "Grid25"])
def test_embedded_names_normalise(name):
    ds = data.load(name, n=10) if "digits" not in name.lower() else data.load(name)
    assert ds.name == name.lower()


def test_real_dataset_names_normalise(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    # "Fashion-MNIST" reaches the real loader (not "unknown dataset"), which reports the missing files
    with pytest.raises(DatasetNotAvailable, match="Fashion-MNIST"):
        data.load("Fashion-MNIST")
    with pytest.raises(DatasetNotAvailable, match=str(tmp_path)):
        data.load("fashion_mnist", "test")


def test_available_covers_everything():
    names = data.available()
    for name in ("digits", "photos", "shapes", *toy2d.NAMES, *REAL_DATASETS):
        assert name in names
        assert isinstance(names[name], str) and names[name]
    assert set(names) == set(data.EMBEDDED) | set(REAL_DATASETS)
    assert "train, test, all" in names["digits"]


def test_default_split_is_first():
    assert data.load("digits").split == "train"
    assert data.load("photos").split == "all"


# ---------------------------------------------------------------- ArrayDataset

@pytest.fixture
def small():
    x = torch.arange(20, dtype=torch.float32).reshape(10, 2)
    y = torch.arange(10) % 3
    return ArrayDataset(x, y, ["a", "b", "c"], "small", "train", {"centres": torch.zeros(3, 2), "std": 0.1})


def test_array_dataset_len_and_getitem(small):
    assert len(small) == 10
    x, y = small[4]
    assert torch.equal(x, torch.tensor([8.0, 9.0])) and int(y) == 1
    unlabelled = ArrayDataset(small.x, None, [], "u", "all")
    assert torch.equal(unlabelled[4], torch.tensor([8.0, 9.0]))


def test_array_dataset_to_moves_tensors(small):
    moved = small.to("meta")
    assert moved is not small
    assert moved.x.device.type == "meta" and moved.y.device.type == "meta"
    assert moved.info["centres"].device.type == "meta"
    assert moved.info["std"] == 0.1
    assert moved.info is not small.info
    assert small.x.device.type == "cpu" and small.info["centres"].device.type == "cpu"
    assert (moved.classes, moved.name, moved.split) == (small.classes, small.name, small.split)
    back = small.to("cpu")
    assert torch.equal(back.info["centres"], small.info["centres"]) and back.info["std"] == 0.1
    assert ArrayDataset(small.x, None, [], "u", "all").to("meta").y is None


def test_array_dataset_loader_reproducible(small):
    def order(loader):
        return [batch[0][:, 0].tolist() for batch in loader]

    a, b = order(small.loader(batch_size=4, seed=3)), order(small.loader(batch_size=4, seed=3))
    assert a == b
    assert sorted(sum(a, [])) == small.x[:, 0].tolist()  # every item once
    assert [len(batch) for batch in a] == [4, 4, 2]
    assert order(small.loader(batch_size=4, seed=4)) != a
    unshuffled = order(small.loader(batch_size=4, shuffle=False))
    assert sum(unshuffled, []) == small.x[:, 0].tolist()
    assert len(small.loader(batch_size=4, drop_last=True)) == 2


def test_array_dataset_loader_batches_labels(small):
    xb, yb = next(iter(small.loader(batch_size=10, shuffle=False)))
    assert torch.equal(xb, small.x) and torch.equal(yb, small.y)


def test_array_dataset_repr(small):
    text = repr(small)
    assert "'small'" in text and "'train'" in text
    assert "(10, 2)" in text and "float32" in text and "3 classes" in text
    assert "centres" in text
