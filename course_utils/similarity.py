"""Cosine similarity between two batches of vectors.

The warm-up of notebook 00, and a building block of SimCLR's NT-Xent loss
(notebook 05) and CLIP's logits (notebook 06):

    S[i, j] = <a_i, b_j> / (||a_i|| * ||b_j||)

Normalise the rows once, then one matrix product gives every pair at once. ``recall_at_k`` ranks
keys by it for retrieval (notebook 06).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .answers.a00_welcome import cosine_similarity_matrix  # noqa: F401  (the answer to notebook 00)


@torch.no_grad()
def recall_at_k(query_features: torch.Tensor, key_features: torch.Tensor, k: int = 1,
                batch_size: int = 1024) -> float:
    """Retrieval recall@k: the fraction of queries i whose own key i ranks in the top k by cosine similarity.

    Args:
        query_features: (N, D), e.g. image embeddings; key_features: (N, D), e.g. their captions' embeddings.
    A key scoring as high as key i, to within 1e-6 (the same caption written twice, say), does not push key i down.
    """
    keys = F.normalize(key_features.float(), dim=1)  # (N, D)
    hits = 0
    for start in range(0, len(query_features), batch_size):  # batches keep the (B, N) matrix small
        query = F.normalize(query_features[start:start + batch_size].float(), dim=1)  # (B, D)
        similarity = query @ keys.T  # (B, N)
        rows = torch.arange(len(query), device=query.device)
        own = similarity[rows, rows + start]  # (B,): each query's score for its own key
        rank = (similarity > own[:, None] + 1e-6).sum(dim=1)  # (B,): keys strictly ahead of it
        hits += int((rank < k).sum())
    return hits / len(query_features)
