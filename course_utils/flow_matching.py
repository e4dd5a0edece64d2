"""Flow matching (notebook 04): a velocity field that carries noise to data along straight lines.

Draw noise x_0 ~ N(0, I) and a data point x_1, and join them by the straight path
(Lipman et al., 2023; Liu et al., 2023, "rectified flow"; here t = 0 is noise and t = 1 is data):

    x_t = (1 - t) x_0 + t x_1,    t ~ U[0, 1],    whose velocity is d x_t / dt = x_1 - x_0.

A network v_theta(x_t, t) regresses that velocity:

    L = E_{t, x_0, x_1} || v_theta(x_t, t) - (x_1 - x_0) ||^2

Many paths cross each point, so the best v is their mean velocity there; integrating
dx/dt = v_theta(x, t) from noise at t = 0 still ends on the data at t = 1. Sampling is an ODE
solve, here with Euler steps x_{t + dt} = x_t + dt v_theta(x_t, t). The paths of the learned field
are close to straight, so a few steps go a long way: diffusion's deterministic sampler (DDIM)
follows curved paths and needs more.

The velocity network is 03's 2-D denoiser (``toy_diffusion.ToyDenoiser``), the same MLP on the
same inputs, told t in [0, 1] as 03's step t x 1,000: the comparison with diffusion in the notebook
differs in the objective only.
"""
from __future__ import annotations

from typing import Callable

import torch

from .answers.a04_flows import euler_sample, flow_matching_loss  # noqa: F401  (04's answers)
from .toy_diffusion import ToyDenoiser, ToyDiffusionConfig
from .train import History, minimise


class VelocityField(ToyDenoiser):
    """v_theta(x_t, t) for 2-D points, t in [0, 1]: 03's ``ToyDenoiser`` told t as the step t x 1,000."""

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return super().forward(x_t, t * 1000)


def train_flow_matching(points: torch.Tensor, config: ToyDiffusionConfig,
                        loss: Callable[..., torch.Tensor] = flow_matching_loss, desc: str = "flow matching",
                        progress: bool = True) -> tuple[VelocityField, History]:
    """Train a ``VelocityField`` on (N, 2) ``points`` (on their device) with ``loss(model, x1)``, as 03 trains its denoiser."""
    model = VelocityField(config).to(points.device)
    history = minimise(model, lambda x1: loss(model, x1), model.from_data(points), steps=config.steps,
                       batch_size=config.batch_size, lr=config.lr, desc=desc, progress=progress)
    return model, history


def straightness(path: list[torch.Tensor]) -> float:
    """How far sampling paths are from straight lines run at constant speed; 0 when they are exactly that.

    Liu et al.'s (2023) straightness, the mean over steps of ||(x_end - x_start) - v_k||^2, made relative
    by the mean of ||x_end - x_start||^2: v_k is the velocity of step k with time running from 0 to 1
    (K steps: v_k = K (x_{k+1} - x_k)). A curved path, or a straight one run at changing speed, scores
    above 0: either way, evenly spaced Euler steps go wrong. ``path`` lists the states (B, ...), K + 1 of them.
    """
    states = torch.stack(path).flatten(2)  # (K + 1, B, D)
    steps = len(path) - 1
    velocities = steps * (states[1:] - states[:-1])  # (K, B, D)
    direct = states[-1] - states[0]  # (B, D)
    return float((velocities - direct).square().sum(dim=2).mean() / direct.square().sum(dim=1).mean())
