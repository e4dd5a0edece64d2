"""Denoising diffusion (notebook 03): the noise schedule, DDPM's loss and sampler, and DDIM.

The forward process adds Gaussian noise in T small steps, q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I).
With alpha_t = 1 - beta_t and alpha_bar_t = prod_{s <= t} alpha_s, any step is one jump from the data:

    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,    eps ~ N(0, I)      (Ho et al., 2020, eq. 4)

A network eps_theta(x_t, t) learns to predict the noise that was added (Algorithm 1, "training"):

    L = E_{x_0, t, eps} || eps - eps_theta(x_t, t) ||^2,    t uniform in {0, ..., T-1}

and new samples come from running the process backwards from x_T ~ N(0, I) (Algorithm 2, "sampling"):

    x_{t-1} = 1 / sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) + sigma_t z,
    sigma_t^2 = beta_t, z ~ N(0, I), and no noise on the last step.

DDIM (Song et al., 2021) uses the same network, but a deterministic update that can skip steps:
predict x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), then jump to any earlier t',

    x_t' = sqrt(alpha_bar_t') x_0 + sqrt(1 - alpha_bar_t') eps               (eq. 12 with eta = 0)

so 50 network calls instead of 1,000. Timesteps count from 0 here (the paper's t = 1 is our t = 0).

Diffusion works on normalised data: the 2-D denoiser (``course_utils.toy_diffusion``) sees points divided by ``data_scale``
(about [-1, 1]); the digits denoiser (``course_utils.unet``) sees images scaled to [-1, 1].
Samplers return samples in that space and ``model.to_data`` maps them back. Any model
``model(x_t, t) -> eps`` works with the loss and the samplers; the training and sampling
functions take the loss and the steps as arguments, so the notebook runs yours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

# The exercises of notebook 03: linear_betas and alpha_bar (the schedule), q_sample and ddpm_loss (Algorithm 1),
# ddpm_step (Algorithm 2) and ddim_step; written once, in the answer file.
from .answers.a03_diffusion import alpha_bar, ddim_step, ddpm_loss, ddpm_step, linear_betas, q_sample  # noqa: F401
from .train import History, minimise

# ---------------------------------------------------------------- the noise schedule: the cosine one


def cosine_alpha_bar(steps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol and Dhariwal's (2021) schedule, alpha_bar_t = f(t) / f(0) with f(t) = cos^2((t/T + s) / (1 + s) pi/2).

    It destroys information more evenly than the linear schedule. The betas it implies,
    1 - alpha_bar_t / alpha_bar_{t-1}, are clipped to at most 0.999 (the last ones approach 1). Returns (T,).
    """
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


def betas_from_alpha_bar(alpha_bar: torch.Tensor) -> torch.Tensor:
    """The betas of a schedule given by its alpha_bar: beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}, (T,)."""
    previous = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
    return 1 - alpha_bar / previous


# ---------------------------------------------------------------- sampling (Algorithm 2, DDIM)


@dataclass
class Samples:
    """What a sampler returns: the samples, how many times it ran the network, and optionally every x_t."""

    x: torch.Tensor  # (B, ...) the final samples, in the model's (normalised) space
    calls: int  # network evaluations
    trajectory: list[torch.Tensor] = field(default_factory=list)  # x_T, ..., x_0 on the CPU (if asked for)


def _device(model: nn.Module) -> torch.device:
    """Where the model lives: the device of its first parameter or buffer (the CPU if it has neither)."""
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard normal noise drawn with ``generator`` on its own device (the same numbers on any device)."""
    return torch.randn(shape, generator=generator, device=generator.device if generator else device).to(device)


def predict_noise(model: nn.Module, x_t: torch.Tensor, t: int, alpha_bar: torch.Tensor,
                  clip: float | None = None) -> torch.Tensor:
    """The model's noise prediction eps for x_t (B, ...) at step t, optionally clipped.

    With ``clip``, the noise that the predicted x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t),
    clipped to [-clip, clip], implies: samples cannot leave the data's range whatever the model says
    (Ho et al.'s code clips images to [-1, 1] the same way), and the steps need not change.
    """
    eps = model(x_t, torch.full((x_t.shape[0],), t, device=x_t.device))
    if clip is None:
        return eps
    ab = alpha_bar[t]
    x0 = ((x_t - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-clip, clip)
    return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()


@torch.no_grad()
def ddpm_sample(model: nn.Module, shape: tuple[int, ...], betas: torch.Tensor, alpha_bar: torch.Tensor,
                generator: torch.Generator | None = None, trajectory: bool = False,
                step: Callable[..., torch.Tensor] = ddpm_step, clip: float | None = None) -> Samples:
    """Algorithm 2: start from x_T ~ N(0, I) of ``shape`` and take all T ancestral steps with ``step``."""
    model.eval()
    device = _device(model)
    betas, alpha_bar = betas.to(device), alpha_bar.to(device)
    x = _randn(shape, generator, device)
    path = [x.cpu()] if trajectory else []
    for t in range(len(betas) - 1, -1, -1):
        eps = predict_noise(model, x, t, alpha_bar, clip)
        x = step(x, t, eps, betas, alpha_bar, _randn(shape, generator, device) if t > 0 else None)
        if trajectory:
            path.append(x.cpu())
    return Samples(x, len(betas), path)


def ddim_timesteps(total: int, steps: int) -> list[int]:
    """``steps`` evenly spaced timesteps from T-1 down to 0, e.g. T=1000, 4 steps: [999, 666, 333, 0]."""
    return torch.linspace(total - 1, 0, steps).round().long().tolist()


@torch.no_grad()
def ddim_sample(model: nn.Module, shape: tuple[int, ...], alpha_bar: torch.Tensor, steps: int,
                generator: torch.Generator | None = None, trajectory: bool = False,
                step: Callable[..., torch.Tensor] = ddim_step, clip: float | None = None) -> Samples:
    """DDIM with eta = 0: from x_T ~ N(0, I), ``steps`` deterministic jumps down evenly spaced timesteps."""
    model.eval()
    device = _device(model)
    alpha_bar = alpha_bar.to(device)
    x = _randn(shape, generator, device)
    path = [x.cpu()] if trajectory else []
    times = ddim_timesteps(len(alpha_bar), steps)
    for t, t_prev in zip(times, times[1:] + [-1]):
        x = step(x, t, t_prev, predict_noise(model, x, t, alpha_bar, clip), alpha_bar)
        if trajectory:
            path.append(x.cpu())
    return Samples(x, steps, path)


# ---------------------------------------------------------------- the step's embedding, for every denoiser


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features of the integer steps t (B,), as for positions in a Transformer: (B, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)  # (dim/2,)
    angles = t.float()[:, None] * frequencies[None]  # (B, dim/2)
    return torch.cat([angles.cos(), angles.sin()], dim=1)


# ---------------------------------------------------------------- training


def make_schedule(config) -> tuple[torch.Tensor, torch.Tensor]:
    """The betas and alpha_bar, (T,) each, of a config's ``schedule`` ("linear" or "cosine") and ``timesteps``.

    ``config`` is a ``toy_diffusion.ToyDiffusionConfig`` or a ``unet.DigitsDiffusionConfig``.
    """
    if config.schedule == "linear":
        betas = linear_betas(config.timesteps)
        return betas, alpha_bar(betas)
    if config.schedule == "cosine":
        ab = cosine_alpha_bar(config.timesteps)
        return betas_from_alpha_bar(ab), ab
    raise ValueError(f"Unknown schedule {config.schedule!r}: choose 'linear' or 'cosine'.")


def train_diffusion(model: nn.Module, x: torch.Tensor, alpha_bar: torch.Tensor, *, steps: int, batch_size: int,
                    lr: float, loss: Callable[..., torch.Tensor] = ddpm_loss, desc: str = "diffusion",
                    progress: bool = True) -> History:
    """Minimise ``loss(model, x0, alpha_bar)`` (your ``ddpm_loss`` in the notebook) on random batches of ``x``.

    ``x`` (N, ...) is already in the model's space and on its device. Adam, with the learning rate
    decaying along a cosine to 0, so the last weights need no averaging (an EMA of them samples no better).
    """
    alpha_bar = alpha_bar.to(x.device)
    return minimise(model, lambda x0: loss(model, x0, alpha_bar), x, steps=steps, batch_size=batch_size, lr=lr,
                    desc=desc, progress=progress)
