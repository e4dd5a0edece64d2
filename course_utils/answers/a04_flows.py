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
    """y = m x + (1 - m)(x exp(s) + t) with (s, t) = net(m x), and log |det dy/dx| per example (B,)."""
    ### BEGIN SOLUTION
    s, t = net(x * mask)
    s, t = s * (1 - mask), t * (1 - mask)
    return x * torch.exp(s) + t, s.sum(dim=1)
    # sample wrong answer: return x * torch.exp(s) + t, net(x * mask)[0].sum(dim=1)  # counts s of the kept coordinates too
    ### END SOLUTION


def coupling_inverse(y: torch.Tensor, mask: torch.Tensor, net) -> torch.Tensor:
    """x from y = coupling_forward(x, mask, net)[0]."""
    ### BEGIN SOLUTION
    s, t = net(y * mask)
    s, t = s * (1 - mask), t * (1 - mask)
    return (y - t) * torch.exp(-s)
    ### END SOLUTION


# %% nll
def negative_log_likelihood(z: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
    """-log p_X(x) per example (B,), in nats, from z = f(x) (B, D) and log |det df/dx| (B,)."""
    ### BEGIN SOLUTION
    return 0.5 * z.square().sum(dim=1) + 0.5 * z.shape[1] * math.log(2 * math.pi) - log_det
    ### END SOLUTION


# %% flow_matching_loss
def flow_matching_loss(model, x1: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean squared error between model(x_t, t) and x1 - x0 on the straight path x_t = (1 - t) x0 + t x1."""
    ### BEGIN SOLUTION
    x0 = torch.randn(x1.shape, generator=generator, device=x1.device)
    t = torch.rand(x1.shape[0], generator=generator, device=x1.device)
    t_ = t.reshape(-1, *[1] * (x1.dim() - 1))
    return torch.nn.functional.mse_loss(model((1 - t_) * x0 + t_ * x1, t), x1 - x0)
    # sample wrong answer: return torch.nn.functional.mse_loss(model((1 - t_) * x0 + t_ * x1, t), x1)  # regresses the data, not the velocity
    ### END SOLUTION


# %% euler_sample
def euler_sample(model, x0: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """The Euler path from the noise x0 (t = 0) to the samples (t = 1): steps + 1 tensors like x0."""
    ### BEGIN SOLUTION
    h = 1.0 / steps
    path = [x0]
    with torch.no_grad():
        for k in range(steps):
            t = torch.full((x0.shape[0],), k * h, device=x0.device)
            path.append(path[-1] + h * model(path[-1], t))
    return path
    ### END SOLUTION


# %% guidance
def classifier_free_guidance(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """The guided noise prediction; scale 0 returns eps_cond."""
    ### BEGIN SOLUTION
    return eps_cond + scale * (eps_cond - eps_uncond)
    # sample wrong answer: return eps_uncond + scale * (eps_cond - eps_uncond)  # Stable Diffusion's scale s: 0 would be unconditional
    ### END SOLUTION
