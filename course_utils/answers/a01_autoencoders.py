"""Notebook 01's graded exercises: PCA, the denoising corruption, and the VAE's reparameterisation, KL and loss.

Each section below is the solution cell of the same grade id in solutions/01_autoencoders/01_autoencoders.ipynb.
The concept modules import them from here: ``pca`` (pca_fit, pca_project, pca_reconstruct), ``autoencoders``
(corrupt) and ``vae`` (reparameterise, kl_to_standard_normal, negative_elbo).
"""
from __future__ import annotations

import torch

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)

# %% pca
def pca_fit(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean (D,) of x (N, D) and its first k principal directions, the rows of a (k, D) matrix.

    For 1 <= k <= min(N - 1, D): the centred data has no further directions of non-zero variance.
    """
    ### BEGIN SOLUTION
    centre = x.mean(dim=0)  # (D,)
    _, _, v_t = torch.linalg.svd(x - centre, full_matrices=False)  # v_t: (min(N, D), D), rows by variance
    return centre, v_t[:k]
    # sample wrong answer: return centre, v_t[:, :k].T  # the columns of V^T, not its rows
    ### END SOLUTION


def pca_project(x: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """The codes (N, k) of x (N, D) along the (k, D) components."""
    ### BEGIN SOLUTION
    return (x - mean) @ components.T  # (N, k)
    # sample wrong answer: return x @ components.T  # forgets to centre x first
    ### END SOLUTION


def pca_reconstruct(codes: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """Back from codes (N, k) to data space (N, D)."""
    ### BEGIN SOLUTION
    return codes @ components + mean  # (N, D)
    ### END SOLUTION

# %% corrupt
def corrupt(x: torch.Tensor, noise_std: float, noise: torch.Tensor | None = None) -> torch.Tensor:
    """x (B, D) in [0, 1] plus noise_std times noise, clipped to [0, 1].

    noise (B, D) is given, or drawn here when it is None: standard normal, on x's device, like x.
    """
    ### BEGIN SOLUTION
    eps = torch.randn_like(x) if noise is None else noise
    return torch.clamp(x + noise_std * eps, min=0.0, max=1.0)
    # sample wrong answer: return x + noise_std * eps  # forgets to clip to the pixel range
    ### END SOLUTION

# %% reparameterise
def reparameterise(mu: torch.Tensor, log_var: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + exp(log_var / 2) * eps, all (B, k); eps ~ N(0, I) drawn here, on mu's device, when it is None."""
    ### BEGIN SOLUTION
    if eps is None:
        eps = torch.randn_like(mu)
    sigma = torch.exp(log_var / 2)
    return mu + sigma * eps
    # sample wrong answer: return mu + log_var.exp() * eps  # scales by the variance, not the standard deviation
    ### END SOLUTION

# %% kl_to_standard_normal
def kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(log_var))) || N(0, I)) for each of the B examples: (B, k) -> (B,)."""
    ### BEGIN SOLUTION
    per_dimension = mu.pow(2) + log_var.exp() - 1 - log_var  # (B, k)
    return 0.5 * per_dimension.sum(dim=1)
    # sample wrong answer: return 0.5 * per_dimension.mean(dim=1)  # averages over the latent dimensions
    ### END SOLUTION

# %% negative_elbo
def negative_elbo(x_logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """The VAE's loss: Bernoulli reconstruction term summed over pixels, plus KL, averaged over the batch."""
    ### BEGIN SOLUTION
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x_logits, x, reduction="none")  # (B, D)
    return (bce.sum(dim=1) + kl_to_standard_normal(mu, log_var)).mean()
    # sample wrong answer: return (bce.mean(dim=1) + kl_to_standard_normal(mu, log_var)).mean()  # a mean over pixels
    ### END SOLUTION
