"""Notebook 00's graded exercise: the cosine-similarity matrix (reused by SimCLR in 05 and CLIP in 06).

Each section below is the solution cell of the same grade id in solutions/00_welcome/00_welcome.ipynb.
"""
from __future__ import annotations

import torch

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)

# %% cosine_similarity_matrix
def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """All pairwise cosine similarities between the rows of a (N, D) and of b (M, D).

    Returns an (N, M) tensor S with S[i, j] = cos(a[i], b[j]); a zero row gives similarity 0.
    """
    ### BEGIN SOLUTION
    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)  # (N, D)
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)  # (M, D)
    return a_unit @ b_unit.T  # (N, M)
    # sample wrong answer: return (a_unit @ b_unit.T).float()  # forgets to keep the inputs' dtype
    ### END SOLUTION
