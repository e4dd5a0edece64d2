"""Notebook 03's graded exercises: the noise schedule, q_sample, DDPM's loss, the DDPM and DDIM steps.

Each section below is the solution cell of the same grade id in solutions/03_diffusion/03_diffusion.ipynb;
``course_utils.diffusion`` imports them (its samplers and training use them by default, and so do the
later notebooks' denoisers).
"""
from __future__ import annotations

import torch

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)

# %% noise_schedule
def linear_betas(steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """`steps` betas evenly spaced from beta_start to beta_end (both included): shape (T,)."""
    ### BEGIN SOLUTION
    return torch.linspace(beta_start, beta_end, steps)
    ### END SOLUTION


def alpha_bar(betas: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t = prod over s <= t of (1 - beta_s), for betas (T,): shape (T,), on betas' device and in its
    dtype, differentiable in betas (a learned schedule back-propagates through it)."""
    ### BEGIN SOLUTION
    return torch.cumprod(1 - betas, dim=0)
    # sample wrong answer: return torch.cumprod(betas, dim=0)  # the product of the betas, not of 1 - beta
    ### END SOLUTION

# %% q_sample
def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha_bar[t]) x0 + sqrt(1 - alpha_bar[t]) noise, each example of x0 (B, ...) at its own t (B,).

    t holds integer steps, on x0's device or the CPU; noise has x0's shape; alpha_bar (T,) may be on another
    device than x0 (e.g. the CPU): move it to x0's device. Returns x_t like x0, on its device, differentiable
    in x0, noise and alpha_bar.
    """
    ### BEGIN SOLUTION
    ab = alpha_bar.to(x0.device)[t.to(x0.device)]  # (B,)
    ab = ab.reshape(-1, *[1] * (x0.dim() - 1))  # (B, 1, ..., 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    # sample wrong answer: return ab * x0 + (1 - ab) * noise  # the variances used as the factors
    ### END SOLUTION

# %% ddpm_loss
def ddpm_loss(model, x0: torch.Tensor, alpha_bar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean squared error between the noise and model(x_t, t), with t and the noise drawn per example.

    x0 (B, ...) is a batch of data; model(x_t, t) takes x_t (B, ...) and t (B,) and returns its guess of the
    noise, like x_t. The steps t ~ U{0, ..., T-1} (B,) with T = len(alpha_bar), then the noise ~ N(0, I) of
    x0's shape, are drawn in that order with ``generator`` on the generator's device
    (``device=generator.device``; on x0's device when generator is None), then moved to x0's device
    (``.to(x0.device)``): a CPU generator works with CUDA data. x_t comes from ``q_sample``. Returns a scalar
    (0-d tensor), differentiable in the model's weights (and in x0 and alpha_bar).
    """
    ### BEGIN SOLUTION
    device = generator.device if generator is not None else x0.device  # draw where the generator lives
    t = torch.randint(len(alpha_bar), (x0.shape[0],), generator=generator, device=device).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=device).to(x0.device)
    return torch.nn.functional.mse_loss(model(q_sample(x0, t, noise, alpha_bar), t), noise)
    # sample wrong answer: return torch.nn.functional.mse_loss(model(q_sample(x0, t, noise, alpha_bar), t), x0)  # predicts x0, not the noise
    ### END SOLUTION

# %% ddpm_step
def ddpm_step(x_t: torch.Tensor, t: int, eps: torch.Tensor, betas: torch.Tensor, alpha_bar: torch.Tensor,
              noise: torch.Tensor | None) -> torch.Tensor:
    """x_{t-1} from x_t and the predicted noise eps (Algorithm 2); no noise added at t == 0.

    x_t, eps and noise are (B, ...), betas and alpha_bar (T,), all on one device; t is a plain int. At t == 0
    the result is the mean alone, whether or not noise is given (the sampler passes None there). Returns
    x_{t-1} like x_t, differentiable in x_t, eps and noise.
    """
    ### BEGIN SOLUTION
    beta = betas[t]
    mean = (x_t - beta / (1 - alpha_bar[t]).sqrt() * eps) / (1 - beta).sqrt()
    return mean if t == 0 else mean + beta.sqrt() * noise
    # sample wrong answer: return mean + beta.sqrt() * noise if noise is not None else mean  # adds noise at t == 0 too
    ### END SOLUTION

# %% ddim_step
def ddim_step(x_t: torch.Tensor, t: int, t_prev: int, eps: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """The deterministic DDIM step from t to t_prev < t; t_prev = -1 returns the predicted x0.

    x_t and eps are (B, ...), alpha_bar (T,), all on one device; t and t_prev are plain ints. Returns x_{t_prev}
    like x_t, differentiable in x_t and eps.
    """
    ### BEGIN SOLUTION
    x0 = (x_t - (1 - alpha_bar[t]).sqrt() * eps) / alpha_bar[t].sqrt()
    ab_prev = alpha_bar[t_prev] if t_prev >= 0 else alpha_bar.new_tensor(1.0)
    return ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
    # sample wrong answer: return alpha_bar[t_prev].sqrt() * x0 + (1 - alpha_bar[t_prev]).sqrt() * eps  # t_prev = -1 reads the last step
    ### END SOLUTION
