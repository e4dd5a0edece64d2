"""Notebook 07's answers (course_utils/answers/a07_review.py, which course_utils.fundamentals re-exports)
against PyTorch: autograd, nn.Conv2d/MaxPool2d shapes, torch.optim."""
from __future__ import annotations

import inspect
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import fundamentals
from course_utils.answers import a07_review
from course_utils.answers.a07_review import adam_step, conv_output_size, mlp_backward, mlp_forward, sgd_momentum_step


def _mlp_params(n: int, d: int, hidden: int, classes: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randint(classes, (n,), generator=g)
    params = [torch.randn(d, hidden, generator=g, dtype=dtype), torch.randn(hidden, generator=g, dtype=dtype),
              torch.randn(hidden, classes, generator=g, dtype=dtype), torch.randn(classes, generator=g, dtype=dtype)]
    return x, y, params


# ---------------------------------------------------------------- the MLP by hand

@pytest.mark.parametrize("n, d, hidden, classes", [(1, 2, 3, 2), (7, 5, 16, 4), (64, 2, 32, 2), (20, 64, 8, 10)])
def test_mlp_forward_matches_torch_layers(n, d, hidden, classes):
    x, _, (W1, b1, W2, b2) = _mlp_params(n, d, hidden, classes, seed=n + d)
    z1, h, logits = mlp_forward(x, W1, b1, W2, b2)
    torch.testing.assert_close(z1, F.linear(x, W1.T, b1))
    torch.testing.assert_close(h, F.relu(z1))
    torch.testing.assert_close(logits, F.linear(F.relu(F.linear(x, W1.T, b1)), W2.T, b2))
    assert (z1.shape, h.shape, logits.shape) == ((n, hidden), (n, hidden), (n, classes))


@pytest.mark.parametrize("n, d, hidden, classes", [(1, 2, 3, 2), (7, 5, 16, 4), (64, 2, 32, 2), (20, 64, 8, 10)])
def test_mlp_backward_matches_autograd(n, d, hidden, classes):
    x, y, params = _mlp_params(n, d, hidden, classes, seed=10 * n + d)
    leaves = [p.clone().requires_grad_() for p in params]
    F.cross_entropy(mlp_forward(x, *leaves)[2], y).backward()
    z1, h, logits = mlp_forward(x, *params)
    grads = mlp_backward(x, y, params[2], z1, h, logits)
    for name, mine, leaf in zip(("dW1", "db1", "dW2", "db2"), grads, leaves):
        assert mine.shape == leaf.shape, name
        torch.testing.assert_close(mine, leaf.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_mlp_backward_passes_gradcheck_and_works_in_float32():
    x, y, params = _mlp_params(5, 3, 6, 3, seed=3)

    def loss(W1, b1, W2, b2):
        return F.cross_entropy(mlp_forward(x, W1, b1, W2, b2)[2], y)

    assert torch.autograd.gradcheck(loss, tuple(p.clone().requires_grad_() for p in params))
    x32, params32 = x.float(), [p.float() for p in params]
    leaves = [p.clone().requires_grad_() for p in params32]
    F.cross_entropy(mlp_forward(x32, *leaves)[2], y).backward()
    grads = mlp_backward(x32, y, params32[2], *mlp_forward(x32, *params32))
    for mine, leaf in zip(grads, leaves):
        assert mine.dtype == torch.float32
        torch.testing.assert_close(mine, leaf.grad, rtol=1e-5, atol=1e-6)


def test_gradient_descent_with_the_hand_written_gradients_learns_xor():
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 1, 0])
    g = torch.Generator().manual_seed(0)
    W1, b1 = torch.randn(2, 16, generator=g), torch.zeros(16)
    W2, b2 = 0.1 * torch.randn(16, 2, generator=g), torch.zeros(2)
    for _ in range(500):
        z1, h, logits = mlp_forward(x, W1, b1, W2, b2)
        dW1, db1, dW2, db2 = mlp_backward(x, y, W2, z1, h, logits)
        W1, b1, W2, b2 = W1 - 0.5 * dW1, b1 - 0.5 * db1, W2 - 0.5 * dW2, b2 - 0.5 * db2
    logits = mlp_forward(x, W1, b1, W2, b2)[2]
    assert torch.equal(logits.argmax(dim=1), y)
    assert F.cross_entropy(logits, y) < 0.05


# ---------------------------------------------------------------- output sizes

def _random_configs(count: int, seed: int):
    rng = random.Random(seed)
    found = []
    while len(found) < count:
        kernel, stride, dilation = rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 3)
        padding, size = rng.randint(0, 3), rng.randint(1, 40)
        found.append((size, kernel, stride, padding, dilation))
    return found


def test_conv_output_size_matches_conv2d_over_random_configurations():
    checked = 0
    for size, kernel, stride, padding, dilation in _random_configs(400, seed=0):
        if size + 2 * padding < dilation * (kernel - 1) + 1:
            continue  # the kernel does not fit: torch refuses the input
        layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
        width = size + 3  # a non-square input: height and width follow the same equation
        out = layer(torch.zeros(1, 1, size, width)).shape
        settings = (kernel, stride, padding, dilation)
        assert out[2:] == (conv_output_size(size, *settings), conv_output_size(width, *settings)), (size, settings)
        checked += 1
    assert checked > 250


def test_conv_output_size_matches_max_pooling_over_random_configurations():
    checked = 0
    for size, kernel, stride, padding, dilation in _random_configs(400, seed=1):
        padding = min(padding, kernel // 2)  # MaxPool2d: padding at most half the kernel
        if size + 2 * padding < dilation * (kernel - 1) + 1:
            continue
        layer = nn.MaxPool2d(kernel, stride=stride, padding=padding, dilation=dilation)
        out = layer(torch.zeros(1, 1, size, size)).shape
        settings = (kernel, stride, padding, dilation)
        assert out[-1] == conv_output_size(size, *settings), (size, settings)
        checked += 1
    assert checked > 250
    # nn.MaxPool2d(k): the stride defaults to the kernel.
    for size in range(2, 30):
        assert nn.MaxPool2d(2)(torch.zeros(1, 1, size, size)).shape[-1] == conv_output_size(size, 2, stride=2)


def test_conv_output_size_known_values_and_type():
    assert conv_output_size(32, 3, padding=1) == 32  # "same" convolution
    assert conv_output_size(32, 5) == 28
    assert conv_output_size(32, 3, stride=2, padding=1) == 16
    assert conv_output_size(28, 3, dilation=2) == 24  # a dilated 3x3 spans 5 pixels
    assert conv_output_size(7, 2, stride=2) == 3  # floor: the last row is dropped
    assert type(conv_output_size(10, 3)) is int


# ---------------------------------------------------------------- optimisers

def _quadratic_grads(seed: int, shape=(4, 3)):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=g) + 0.1
    target = torch.randn(shape, generator=g)
    start = torch.randn(shape, generator=g)
    return start, lambda p: a * (p - target) + 0.05 * torch.sin(3 * p)  # the gradient of a non-trivial loss


@pytest.mark.parametrize("lr, momentum, weight_decay", [(0.1, 0.9, 0.0), (0.05, 0.0, 0.0), (0.3, 0.5, 0.01)])
def test_sgd_momentum_step_matches_torch_optim_sgd(lr, momentum, weight_decay):
    start, grad_of = _quadratic_grads(seed=int(100 * lr))
    theirs = start.clone().requires_grad_()
    optimizer = torch.optim.SGD([theirs], lr=lr, momentum=momentum, weight_decay=weight_decay)
    mine, velocity = start.clone(), torch.zeros_like(start)
    for _ in range(12):
        theirs.grad = grad_of(theirs.detach())
        optimizer.step()
        mine, velocity = sgd_momentum_step(mine, grad_of(mine), velocity, lr, momentum, weight_decay)
        torch.testing.assert_close(mine, theirs.detach(), rtol=1e-6, atol=1e-6)


def test_sgd_momentum_step_leaves_its_inputs_alone():
    p, g, v = torch.ones(3), torch.full((3,), 2.0), torch.full((3,), 0.5)
    new_p, new_v = sgd_momentum_step(p, g, v, lr=0.1, momentum=0.9)
    assert torch.equal(p, torch.ones(3)) and torch.equal(v, torch.full((3,), 0.5))
    torch.testing.assert_close(new_v, torch.full((3,), 0.9 * 0.5 + 2.0))
    torch.testing.assert_close(new_p, torch.full((3,), 1 - 0.1 * 2.45))


@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (0.1, (0.8, 0.99), 1e-6),
                                            (0.01, (0.0, 0.9), 1e-8)])
def test_adam_step_matches_torch_optim_adam(lr, betas, eps):
    start, grad_of = _quadratic_grads(seed=int(1000 * lr), shape=(5,))
    theirs = start.clone().requires_grad_()
    optimizer = torch.optim.Adam([theirs], lr=lr, betas=betas, eps=eps)
    mine, m, v = start.clone(), torch.zeros_like(start), torch.zeros_like(start)
    for t in range(1, 16):
        theirs.grad = grad_of(theirs.detach())
        optimizer.step()
        mine, m, v = adam_step(mine, grad_of(mine), m, v, t, lr, betas[0], betas[1], eps)
        torch.testing.assert_close(mine, theirs.detach(), rtol=1e-5, atol=1e-6)
    state = optimizer.state[theirs]
    torch.testing.assert_close(m, state["exp_avg"], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(v, state["exp_avg_sq"], rtol=1e-5, atol=1e-9)


def test_adam_first_step_moves_every_coordinate_by_about_lr():
    # m_hat = g and v_hat = g^2 after one step, so the step is lr * g / (|g| + eps): lr in every coordinate.
    grad = torch.tensor([1e-3, -5.0, 200.0])
    new, _, _ = adam_step(torch.zeros(3), grad, torch.zeros(3), torch.zeros(3), step=1, lr=0.01)
    torch.testing.assert_close(new, -0.01 * grad.sign(), rtol=1e-4, atol=1e-7)


def test_every_exercise_of_07_is_answered_in_its_answer_file_and_fundamentals_uses_it():
    answered = {name for name, value in vars(a07_review).items()
                if inspect.isfunction(value) and value.__module__ == a07_review.__name__}
    assert answered == {"mlp_forward", "mlp_backward", "conv_output_size", "sgd_momentum_step", "adam_step"}
    for name in answered:
        assert getattr(fundamentals, name) is getattr(a07_review, name), name
