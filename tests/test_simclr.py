"""Notebook 05's SimCLR module: NT-Xent against Algorithm 1 written with loops, its invariants, the models, training."""
from __future__ import annotations

import math

import pytest
import torch

from course_utils.augment import policy
from course_utils.simclr import (SimCLR, SimCLRConfig, Supervised, features, nt_xent, train_simclr,
                                 train_supervised)

torch.set_num_threads(1)
TINY = SimCLRConfig(width=8, feature_dim=16, projection_dim=8, batch_size=32, steps=40)


def nt_xent_loops(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's Algorithm 1 as printed, in 1-based pairs (2k-1, 2k), with explicit loops over k and over rows."""
    n = len(z1)
    z = [None] * (2 * n + 1)  # z[1..2N], z[2k-1] = first view of image k, z[2k] = its second view
    for k in range(1, n + 1):
        z[2 * k - 1], z[2 * k] = z1[k - 1].double(), z2[k - 1].double()

    def s(i: int, j: int) -> torch.Tensor:  # s_ij = z_i . z_j / (||z_i|| ||z_j||)
        return torch.dot(z[i], z[j]) / (z[i].norm() * z[j].norm())

    def l(i: int, j: int) -> torch.Tensor:  # l(i, j) = -log exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau)
        denominator = sum(torch.exp(s(i, k) / temperature) for k in range(1, 2 * n + 1) if k != i)
        return -torch.log(torch.exp(s(i, j) / temperature) / denominator)

    return sum(l(2 * k - 1, 2 * k) + l(2 * k, 2 * k - 1) for k in range(1, n + 1)) / (2 * n)


def pairs(n: int = 8, d: int = 5, seed: int = 0, noise: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) z1 and z2: independent, or z2 = z1 + noise when ``noise`` is given."""
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g)
    z2 = torch.randn(n, d, generator=g) if noise is None else z1 + noise * torch.randn(n, d, generator=g)
    return z1, z2


# ---------------------------------------------------------------- NT-Xent

@pytest.mark.parametrize("n, d, temperature, seed", [(1, 3, 0.5, 0), (4, 5, 0.1, 1), (7, 16, 1.0, 2), (10, 4, 0.5, 3)])
def test_nt_xent_matches_algorithm_1_written_with_loops(n, d, temperature, seed):
    z1, z2 = pairs(n, d, seed)
    loss = nt_xent(z1, z2, temperature)
    assert loss.shape == ()
    assert math.isclose(float(loss), float(nt_xent_loops(z1, z2, temperature)), rel_tol=1e-5)


def test_nt_xent_of_one_pair_is_zero_and_of_orthogonal_views_is_log_of_the_negatives():
    z1, z2 = pairs(3, 4, seed=5)
    assert float(nt_xent(z1[:1], z2[:1], 0.5)) == pytest.approx(0.0, abs=1e-6)  # one pair: no negatives
    eye = torch.eye(6)  # 3 pairs of orthonormal vectors: every similarity 0, so each row is uniform over 5
    assert float(nt_xent(eye[:3], eye[3:], 0.5)) == pytest.approx(math.log(5), rel=1e-6)


def test_nt_xent_does_not_depend_on_the_order_of_the_pairs_nor_on_the_norms():
    z1, z2 = pairs(9, 6, seed=1)
    order = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    assert math.isclose(float(nt_xent(z1[order], z2[order], 0.3)), float(nt_xent(z1, z2, 0.3)), rel_tol=1e-6)
    assert math.isclose(float(nt_xent(z2, z1, 0.3)), float(nt_xent(z1, z2, 0.3)), rel_tol=1e-6)  # views swapped
    assert math.isclose(float(nt_xent(3 * z1, 0.5 * z2, 0.3)), float(nt_xent(z1, z2, 0.3)), rel_tol=1e-5)
    # permuting only one view breaks the pairs: the loss must see it
    assert float(nt_xent(z1, z2[order], 0.3)) != pytest.approx(float(nt_xent(z1, z2, 0.3)), rel=1e-3)


def test_nt_xent_is_lower_for_aligned_pairs_than_for_shuffled_ones():
    z1, z2 = pairs(32, 16, seed=2, noise=0.1)
    shuffled = z2[torch.roll(torch.arange(32), 1)]  # each z1 now paired with another image's view
    aligned, mismatched = float(nt_xent(z1, z2, 0.5)), float(nt_xent(z1, shuffled, 0.5))
    assert aligned < mismatched - 1.0
    assert aligned < math.log(63) < mismatched  # log(2N - 1): a loss that cannot tell the others apart


def test_nt_xent_falls_with_the_temperature_for_aligned_pairs():
    z1, z2 = pairs(32, 16, seed=3, noise=0.05)
    losses = [float(nt_xent(z1, z2, t)) for t in (1.0, 0.5, 0.2, 0.1, 0.05)]
    assert all(a > b for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.05  # sharp softmax, the positive far ahead: the loss goes to 0


def test_nt_xent_sends_gradients_to_both_views():
    z1, z2 = pairs(6, 5, seed=4)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    nt_xent(z1, z2, 0.5).backward()
    for z in (z1, z2):
        assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 1e-4


def test_nt_xent_gradient_matches_the_loop_version():
    z1, z2 = pairs(4, 3, seed=6)
    a = [z.clone().double().requires_grad_(True) for z in (z1, z2)]
    b = [z.clone().double().requires_grad_(True) for z in (z1, z2)]
    nt_xent(*a, 0.2).backward()
    nt_xent_loops(*b, 0.2).backward()
    for x, y in zip(a, b):
        assert torch.allclose(x.grad, y.grad, atol=1e-8)


# ---------------------------------------------------------------- models, training, features

def test_models_give_representations_and_projections_of_the_configured_sizes():
    torch.manual_seed(0)
    x = torch.rand(5, 3, 32, 32)
    h, z = SimCLR(TINY)(x)
    assert h.shape == (5, 16) and z.shape == (5, 8)
    h, logits = Supervised(TINY, 4)(x)
    assert h.shape == (5, 16) and logits.shape == (5, 4)


def images_of_four_kinds(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, 32, 32) images: a bright square in one of the four quadrants, on noise; labels (n,) the quadrant."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.rand(n, 3, 32, 32, generator=g)
    labels = torch.randint(4, (n,), generator=g)
    for i, q in enumerate(labels.tolist()):
        top, left = 16 * (q // 2) + 4, 16 * (q % 2) + 4
        x[i, :, top:top + 8, left:left + 8] = 1.0
    return x, labels


def test_a_short_simclr_run_lowers_the_loss_and_features_have_the_right_shapes():
    torch.manual_seed(0)
    x, _ = images_of_four_kinds()
    model, history = train_simclr(x, TINY, augment=policy("noise"), generator=torch.Generator().manual_seed(1),
                                  progress=False)
    assert len(history.loss) == TINY.steps
    first, last = sum(history.loss[:8]) / 8, sum(history.loss[-8:]) / 8
    assert last < first - 0.1, (first, last)
    assert not model.training
    assert features(model, x[:70], batch_size=32).shape == (70, 16)
    assert features(model, x[:70], head=True, batch_size=32).shape == (70, 8)
    h, z = model(x[:70])
    assert torch.allclose(features(model, x[:70], head=True), z, atol=1e-5)


def test_train_simclr_calls_the_loss_it_is_given_on_the_two_views():
    seen = []

    def my_loss(z1, z2, temperature):
        seen.append((z1.shape, z2.shape, temperature))
        return nt_xent(z1, z2, temperature)

    x, _ = images_of_four_kinds(64)
    train_simclr(x, SimCLRConfig(width=8, feature_dim=16, projection_dim=8, batch_size=16, steps=2,
                                 temperature=0.2), loss=my_loss, progress=False)
    assert seen == [((16, 8), (16, 8), 0.2)] * 2


def test_a_short_supervised_run_learns_the_labels():
    torch.manual_seed(0)
    x, labels = images_of_four_kinds()
    model, history = train_supervised(x, labels, TINY, augment=lambda v, generator=None: v, progress=False)
    assert sum(history.loss[-8:]) / 8 < sum(history.loss[:8]) / 8 - 0.3
    assert float((features(model, x, head=True).argmax(dim=1) == labels).float().mean()) > 0.8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_simclr_and_the_supervised_baseline_train_on_cuda():
    device = torch.device("cuda")
    x, labels = images_of_four_kinds(64)
    x, labels = x.to(device), labels.to(device)
    model, history = train_simclr(x, SimCLRConfig(width=8, feature_dim=16, projection_dim=8, batch_size=16, steps=3),
                                  generator=torch.Generator(device).manual_seed(0), progress=False)
    assert next(model.parameters()).device.type == "cuda" and len(history.loss) == 3
    assert features(model, x).device.type == "cuda"
    supervised, _ = train_supervised(x, labels, TINY, progress=False)
    assert features(supervised, x, head=True).shape == (64, 4)
    z1, z2 = pairs(6, 5, seed=4)
    assert torch.allclose(nt_xent(z1.to(device), z2.to(device), 0.5).cpu(), nt_xent(z1, z2, 0.5), atol=1e-5)
