"""Notebook 06's graded exercises: CLIP's symmetric loss, the zero-shot classifier, its predictions and top-k accuracy.

Each section below is the solution cell of the same grade id in solutions/06_clip/06_clip.ipynb.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)


def embed_texts(model, tokenizer, texts: list[str], batch_size: int = 500) -> torch.Tensor:
    """``clip.embed_texts``, which the notebook imports and ``zero_shot_classifier`` calls: unit text embeddings
    (M, D). Imported when called, because ``clip`` imports this file."""
    from ..clip import embed_texts as embed

    return embed(model, tokenizer, texts, batch_size)


# %% clip_loss
def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale) -> torch.Tensor:
    """CLIP's symmetric loss for (N, D) unit-length image and text features (row i of both from pair i): a scalar."""
    ### BEGIN SOLUTION
    logits = logit_scale * image_features @ text_features.T  # (N, N): image i against every caption
    targets = torch.arange(len(logits), device=logits.device)  # (N,): pair i is on the diagonal
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    # sample wrong answer: return F.cross_entropy(logits, targets)  # images to captions only
    ### END SOLUTION


# %% zero_shot_classifier
def zero_shot_classifier(model, tokenizer, class_names: list[str], templates: list[str]) -> torch.Tensor:
    """(C, D) unit rows: for each class, the normalised mean of its prompts' unit text embeddings."""
    ### BEGIN SOLUTION
    prompts = [template.format(label=name) for name in class_names for template in templates]  # C * K texts
    embeddings = embed_texts(model, tokenizer, prompts)  # (C * K, D), unit rows, class by class
    means = embeddings.view(len(class_names), len(templates), -1).mean(dim=1)  # (C, D)
    return F.normalize(means, dim=1)
    # sample wrong answer: return means  # not normalised again
    ### END SOLUTION


# %% zero_shot_predict
def zero_shot_predict(image_features: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
    """(N,) int64: for each of the (N, D) image features, the index of the most similar of the (C, D) classes."""
    ### BEGIN SOLUTION
    return (image_features @ classifier.T).argmax(dim=1)  # (N, C) -> (N,)
    ### END SOLUTION


def top_k_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """The fraction of the N rows of scores (N, C) whose label (N,) is among their k highest scores."""
    ### BEGIN SOLUTION
    top = scores.topk(k, dim=1).indices  # (N, k)
    return float((top == labels.to(scores.device)[:, None]).any(dim=1).float().mean())
    # sample wrong answer: return float((top[:, 0] == labels.to(scores.device)).float().mean())  # ignores k
    ### END SOLUTION
