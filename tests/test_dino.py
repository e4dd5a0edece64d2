"""Notebook 05's DINO module: the loss against Algorithm 1 written with loops, centring, sharpening, the
teacher's moving average, the models, training."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from course_utils.augment import policy
from course_utils.dino import (DINO, DINOConfig, dino_loss, teacher_momentum, teacher_targets, train_dino,
                               update_centre, update_teacher)
from course_utils.simclr import features
from test_simclr import images_of_four_kinds  # tests/test_simclr.py

torch.set_num_threads(1)
TINY = DINOConfig(width=8, feature_dim=16, hidden_dim=32, bottleneck_dim=16, out_dim=32, batch_size=32, steps=40,
                  teacher_momentum=0.9, lr=5e-3)  # 40 steps: a faster teacher and a faster student


def dino_loss_loops(s: torch.Tensor, t: torch.Tensor, c: torch.Tensor, tps: float, tpt: float) -> torch.Tensor:
    """Algorithm 1 as printed: loss = H(t1, s2) / 2 + H(t2, s1) / 2, with loops over the images and prototypes."""
    s1, s2, t1, t2 = s[0].double(), s[1].double(), t[0].double(), t[1].double()
    c = c.double()

    def H(t_: torch.Tensor, s_: torch.Tensor) -> torch.Tensor:  # mean over n of -sum_k P_t[n, k] log P_s[n, k]
        total = torch.zeros((), dtype=torch.float64)
        for n in range(len(t_)):
            t_exp = [math.exp((float(t_[n, k]) - float(c[k])) / tpt) for k in range(len(c))]
            s_exp = [torch.exp(s_[n, k] / tps) for k in range(len(c))]
            for k in range(len(c)):
                total = total - t_exp[k] / sum(t_exp) * torch.log(s_exp[k] / sum(s_exp))
        return total / len(t_)

    return H(t1, s2) / 2 + H(t2, s1) / 2


def logits(n: int = 6, k: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(2, N, K) student and teacher logits and a (K,) centre, seeded."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, n, k, generator=g), torch.randn(2, n, k, generator=g), 0.3 * torch.randn(k, generator=g)


def entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(1e-30).log()).sum(dim=-1).mean()


# ---------------------------------------------------------------- the loss, centring and sharpening

@pytest.mark.parametrize("n, k, tps, tpt, seed", [(1, 3, 0.1, 0.04, 0), (4, 5, 0.1, 0.04, 1), (7, 16, 0.5, 0.2, 2),
                                                  (3, 8, 1.0, 1.0, 3)])
def test_dino_loss_matches_algorithm_1_written_with_loops(n, k, tps, tpt, seed):
    s, t, c = logits(n, k, seed)
    loss = dino_loss(s, t, c, tps, tpt)
    assert loss.shape == ()
    assert math.isclose(float(loss), float(dino_loss_loops(s, t, c, tps, tpt)), rel_tol=1e-5)


def test_dino_loss_pairs_each_student_view_with_the_other_teacher_view():
    s, t, c = logits(5, 7, seed=4)
    swapped = dino_loss(s, t.flip(0), c, 0.1, 0.04)  # the same view's teacher: not Algorithm 1
    assert float(dino_loss(s, t, c, 0.1, 0.04)) != pytest.approx(float(swapped), rel=1e-3)
    assert math.isclose(float(dino_loss(s.flip(0), t.flip(0), c, 0.1, 0.04)), float(dino_loss(s, t, c, 0.1, 0.04)),
                        rel_tol=1e-6)  # naming the views the other way round changes nothing


def test_gradients_reach_the_student_and_never_the_teacher_or_the_centre():
    s, t, c = logits(6, 5, seed=5)
    for x in (s, t, c):
        x.requires_grad_(True)
    dino_loss(s, t, c, 0.1, 0.04).backward()
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 1e-4
    assert t.grad is None and c.grad is None
    assert not teacher_targets(t, c, 0.04).requires_grad


def test_dino_loss_gradient_matches_the_loop_version():
    s, t, c = logits(3, 4, seed=6)
    a, b = s.clone().double().requires_grad_(True), s.clone().double().requires_grad_(True)
    dino_loss(a, t.double(), c.double(), 0.1, 0.04).backward()
    dino_loss_loops(b, t, c, 0.1, 0.04).backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-8)


def test_centring_subtracts_the_centre_from_every_teacher_logit_per_prototype():
    s, t, c = logits(6, 5, seed=7)
    assert math.isclose(float(dino_loss(s, t, c, 0.1, 0.04)), float(dino_loss(s, t - c, torch.zeros(5), 0.1, 0.04)),
                        rel_tol=1e-6)
    assert float(dino_loss(s, t, c, 0.1, 0.04)) != pytest.approx(float(dino_loss(s, t, 0 * c, 0.1, 0.04)), rel=1e-3)
    shift = torch.randn(2, 6, 1)  # a constant per row (not per prototype) never changes a softmax
    assert math.isclose(float(dino_loss(s + shift, t + shift, c, 0.1, 0.04)), float(dino_loss(s, t, c, 0.1, 0.04)),
                        rel_tol=1e-5)


def test_centring_removes_a_prototype_that_wins_for_every_image():
    _, t, _ = logits(50, 5, seed=8)
    t[..., 2] += 4.0  # prototype 2 dominates every target
    centre = torch.zeros(5)
    for _ in range(100):
        centre = update_centre(centre, t, 0.9)
    assert float(teacher_targets(t, torch.zeros(5), 0.1)[..., 2].mean()) > 0.95
    assert float(teacher_targets(t, centre, 0.1)[..., 2].mean()) < 0.5  # centred: no longer the winner everywhere


def test_a_lower_teacher_temperature_gives_sharper_targets():
    _, t, c = logits(20, 10, seed=9)
    entropies = [float(entropy(teacher_targets(t, c, tau))) for tau in (10.0, 1.0, 0.1, 0.04, 0.01)]
    assert all(a > b for a, b in zip(entropies, entropies[1:])), entropies
    assert entropies[0] < math.log(10) and entropies[0] > math.log(10) - 0.05  # very hot: nearly uniform
    assert entropies[-1] < 0.05  # very cold: nearly one-hot


@pytest.mark.parametrize("k", [2, 16, 256])
def test_when_every_output_is_equal_the_loss_is_log_k(k):
    same = torch.full((2, 4, k), 0.7)
    assert float(dino_loss(same, same, torch.full((k,), 0.2), 0.1, 0.04)) == pytest.approx(math.log(k), rel=1e-6)


def test_the_centre_is_a_moving_average_of_the_teachers_mean_output():
    _, t, c = logits(6, 5, seed=10)
    new = update_centre(c, t.requires_grad_(True), 0.9)
    assert torch.allclose(new, 0.9 * c + 0.1 * t.detach().reshape(12, 5).mean(dim=0), atol=1e-7)
    assert new.shape == (5,) and not new.requires_grad
    assert torch.equal(update_centre(c, t, 1.0), c)


# ---------------------------------------------------------------- the teacher: a moving average of the student

def test_update_teacher_is_an_exponential_moving_average_of_the_parameters():
    torch.manual_seed(0)
    student, teacher = nn.Linear(3, 2), nn.Linear(3, 2)
    before = copy.deepcopy(teacher)
    update_teacher(teacher, student, 0.9)
    for t, t0, s in zip(teacher.parameters(), before.parameters(), student.parameters()):
        assert torch.allclose(t, 0.9 * t0 + 0.1 * s, atol=1e-7)
    update_teacher(teacher, student, 0.0)
    assert all(torch.equal(t, s) for t, s in zip(teacher.parameters(), student.parameters()))


def test_the_teacher_momentum_rises_from_its_base_to_1_along_a_cosine():
    ms = [teacher_momentum(k, 100, 0.996) for k in range(100)]
    assert ms[0] == pytest.approx(0.996) and ms[50] == pytest.approx(0.998) and 0.999999 < ms[-1] < 1
    assert all(a < b for a, b in zip(ms, ms[1:]))


# ---------------------------------------------------------------- models, training, features

def test_the_model_gives_representations_and_prototype_logits_of_the_configured_sizes():
    torch.manual_seed(0)
    h, z = DINO(TINY)(torch.rand(5, 3, 32, 32))
    assert h.shape == (5, 16) and z.shape == (5, 32)
    assert float(z.detach().abs().max()) <= 1 + 1e-5  # cosines between the unit bottleneck and the unit prototypes


def test_a_short_dino_run_lowers_the_loss_and_trains_only_the_student():
    torch.manual_seed(0)
    x, _ = images_of_four_kinds()
    student = DINO(TINY)
    start = copy.deepcopy(student)
    teacher, history = train_dino(x, TINY, augment=policy("noise"), generator=torch.Generator().manual_seed(1),
                                  progress=False, student=student)
    assert len(history.loss) == len(history["target entropy"]) == TINY.steps
    first, last = sum(history.loss[:8]) / 8, sum(history.loss[-8:]) / 8
    assert last < first - 0.1, (first, last)
    # H(P_t, P_s) = H(P_t) + KL(P_t || P_s): the part the student controls, the KL, falls too
    kl = [loss - h for loss, h in zip(history.loss, history["target entropy"])]
    assert sum(kl[-8:]) / 8 < sum(kl[:8]) / 16 and min(kl) > -1e-4, kl
    assert not teacher.training and teacher is not student
    for t, s, s0 in zip(teacher.parameters(), student.parameters(), start.parameters()):
        assert not t.requires_grad and t.grad is None  # the optimiser never saw the teacher
        assert not torch.equal(t, s) and not torch.equal(t, s0)  # it moved, slowly, towards the student
    assert features(teacher, x[:70], batch_size=32).shape == (70, 16)
    assert features(teacher, x[:70], head=True, batch_size=32).shape == (70, 32)


@pytest.mark.parametrize("momentum, steps", [(0.0, 1), (1.0, 3)])  # from 0, the cosine leaves 0 after one step
def test_the_teacher_is_the_student_at_momentum_0_and_its_start_at_momentum_1(momentum, steps):
    torch.manual_seed(0)
    x, _ = images_of_four_kinds(64)
    config = DINOConfig(width=8, feature_dim=16, hidden_dim=32, bottleneck_dim=8, out_dim=32, batch_size=16,
                        steps=steps, teacher_momentum=momentum)  # the cosine schedule from 1 stays at 1
    student = DINO(config)
    start = copy.deepcopy(student)
    teacher, _ = train_dino(x, config, augment=policy("noise"), progress=False, student=student)
    expected = student if momentum == 0.0 else start  # at 0: the last step's update was applied too
    assert all(torch.equal(t, e) for t, e in zip(teacher.parameters(), expected.parameters()))
    assert not all(torch.equal(s, s0) for s, s0 in zip(student.parameters(), start.parameters()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_dino_trains_on_cuda():
    device = torch.device("cuda")
    x, _ = images_of_four_kinds(64)
    x = x.to(device)
    teacher, history = train_dino(x, DINOConfig(width=8, feature_dim=16, hidden_dim=32, bottleneck_dim=8, out_dim=32,
                                                batch_size=16, steps=3),
                                  generator=torch.Generator(device).manual_seed(0), progress=False)
    assert next(teacher.parameters()).device.type == "cuda" and len(history.loss) == 3
    assert features(teacher, x).device.type == "cuda"
    s, t, c = logits(6, 5, seed=4)
    assert torch.allclose(dino_loss(s.to(device), t.to(device), c.to(device), 0.1, 0.04).cpu(),
                          dino_loss(s, t, c, 0.1, 0.04), atol=1e-5)
