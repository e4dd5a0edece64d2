"""Cosine similarity between two batches of vectors.

The warm-up of notebook 00, and a building block of SimCLR's NT-Xent loss
(notebook 05) and CLIP's logits (notebook 06):

    S[i, j] = <a_i, b_j> / (||a_i|| * ||b_j||)

Normalise the rows once, then one matrix product gives every pair at once.
"""
from __future__ import annotations

import torch

from .reference import answers


@answers("00_welcome", "cosine_similarity_matrix")
def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """All pairwise cosine similarities between the rows of ``a`` and of ``b``.

    Args:
        a: (N, D) vectors.
        b: (M, D) vectors.
        eps: lower bound on a norm, so a zero vector gives similarity 0, not NaN.
    Returns:
        (N, M) tensor with ``S[i, j] = cos(a[i], b[j])``, on a's device.
    """
    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)  # (N, D)
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)  # (M, D)
    return a_unit @ b_unit.T  # (N, M)
