"""Principal component analysis by the singular value decomposition (notebook 01).

Centre the data, X_c = X - mean, and take its thin SVD, X_c = U S V^T. The rows
of V^T are the principal directions, ordered by the variance they explain,
S_i^2 / (N - 1). Keeping the first k of them, C = V^T[:k] of shape (k, D):

    codes          z = (x - mean) C^T            (N, k)
    reconstruction x_hat = z C + mean            (N, D)

Among all k-dimensional linear codes, this one has the smallest squared
reconstruction error (Eckart-Young), which is why a linear autoencoder trained
with the squared error ends up spanning the same subspace.
"""
from __future__ import annotations

import torch

from .answers.a01_autoencoders import pca_fit, pca_project, pca_reconstruct  # noqa: F401  (the answers to notebook 01)


def explained_variance_ratio(x: torch.Tensor) -> torch.Tensor:
    """The share of the total variance of ``x`` (N, D) along each principal direction, largest first."""
    s = torch.linalg.svdvals(x - x.mean(dim=0))
    return s**2 / (s**2).sum()


def subspace_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between the spans of the rows of ``a`` (k, D) and ``b`` (m, D).

    All ones when the two span the same subspace, whatever the basis (a linear
    autoencoder's decoder need not be orthonormal, nor ordered like PCA).
    """
    qa = torch.linalg.qr(a.T).Q  # (D, k) orthonormal basis of a's rows
    qb = torch.linalg.qr(b.T).Q  # (D, m)
    return torch.linalg.svdvals(qa.T @ qb).clamp(max=1.0)  # (min(k, m),)
