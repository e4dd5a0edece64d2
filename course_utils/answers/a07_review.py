"""Notebook 07's graded exercises: an MLP's forward and backward pass by hand, the output size of a convolution,
one step of SGD with momentum and of Adam; and the answers to the review questions (blocks A, B and C).

Each section below is the solution cell of the same grade id in solutions/07_review/07_review.ipynb. The
review answers are module-level names set inside a solution region, after a template that sets each to None
(the students' notebook keeps the template): the students' copy has only the template.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)


# %% mlp_forward
def mlp_forward(x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
                b2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A two-layer MLP on x (N, D): returns z1 (N, H) before the ReLU, h (N, H) after it, and logits (N, C)."""
    ### BEGIN SOLUTION
    z1 = x @ W1 + b1  # (N, H)
    h = z1.clamp_min(0)  # (N, H)
    logits = h @ W2 + b2  # (N, C)
    return z1, h, logits
    ### END SOLUTION


# %% mlp_backward
def mlp_backward(x: torch.Tensor, y: torch.Tensor, W2: torch.Tensor, z1: torch.Tensor, h: torch.Tensor,
                 logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of the mean cross-entropy of logits (N, C) for labels y (N,): (dW1, db1, dW2, db2)."""
    ### BEGIN SOLUTION
    n, classes = logits.shape
    dlogits = (logits.softmax(dim=1) - F.one_hot(y, classes).to(logits.dtype)) / n  # (N, C)
    dW2 = h.T @ dlogits  # (H, C)
    db2 = dlogits.sum(dim=0)  # (C,)
    dh = dlogits @ W2.T  # (N, H)
    dz1 = dh * (z1 > 0).to(dh.dtype)  # (N, H): the ReLU lets the gradient through where it was active
    # sample wrong answer: dz1 = dh  # forgets the ReLU
    dW1 = x.T @ dz1  # (D, H)
    db1 = dz1.sum(dim=0)  # (H,)
    return dW1, db1, dW2, db2
    ### END SOLUTION


# %% conv_output_size
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The output height (or width) of a convolution or pooling layer for an input of height (or width) `size`."""
    ### BEGIN SOLUTION
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    ### END SOLUTION


# %% sgd_momentum_step
def sgd_momentum_step(param: torch.Tensor, grad: torch.Tensor, velocity: torch.Tensor, lr: float, momentum: float,
                      weight_decay: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of SGD with momentum and weight decay: returns (new param, new velocity)."""
    ### BEGIN SOLUTION
    g = grad + weight_decay * param
    new_velocity = momentum * velocity + g
    return param - lr * new_velocity, new_velocity
    ### END SOLUTION


# %% adam_step
def adam_step(param: torch.Tensor, grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int, lr: float = 1e-3,
              beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Adam at step number `step` (from 1): returns (new param, new m, new v)."""
    ### BEGIN SOLUTION
    new_m = beta1 * m + (1 - beta1) * grad
    new_v = beta2 * v + (1 - beta2) * grad**2
    m_hat = new_m / (1 - beta1**step)  # bias correction: m and v start at 0
    v_hat = new_v / (1 - beta2**step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), new_m, new_v
    ### END SOLUTION


# %% answers_fundamentals
answer_task_type = None        # 1. "a", "b", "c" or "d"
answer_conv_params = None      # 2. a whole number
answer_overfitting = None      # 3. "a", "b", "c" or "d"
answer_dropout_scale = None    # 4. a number (3 decimal places or better)
answer_batchnorm_eval = None   # 5. "a", "b", "c" or "d"
answer_receptive_field = None  # 6. a whole number
answer_initial_loss = None     # 7. a number (3 decimal places or better)
### BEGIN SOLUTION
answer_task_type = "b"
answer_conv_params = 3 * 16 * 5 * 5 + 16  # 1216
answer_overfitting = "d"
answer_dropout_scale = 1 / (1 - 0.2)  # 1.25
answer_batchnorm_eval = "c"
answer_receptive_field = 7  # 3, then 5, then 7
answer_initial_loss = math.log(5)  # -log(1/5) = 1.609
### END SOLUTION


# %% answers_generative
answer_generative = None             # 1. "a", "b", "c" or "d"
answer_linear_autoencoder = None     # 2. "a", "b", "c" or "d"
answer_vae_kl = None                 # 3. a number (3 decimal places or better)
answer_reparameterisation = None     # 4. "a", "b", "c" or "d"
answer_optimal_discriminator = None  # 5. a number (3 decimal places or better)
answer_mode_collapse = None          # 6. "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_generative = "d"
answer_linear_autoencoder = "b"
answer_vae_kl = 0.5 * ((1 + 1 - 1 - 0) + (0 + 2 - 1 - math.log(2)))  # 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2) = 0.653
answer_reparameterisation = "a"
answer_optimal_discriminator = 0.5  # p_data / (p_data + p_g)
answer_mode_collapse = "c"
### END SOLUTION


# %% answers_contrastive
answer_pretext = None           # 1. "a", "b", "c" or "d"
answer_triplet_loss = None      # 2. a number (3 decimal places or better)
answer_cosine = None            # 3. a number (3 decimal places or better)
answer_nt_xent_constant = None  # 4. a number (3 decimal places or better)
answer_projection_head = None   # 5. "a", "b", "c" or "d"
answer_temperature = None       # 6. "a", "b", "c" or "d"
answer_clip_zero_shot = None    # 7. "a", "b", "c" or "d"
answer_typographic = None       # 8. "a", "b", "c" or "d"
### BEGIN SOLUTION
answer_pretext = "c"
answer_triplet_loss = max(0.0, 0.3 - 0.5 + 0.5)  # 0.3
answer_cosine = 4 / (3 * math.sqrt(5))  # (2 + 0 + 2) / (3 x sqrt 5) = 0.596
answer_nt_xent_constant = math.log(2 * 128 - 1)  # every one of the 255 candidates equally likely: log 255 = 5.541
answer_projection_head = "b"
# sample wrong answer: answer_projection_head = "a"
answer_temperature = "a"
answer_clip_zero_shot = "d"
answer_typographic = "a"
### END SOLUTION
