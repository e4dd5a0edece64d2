"""Notebook 04's graded exercises: RealNVP's coupling layer and its NLL, flow matching's loss and Euler
sampler, and classifier-free guidance (reused by notebook 06's unCLIP).

Each section below is the solution cell of the same grade id in solutions/04_flows/04_flows.ipynb.
"""
from __future__ import annotations

import math

import torch

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)


# %% coupling
def coupling_forward(x: torch.Tensor, mask: torch.Tensor, net) -> tuple[torch.Tensor, torch.Tensor]:
    """y = m x + (1 - m)(x exp(s) + t) with (s, t) = net(m x), and log |det dy/dx| per example (B,).

    x (B, D); mask (D,) of 0s and 1s, 1 where a coordinate is kept; net(x * mask) returns s and t, (B, D)
    each. Returns the tuple (y (B, D), log_det (B,)), differentiable in x and in net's weights.
    """
    ### BEGIN SOLUTION
    s, t = net(x * mask)
    s, t = s * (1 - mask), t * (1 - mask)
    return x * torch.exp(s) + t, s.sum(dim=1)
    # sample wrong answer: return x * torch.exp(s) + t, net(x * mask)[0].sum(dim=1)  # counts s of the kept coordinates too
    ### END SOLUTION


def coupling_inverse(y: torch.Tensor, mask: torch.Tensor, net) -> torch.Tensor:
    """x (B, D) from y = coupling_forward(x, mask, net)[0] (B, D), differentiable in y and in net's weights."""
    ### BEGIN SOLUTION
    s, t = net(y * mask)
    s, t = s * (1 - mask), t * (1 - mask)
    return (y - t) * torch.exp(-s)
    # sample wrong answer: return (y - t) * torch.exp(s)  # scales by e^s again instead of undoing it
    ### END SOLUTION


# %% nll
def negative_log_likelihood(z: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
    """-log p_X(x) per example (B,), in nats, from z = f(x) (B, D) and log |det df/dx| (B,), with p_Z = N(0, I);
    differentiable in z and log_det."""
    ### BEGIN SOLUTION
    return 0.5 * z.square().sum(dim=1) + 0.5 * z.shape[1] * math.log(2 * math.pi) - log_det
    # sample wrong answer: return 0.5 * z.square().sum(dim=1) + 0.5 * z.shape[1] * math.log(2 * math.pi) + log_det  # the Jacobian's sign flipped
    ### END SOLUTION


# %% flow_matching_loss
def flow_matching_loss(model, x1: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean squared error between model(x_t, t) and x1 - x0 on the straight path x_t = (1 - t) x0 + t x1.

    x1 (B, ...) is a batch of data; model(x_t, t) takes x_t (B, ...) and t (B,) and returns a velocity like
    x_t. The noise x0 ~ N(0, I) of x1's shape, then t ~ U[0, 1) (B,), are drawn in that order, in x1's
    dtype, with ``generator`` on the generator's device (``device=generator.device``; on x1's device when
    generator is None), then moved to x1's device (``.to(x1.device)``): a CPU generator works with CUDA
    data. Returns a scalar (0-d tensor), differentiable in the model's weights.
    """
    ### BEGIN SOLUTION
    device = x1.device if generator is None else generator.device  # draw where the generator is, then move
    x0 = torch.randn(x1.shape, generator=generator, device=device, dtype=x1.dtype).to(x1.device)
    # sample wrong answer: x0 = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)  # a CPU generator cannot draw on a GPU
    t = torch.rand(x1.shape[0], generator=generator, device=device, dtype=x1.dtype).to(x1.device)
    t_ = t.reshape(-1, *[1] * (x1.dim() - 1))  # (B, 1, ...): broadcasts over x1's other dimensions
    return torch.nn.functional.mse_loss(model((1 - t_) * x0 + t_ * x1, t), x1 - x0)
    # sample wrong answer: return torch.nn.functional.mse_loss(model((1 - t_) * x0 + t_ * x1, t), x1)  # regresses the data, not the velocity
    ### END SOLUTION


# %% euler_sample
def euler_sample(model, x0: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """The Euler path from the noise x0 (B, ...) at t = 0 to the samples at t = 1: a list of steps + 1 tensors
    like x0, x0 first. model(x, t) takes x (B, ...) and t (B,), on x0's device, and returns the velocity;
    steps of size h = 1 / steps at t = 0, h, 2h, ..., under torch.no_grad()."""
    ### BEGIN SOLUTION
    h = 1.0 / steps
    path = [x0]
    with torch.no_grad():
        for k in range(steps):
            t = torch.full((x0.shape[0],), k * h, device=x0.device)
            # sample wrong answer: t = torch.full((x0.shape[0],), (k + 1) * h, device=x0.device)  # the time at the end of the step
            path.append(path[-1] + h * model(path[-1], t))
    return path
    ### END SOLUTION


# %% guidance
def classifier_free_guidance(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """The guided noise prediction (shaped like eps_cond) from two predictions of the same shape; scale 0
    returns eps_cond."""
    ### BEGIN SOLUTION
    return eps_cond + scale * (eps_cond - eps_uncond)
    # sample wrong answer: return eps_uncond + scale * (eps_cond - eps_uncond)  # Stable Diffusion's scale s: 0 would be unconditional
    ### END SOLUTION
