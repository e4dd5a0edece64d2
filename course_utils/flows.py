"""Normalising flows (notebook 04): RealNVP's affine coupling layer and the change of variables.

A flow is an invertible map f from data x to a code z = f(x) whose density is simple, here
p_Z = N(0, I). The density of the data follows exactly from the change of variables formula:

    log p_X(x) = log p_Z(f(x)) + log |det df/dx (x)|

so a flow is trained by maximum likelihood, minimising the negative log-likelihood (NLL) in
nats per point, and it samples by drawing z ~ N(0, I) and inverting: x = f^{-1}(z).

An affine coupling layer (Dinh et al., 2017, "RealNVP") is invertible by construction and its
Jacobian is triangular. A binary mask m (B, D) keeps some coordinates and changes the others,
with a scale and a shift computed from the kept ones only:

    y = m * x + (1 - m) * (x * exp(s(m * x)) + t(m * x))              (eq. 9)
    log |det dy/dx| = sum over the changed coordinates of s(m * x)
    x = m * y + (1 - m) * (y - t(m * y)) * exp(-s(m * y))             (the inverse: m * y = m * x)

Stacking layers with alternating masks lets every coordinate change. The flow here first
standardises the data with the train set's mean and std, a fixed affine map whose log-determinant
it counts, so the NLL is in the data's own units.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .answers.a04_flows import coupling_forward, coupling_inverse, negative_log_likelihood  # noqa: F401  (answers)
from .config import pick
from .train import History, minimise


@dataclass
class FlowConfig:
    """A RealNVP for 2-D points and how it trains. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    dim: int = 2
    layers: int = 8  # coupling layers, with alternating masks
    hidden: int = 128  # width of each layer's scale-and-shift MLP
    depth: int = 3  # hidden layers of that MLP
    lr: float = 2e-3
    batch_size: int = 256
    steps: int = field(default_factory=lambda: pick(fast=200, full=2000))


class ScaleShift(nn.Module):
    """The s and t of one coupling layer: an MLP of the kept coordinates m * x (B, D) -> (s, t), (B, D) each.

    s = tanh(raw) * scale, with a learned per-coordinate scale: exp(s) cannot explode early in
    training (as in RealNVP's code). The last layer starts at zero (as in Glow), so s = t = 0 and
    every layer starts as the identity.
    """

    def __init__(self, dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        sizes = [dim] + [hidden] * depth
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.SiLU()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x_kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x_kept).chunk(2, dim=1)  # (B, D) each
        return torch.tanh(s) * self.scale, t


class Flow(nn.Module):
    """RealNVP: standardise, then ``config.layers`` affine couplings with alternating masks. x (B, D) <-> z (B, D).

    ``forward`` and ``inverse`` run the coupling functions it is given (yours in the notebook).
    """

    def __init__(self, config: FlowConfig, forward: Callable = coupling_forward,
                 inverse: Callable = coupling_inverse) -> None:
        super().__init__()
        self.config = config
        self.coupling_forward, self.coupling_inverse = forward, inverse
        self.nets = nn.ModuleList(ScaleShift(config.dim, config.hidden, config.depth) for _ in range(config.layers))
        first = (torch.arange(config.dim) % 2).float()  # [0, 1, 0, 1, ...]
        self.register_buffer("masks", torch.stack([first if k % 2 == 0 else 1 - first for k in range(config.layers)]))
        self.register_buffer("mean", torch.zeros(config.dim))  # set from the data by ``train_flow``
        self.register_buffer("std", torch.ones(config.dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, D) -> z (B, D) and log |det dz/dx| (B,)."""
        z = (x - self.mean) / self.std
        log_det = (-self.std.log().sum()).expand(len(x))  # the standardisation's Jacobian
        for mask, net in zip(self.masks, self.nets):
            z, layer_log_det = self.coupling_forward(z, mask, net)
            log_det = log_det + layer_log_det
        return z, log_det

    def inverse(self, z: torch.Tensor, layers: int | None = None) -> torch.Tensor:
        """z (B, D) -> x (B, D): the layers undone in reverse order, then the standardisation.

        With ``layers = k`` < ``config.layers``, only the last k layers are undone (and not the
        standardisation): how far a point has come on its way from z to x.
        """
        layers = len(self.nets) if layers is None else layers
        for mask, net in list(zip(self.masks, self.nets))[::-1][:layers]:
            z = self.coupling_inverse(z, mask, net)
        return z * self.std + self.mean if layers == len(self.nets) else z

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, nll: Callable = negative_log_likelihood) -> torch.Tensor:
        """log p_X(x) (B,) of points x (B, D), e.g. for a heat map of the density."""
        return -nll(*self(x))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points (n, D): z ~ N(0, I) drawn with ``generator`` (on its device), then x = f^{-1}(z)."""
        device = self.masks.device
        z = torch.randn(n, self.config.dim, generator=generator,
                        device=generator.device if generator is not None else device).to(device)
        return self.inverse(z)


def train_flow(flow: Flow, x: torch.Tensor, nll: Callable = negative_log_likelihood, desc: str = "flow",
               progress: bool = True) -> History:
    """Minimise the mean NLL of ``flow`` on random batches of ``x`` (N, D), on x's device.

    Sets the flow's standardisation from x first. Adam, with the learning rate decaying along a cosine to 0.
    """
    flow.to(x.device)
    flow.mean.copy_(x.mean(dim=0))
    flow.std.copy_(x.std(dim=0))
    config = flow.config
    return minimise(flow, lambda batch: nll(*flow(batch)).mean(), x, steps=config.steps,
                    batch_size=config.batch_size, lr=config.lr, desc=desc, progress=progress)


@torch.no_grad()
def mean_nll(flow: Flow, x: torch.Tensor, nll: Callable = negative_log_likelihood) -> float:
    """The mean NLL of points x (N, D) under the flow, in nats per point (the test NLL on a test set)."""
    flow.eval()
    return float(nll(*flow(x)).mean())
