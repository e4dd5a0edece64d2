"""Notebook 05's augmentation-pair study: the transformations, the pair policies, the table."""
from __future__ import annotations

import pytest
import torch

from course_utils.ablation import FIGURE_5, Ablation, pair_ablation, pair_policy, transformation
from course_utils.augment import AUGMENTATIONS
from course_utils.simclr import SimCLRConfig

torch.set_num_threads(1)
CONFIG = SimCLRConfig(width=8, feature_dim=16, projection_dim=8, batch_size=16, steps=3)


def test_every_transformation_of_figure_5_is_known_and_colour_is_jitter_then_drop():
    for name in FIGURE_5:
        ops, p = transformation(name, CONFIG)
        assert len(ops) == len(p) >= 1
    ops, p = transformation("colour", CONFIG)
    assert len(ops) == 2 and p == [0.8, CONFIG.colour_drop_p]
    with pytest.raises(ValueError, match="unknown transformation 'solarise'"):
        transformation("solarise", CONFIG)


def test_a_pair_chains_both_and_the_diagonal_is_one_transformation():
    assert len(pair_policy("crop", "crop", CONFIG).ops) == 1
    assert len(pair_policy("crop", "colour", CONFIG).ops) == 3
    assert pair_policy("blur", "noise", CONFIG).ops == (AUGMENTATIONS["blur"], AUGMENTATIONS["noise"])


def test_your_own_operators_replace_the_reference_ones():
    def my_sobel(x, generator=None):
        return torch.zeros_like(x)

    def my_drop(x, p=1.0, generator=None):
        return torch.ones_like(x)

    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(pair_policy("sobel", "sobel", CONFIG, sobel=my_sobel)(x), torch.zeros_like(x))
    assert transformation("colour", CONFIG, drop=my_drop)[0][1] is my_drop


def test_best_ignores_the_diagonal():
    probe = torch.tensor([[0.9, 0.5, 0.6], [0.5, 0.2, 0.7], [0.6, 0.7, 0.1]])
    result = Ablation(("a", "b", "c"), {"shape": probe, "colour": 1 - probe}, 0.0)
    assert result.best() == ("b", "c") and result.best("colour") == ("a", "b")


def test_a_tiny_ablation_fills_a_symmetric_table_of_accuracies():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 3, 32, 32, generator=g), torch.randint(3, (64,), generator=g)
    c = torch.randint(2, (64,), generator=g)
    result = pair_ablation(x, x[:20], {"kind": (y, y[:20]), "colour": (c, c[:20])}, ("crop", "blur"), CONFIG,
                           probe_images=40, progress=False)
    for table in result.probe.values():
        assert table.shape == (2, 2) and not table.isnan().any()
        assert torch.equal(table, table.T)
        assert bool(((table >= 0) & (table <= 1)).all())
