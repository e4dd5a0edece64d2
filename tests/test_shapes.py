"""Tests for course_utils.data.shapes: the captioned coloured-shapes dataset."""
import re

import numpy as np
import pytest
import torch

from course_utils.data import shapes

COLOUR_NAMES = tuple(shapes.COLOURS)


@pytest.fixture(scope="module")
def train():
    return shapes.load("train")


@pytest.fixture(scope="module")
def sample():
    """600 images over every attribute (all combos), with the shape masks measured."""
    ds = shapes.generate(600, seed=11, combos="all")
    x = ds.x.numpy()
    border = np.concatenate([x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], axis=2)
    background = np.median(border, axis=2)[:, :, None, None]        # (N, 3, 1, 1)
    diff = np.abs(x - background).max(axis=1)                          # (N, H, W)
    mask = diff > 0.5 * diff.max(axis=(1, 2), keepdims=True)           # the shape's inside
    attrs = {k: v.numpy() for k, v in ds.info["attributes"].items()}
    return ds, x, border, background, mask, attrs


def pairs_of(ds):
    a = ds.info["attributes"]
    return {(shapes.SHAPES[s], COLOUR_NAMES[c]) for s, c in zip(a["shape"].tolist(), a["colour"].tolist())}


def test_vocabulary_is_consistent():
    assert set(shapes.CLASSES) == set(shapes.ATTRIBUTES)
    assert shapes.CLASSES["colour"] == COLOUR_NAMES and len(COLOUR_NAMES) == 6
    assert [s for s, _ in shapes.HELD_OUT] == list(shapes.SHAPES)  # one per shape
    held_colours = [c for _, c in shapes.HELD_OUT]
    assert len(set(held_colours)) == len(held_colours) and set(held_colours) <= set(COLOUR_NAMES)
    for rgb in shapes.COLOURS.values():
        assert len(rgb) == 3 and all(0 <= v <= 1 for v in rgb)
    for template in shapes.TEMPLATES:
        assert "{colour}" in template and "{shape}" in template


def test_zero_shot_prompts_cover_every_attribute_value_in_known_words():
    from course_utils.tokenizer import Tokenizer

    tokenizer = Tokenizer()
    assert set(shapes.PROMPTS) == set(shapes.PROMPT_NAMES) == {"shape", "colour", "size", "position"}
    for attribute, templates in shapes.PROMPTS.items():
        names = shapes.PROMPT_NAMES[attribute]
        assert len(names) == len(shapes.CLASSES[attribute])  # one name per class, in the classes' order
        assert len(set(templates)) == len(templates) > 1
        for template in templates:
            assert template.count("{label}") == 1
            for name in names:
                tokens = tokenizer.encode(template.format(label=name))[0].tolist()
                assert tokenizer.unk_id not in tokens, template.format(label=name)
    assert shapes.PROMPT_NAMES["position"][0] == shapes.PLACES[shapes.CLASSES["position"][0]]
    # a prompt for shape names each colour once, and one for colour each shape: the ensemble averages them away
    assert {t.split()[-2] for t in shapes.PROMPTS["shape"]} == set(COLOUR_NAMES)
    assert {t.split()[-1].rstrip(".") for t in shapes.PROMPTS["colour"]} == set(shapes.SHAPES)


def test_same_seed_same_data_different_seed_different_data():
    a, b, c = shapes.generate(200, seed=3), shapes.generate(200, seed=3), shapes.generate(200, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert a.info["captions"] == b.info["captions"]
    for k in shapes.ATTRIBUTES:
        assert torch.equal(a.info["attributes"][k], b.info["attributes"][k])
    assert not torch.equal(a.x, c.x)
    assert a.info["captions"] != c.info["captions"]


def test_shapes_dtypes_and_ranges():
    ds = shapes.load("test", n=64, image_size=40)
    assert ds.name == "shapes" and ds.split == "test" and len(ds) == 64
    assert ds.x.shape == (64, 3, 40, 40) and ds.x.dtype == torch.float32
    assert 0 <= ds.x.min() and ds.x.max() <= 1
    assert ds.y.dtype == torch.int64 and torch.equal(ds.y, ds.info["attributes"]["shape"])
    assert ds.classes == list(shapes.SHAPES)
    for k in shapes.ATTRIBUTES:
        a = ds.info["attributes"][k]
        assert a.dtype == torch.int64 and a.shape == (64,)
        assert 0 <= a.min() and a.max() < len(shapes.CLASSES[k])
    assert len(ds.info["captions"]) == 64 and ds.info["held_out"] == shapes.HELD_OUT
    assert shapes.load("heldout", n=5).split == "heldout"


def test_render_batch():
    attrs = {k: np.zeros(7, dtype=np.int64) for k in shapes.ATTRIBUTES}  # one shape kind only
    attrs["colour"] = np.arange(7) % 6
    x = shapes.render(attrs, 24, rng=np.random.default_rng(0))
    assert x.shape == (7, 3, 24, 24) and x.dtype == np.float32
    assert np.array_equal(x, shapes.render(attrs, 24, rng=np.random.default_rng(0)))
    assert 0 <= x.min() and x.max() <= 1


def test_train_has_no_held_out_pair_and_heldout_only_those(train):
    seen = pairs_of(train)
    assert not seen & set(shapes.HELD_OUT)
    assert len(seen) == len(shapes.SHAPES) * len(COLOUR_NAMES) - len(shapes.HELD_OUT)
    assert pairs_of(shapes.load("heldout")) == set(shapes.HELD_OUT)
    assert not pairs_of(shapes.load("test")) & set(shapes.HELD_OUT)


def test_every_value_appears_in_train_and_shapes_are_balanced(train):
    a = train.info["attributes"]
    for k in shapes.ATTRIBUTES:
        counts = torch.bincount(a[k], minlength=len(shapes.CLASSES[k]))
        assert (counts > 0).all(), k
    share = torch.bincount(a["shape"], minlength=5).float() / len(train)
    assert ((0.10 <= share) & (share <= 0.30)).all(), share


def test_splits_do_not_repeat_each_other(train):
    test = shapes.load("test")
    assert not torch.equal(train.x[:1000], test.x)
    assert not torch.equal(shapes.load("train", seed=1).x, train.x)


def test_captions_name_their_own_colour_and_shape(train):
    a = train.info["attributes"]
    for i, text in enumerate(train.info["captions"][:2000]):
        words = set(re.findall(r"[a-z]+", text))
        colour, shape = COLOUR_NAMES[a["colour"][i]], shapes.SHAPES[a["shape"][i]]
        assert colour in words and shape in words, text
        assert not words & (set(COLOUR_NAMES) - {colour}), text
        assert not words & (set(shapes.SHAPES) - {shape}), text
    assert len(set(train.info["captions"])) > 100  # templates and attributes really vary
    row = {"shape": "star", "colour": "red", "size": "small", "position": "left", "background": "grey"}
    assert shapes.caption(row, 0) == shapes.TEMPLATES[0].format(**row)
    assert shapes.caption(row, 3) == "a red star on the left."
    assert shapes.caption(dict(row, position="middle"), 5) == "there is a red star in the middle of the image."


def test_shape_stays_inside_the_image(sample):
    _, _, border, background, _, _ = sample
    assert np.abs(border - background[:, :, :, 0]).max() < 0.15


def test_shape_has_the_requested_colour(sample):
    _, x, _, _, mask, attrs = sample
    palette = np.array(list(shapes.COLOURS.values()))
    for i in range(len(x)):
        assert mask[i].sum() >= 10
        mean = x[i][:, mask[i]].mean(axis=1)
        nearest = np.argmin(((palette - mean) ** 2).sum(axis=1))
        assert nearest == attrs["colour"][i], (i, mean, COLOUR_NAMES[attrs["colour"][i]])


def test_large_shapes_cover_more_pixels(sample):
    _, _, _, _, mask, attrs = sample
    area = mask.sum(axis=(1, 2))
    small, large = area[attrs["size"] == 0].mean(), area[attrs["size"] == 1].mean()
    assert large > 1.5 * small


def test_position_is_the_horizontal_third(sample):
    _, x, _, _, mask, attrs = sample
    columns = (np.arange(x.shape[-1]) + 0.5) / x.shape[-1]
    centre = (mask * columns).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))
    position = attrs["position"]
    assert centre[position == 0].max() < 0.4
    assert centre[position == 2].min() > 0.6
    assert abs(centre[position == 1].mean() - 0.5) < 0.05
    assert ((0.3 < centre[position == 1]) & (centre[position == 1] < 0.7)).all()


def test_invalid_arguments_name_the_choices():
    with pytest.raises(ValueError, match="'train', 'test', 'heldout'"):
        shapes.load("validation")
    for bad in (0, -5, 2.5, "10", True):
        with pytest.raises(ValueError, match="positive integer"):
            shapes.load("train", n=bad)
    with pytest.raises(ValueError, match="'seen', 'held_out', 'all'"):
        shapes.generate(10, seed=0, combos="unseen")
